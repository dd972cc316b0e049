import NumericKernels
import Testing
import TestSupport

/// `thresholdBits` (the sign decisions of a row's projections and their band of doubt) against
/// its definition computed here value by value, on each form this CPU runs (the portable loop,
/// and the AVX-512 one where the CPU has it), bit for bit.
@Suite("Threshold bits")
struct ThresholdBitsTests {
    static let hasWide = ProjectionPath.wideKernel.isAvailable

    /// Projections, thresholds, scales and slack for `m` hyperplanes that exercise every case:
    /// clear signs, distances of exactly 0, distances just inside and just outside the tolerance,
    /// NaN, infinities of both signs and a threshold of infinity.
    static func inputs(_ m: Int, seed: UInt64) -> (p: [Float], thresholds: [Double], scales: [Double], slack: [Double], bound: Double) {
        let values = gaussianMatrix(rows: 4, columns: m, seed: seed)
        let bound = 1e-3
        var p = (0..<m).map { values[0, $0] }
        var thresholds = (0..<m).map { Double(values[1, $0]) * 0.5 }
        let scales = (0..<m).map { 1 + abs(Double(values[2, $0])) }
        let slack = (0..<m).map { 1e-7 * (1 + abs(Double(values[3, $0]))) }
        for c in 0..<m {
            let tolerance = bound * scales[c] + slack[c]
            switch c % 9 {
            case 1: thresholds[c] = Double(p[c])                                     // distance 0
            case 2: thresholds[c] = Double(p[c]) - tolerance * 0.999                   // inside the band, above
            case 3: thresholds[c] = Double(p[c]) + tolerance * 1.001                   // just outside, below
            case 4: p[c] = .nan
            case 5: p[c] = c % 2 == 0 ? .infinity : -.infinity
            case 6: thresholds[c] = .infinity
            default: break
            }
        }
        return (p, thresholds, scales, slack, bound)
    }

    /// The definition, one value at a time.
    static func reference(_ p: [Double], _ thresholds: [Double], _ scales: [Double], _ slack: [Double],
                          bound: Double) -> (signs: [UInt64], uncertain: [UInt64]) {
        var signs = [UInt64](repeating: 0, count: (p.count + 63) / 64)
        var uncertain = signs
        for c in p.indices {
            let distance = p[c] - thresholds[c]
            let tolerance = bound * scales[c] + slack[c]
            if distance > 0 { signs[c / 64] |= 1 << UInt64(c % 64) }
            if !(abs(distance) > tolerance && abs(distance) < .infinity) { uncertain[c / 64] |= 1 << UInt64(c % 64) }
        }
        return (signs, uncertain)
    }

    /// Runs `decide` (one form of `thresholdBits` over `m` projections: at a kernel level, or the
    /// public call for `nil`) on the portable loop, the AVX-512 one and the public call, each from
    /// set bits (every word must be written, bits past `m` cleared), and checks the bits against
    /// `expected`; AVX-512 where it cannot run must say so and write nothing.
    static func checkForms(count m: Int, expected: (signs: [UInt64], uncertain: [UInt64]),
                           _ decide: (Int32?, UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>) -> Bool) {
        let words = (m + 63) / 64
        for level: Int32? in [nil, 0, 2] {
            var signs = [UInt64](repeating: .max, count: words)
            var uncertain = [UInt64](repeating: .max, count: words)
            let ran = signs.withUnsafeMutableBufferPointer { s in
                uncertain.withUnsafeMutableBufferPointer { u in decide(level, s.baseAddress!, u.baseAddress!) }
            }
            if level == 2 && !hasWide {
                #expect(!ran && signs.allSatisfy { $0 == .max }, "AVX-512 is reported unavailable and writes nothing")
                continue
            }
            #expect(ran)
            #expect(signs == expected.signs, "level \(level.map(String.init) ?? "public"), m = \(m)")
            #expect(uncertain == expected.uncertain, "level \(level.map(String.init) ?? "public"), m = \(m)")
        }
    }

    @Test("Signs and doubts as defined, bit for bit, on the portable loop, the AVX-512 one where it runs, and the public call",
          arguments: [1, 7, 8, 9, 12, 24, 63, 64, 65, 130, 1536])
    func matchesDefinition(count m: Int) {
        let (p, thresholds, scales, slack, bound) = Self.inputs(m, seed: UInt64(m) &+ 11)
        let expected = Self.reference(p.map(Double.init), thresholds, scales, slack, bound: bound)
        // Every case occurs (for m large enough to hold them).
        if m >= 64 {
            #expect(expected.signs.contains { $0 != 0 } && expected.uncertain.contains { $0 != 0 })
        }
        Self.checkForms(count: m, expected: expected) { level, signs, uncertain in
            if let level {
                return thresholdBits(p, thresholds: thresholds, scales: scales, slack: slack, bound: bound, count: m,
                                     signs: signs, uncertain: uncertain, level: level)
            }
            thresholdBits(p, thresholds: thresholds, scales: scales, slack: slack, bound: bound, count: m,
                          signs: signs, uncertain: uncertain)
            return true
        }
    }

    @Test("The double-precision form: signs and doubts as defined, bit for bit, without rounding the projections to float",
          arguments: [1, 8, 12, 65, 1536])
    func doublesMatchDefinition(count m: Int) {
        let (p, thresholds, scales, slack, bound) = Self.inputs(m, seed: UInt64(m) &+ 23)
        // Projections a float cannot hold: the distance-0 and just-inside cases are then decided
        // on values that rounding to float would move (by up to 3e-8 relative, against bands of 1e-3).
        var projections = p.map(Double.init)
        var shifted = thresholds
        for c in 0..<m where projections[c].isFinite {
            projections[c] += 1e-12 * Double(c % 5 + 1)
            if c % 9 == 1 { shifted[c] = projections[c] }                                   // distance exactly 0
            if c % 9 == 7 { shifted[c] = projections[c] - Double(Float.ulpOfOne) * abs(projections[c]) * 0.1 - 1e-15 }
        }
        let expected = Self.reference(projections, shifted, scales, slack, bound: bound)
        Self.checkForms(count: m, expected: expected) { level, signs, uncertain in
            if let level {
                return thresholdBits(projections, thresholds: shifted, scales: scales, slack: slack, bound: bound, count: m,
                                     signs: signs, uncertain: uncertain, level: level)
            }
            thresholdBits(projections, thresholds: shifted, scales: scales, slack: slack, bound: bound, count: m,
                          signs: signs, uncertain: uncertain)
            return true
        }
        // Case 7 (a threshold a tenth of a float ulp below the projection) is a clear, positive
        // sign here; through a float it would be a distance of 0.
        if m >= 8 { #expect(expected.signs[0] & (1 << 7) != 0) }
    }

    @Test("A batch in one call: each row's bits as the definition gives them with that row's own bound, up to the first row whose squares are not finite",
          arguments: [1, 7, 8, 9, 12, 16, 17, 24, 65])
    func rowsMatchDefinition(count m: Int) {
        let rows = 13, stride = m + 3, words = (m + 63) / 64
        let (_, thresholds, scales, slack, _) = Self.inputs(m, seed: UInt64(m) &+ 37)
        let (gamma, inflation) = (1.6e-5, 1 + 2 * 2048 * Double(Float.ulpOfOne))
        let values = gaussianMatrix(rows: rows, columns: m, seed: UInt64(m) &+ 41)
        var squares = (0..<rows).map { Float(1 + $0 * $0) * 0.37 }
        squares[3] = 0
        var bounds = squares.map { gamma * (Double($0) * inflation).squareRoot() }
        // Projections at chosen distances from their thresholds in units of the row's own
        // tolerance (just inside, just outside, on it), NaN and infinities; the padding between
        // rows is NaN, so a read past a row's m values would show.
        var projections = [Float](repeating: .nan, count: rows * stride)
        for r in 0..<rows {
            for c in 0..<m {
                let tolerance = bounds[r] * scales[c] + slack[c]
                let threshold = thresholds[c].isFinite ? thresholds[c] : 0
                let value: Float
                switch (r + c) % 8 {
                case 1: value = Float(threshold + 0.98 * tolerance)
                case 2: value = Float(threshold - 1.02 * tolerance)
                case 3: value = Float(threshold)
                case 4: value = r % 2 == 0 ? .nan : .infinity
                default: value = values[r, c]
                }
                projections[r * stride + c] = value
            }
        }
        func expected(upTo decided: Int) -> (signs: [UInt64], uncertain: [UInt64]) {
            var signs = [UInt64](repeating: .max, count: rows * words), uncertain = signs
            for r in 0..<decided {
                let row = (0..<m).map { Double(projections[r * stride + $0]) }
                let bits = Self.reference(row, thresholds, scales, slack, bound: bounds[r])
                for w in 0..<words { (signs[r * words + w], uncertain[r * words + w]) = (bits.signs[w], bits.uncertain[w]) }
            }
            return (signs, uncertain)
        }
        // `stop`: a row whose sum of squares is not finite (nil: none).
        for (stop, bad) in [(nil, Float.nan), (6, Float.nan), (0, Float.infinity), (12, -Float.infinity)] as [(Int?, Float)] {
            var squaresHere = squares
            if let stop { squaresHere[stop] = bad }
            bounds = squaresHere.map { gamma * (Double($0) * inflation).squareRoot() }
            let want = expected(upTo: stop ?? rows)
            for level: Int32? in [nil, 0, 2] {
                var signs = [UInt64](repeating: .max, count: rows * words), uncertain = signs
                let decided: Int? = signs.withUnsafeMutableBufferPointer { s in
                    uncertain.withUnsafeMutableBufferPointer { u in
                        if let level {
                            return thresholdBits(rows: rows, projections: projections, stride: stride, sumsOfSquares: squaresHere,
                                                 gamma: gamma, inflation: inflation, thresholds: thresholds, scales: scales,
                                                 slack: slack, count: m, signs: s.baseAddress!, uncertain: u.baseAddress!, level: level)
                        }
                        return thresholdBits(rows: rows, projections: projections, stride: stride, sumsOfSquares: squaresHere,
                                             gamma: gamma, inflation: inflation, thresholds: thresholds, scales: scales,
                                             slack: slack, count: m, signs: s.baseAddress!, uncertain: u.baseAddress!)
                    }
                }
                let label = "m = \(m), level \(level.map(String.init) ?? "public"), stop \(stop.map(String.init) ?? "none")"
                if level == 2 && !Self.hasWide {
                    #expect(decided == nil && signs.allSatisfy { $0 == .max }, "\(label): unavailable, nothing written")
                    continue
                }
                #expect(decided == (stop ?? rows), "\(label)")
                #expect(signs == want.signs, "\(label)")
                #expect(uncertain == want.uncertain, "\(label)")
            }
        }
        // The chosen distances give both verdicts at the band's edge.
        let all = expected(upTo: rows)
        #expect(all.uncertain.contains { $0 != 0 } && all.signs.contains { $0 != 0 })
    }
}
