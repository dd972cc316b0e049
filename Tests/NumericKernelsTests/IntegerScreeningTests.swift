import NumericKernels
import Testing
import TestSupport

/// The integer screening of a lone row (`ProjectionDirections.screenWithIntegers`: 16-bit copies
/// of the row and of the directions, summed exactly with AVX-512 VNNI) against dot products
/// computed here in double precision: every value within its promised bound
/// `bound * integerScreeningScales[c]`, both walks giving the same values bit for bit, rows and
/// directions of every scale, and rows built to push the kernel's 32-bit sums to their limit.
/// On a CPU without AVX-512 VNNI the suite is skipped, visibly, with the reason.
@Suite("Integer screening", .enabled(if: ProjectionDirections.integerScreeningRuns,
                                     "this CPU lacks AVX-512 F, BW, DQ or VNNI: integer screening is untested here"))
struct IntegerScreeningTests {
    /// Dimensions around the kernel's block (32 coordinates) and the representation sizes.
    static let dimensions = [1, 7, 31, 32, 33, 63, 64, 65, 300, 384, 1536, 2047, 2048, 2051]
    /// Direction counts around the kernel's group (12).
    static let directionCounts = [1, 5, 11, 12, 13, 24, 25]

    /// One screening of `row` (see ``ProjectionDirections/screenWithIntegers(_:into:bound:sumOfSquares:descending:scaleHint:)``).
    static func screenOnce(_ row: [Float], _ directions: ProjectionDirections, descending: Bool = false,
                           hint: Float = 0) -> (values: [Double], bound: Double, squares: Float) {
        var values = [Double](repeating: .nan, count: directions.count)
        var (bound, squares): (Double, Float) = (.nan, .nan)
        let ran = row.withUnsafeBufferPointer { r in
            values.withUnsafeMutableBufferPointer {
                directions.screenWithIntegers(r, into: $0, bound: &bound, sumOfSquares: &squares, descending: descending, scaleHint: hint)
            }
        }
        #expect(ran)
        return (values, bound, squares)
    }

    /// Screens `row` against `directions` without a scale hint, walking both ways; checks that
    /// the walks agree bit for bit (exact sums at the same scale), and that hints the row cannot
    /// take (too large, or under half its largest scale) are refused: the row's own scale (up to
    /// the last bits of its sum of squares, which the hinted pass adds in its own order).
    /// Returns the values, the bound and the sum of squares.
    static func screen(_ row: [Float], _ directions: ProjectionDirections) -> (values: [Double], bound: Double, squares: Float) {
        let first = screenOnce(row, directions)
        let other = screenOnce(row, directions, descending: true)
        #expect(other.values.map(\.bitPattern) == first.values.map(\.bitPattern), "the two walks differ")
        #expect(other.bound == first.bound && other.squares.bitPattern == first.squares.bitPattern)
        if first.bound.isFinite {
            let scale = Float(1 / first.bound)
            for (hint, descending) in [(scale * 2.5, false), (scale * 0.3, true)] {
                let refused = screenOnce(row, directions, descending: descending, hint: hint)
                #expect(abs(refused.bound - first.bound) <= 1e-6 * first.bound, "hint \(hint): bound \(refused.bound) vs \(first.bound)")
            }
        }
        return first
    }

    /// The values at a scale hint the row takes (0.6 of its largest): the bound follows the
    /// scale, and every value is within it.
    static func checkHint(_ row: [Float], _ p: Matrix, _ directions: ProjectionDirections, _ label: String) {
        let plain = screenOnce(row, directions)
        guard plain.bound.isFinite else { return }
        let hint = Float(1 / plain.bound) * 0.6
        for descending in [false, true] {
            let hinted = screenOnce(row, directions, descending: descending, hint: hint)
            #expect(hinted.bound == 1 / Double(hint) * (1 + 0x1p-50), "\(label): the hint stands")
            #expect(hinted.squares.isFinite)
            for c in 0..<directions.count {
                let (exact, _) = ProjectionKernelTests.exactDot(row, p, direction: c)
                #expect(abs(hinted.values[c] - exact) <= hinted.bound * directions.integerScreeningScales[c],
                        "\(label) with a hint: [\(c)] = \(hinted.values[c]), exact \(exact)")
            }
        }
    }

    /// Checks every row of `x` against `p` (directions as rows): each screened value within
    /// `bound * integerScreeningScales[c]` of the exact dot product, the sum of squares within
    /// `γ_d` of the exact one. Returns the largest error seen as a fraction of its bound.
    @discardableResult
    static func check(_ x: Matrix, _ p: Matrix, _ label: String) -> Double {
        let (d, m) = (x.columns, p.rows)
        let directions = ProjectionDirections(p)
        #expect(directions.canScreenWithIntegers, "\(label)")
        #expect(directions.integerScreeningScales.count == m)
        var worst = 0.0
        for i in 0..<x.rows {
            let row = Array(x.row(i))
            let (values, bound, squares) = screen(row, directions)
            checkHint(row, p, directions, "\(label) row \(i)")
            let exactSquares = row.reduce(0.0) { $0 + Double($1) * Double($1) }
            #expect(abs(Double(squares) - exactSquares) <= ProjectionKernelTests.gamma(d) * exactSquares + Double(d) * 0x1p-149,
                    "\(label): row \(i) sum of squares \(squares) vs \(exactSquares)")
            #expect(bound.isFinite && bound > 0, "\(label): row \(i) bound \(bound)")
            for c in 0..<m {
                let (exact, _) = ProjectionKernelTests.exactDot(row, p, direction: c)
                let allowed = bound * directions.integerScreeningScales[c]
                if allowed > 0 { worst = max(worst, abs(values[c] - exact) / allowed) }
                #expect(abs(values[c] - exact) <= allowed, "\(label): [\(i), \(c)] = \(values[c]), exact \(exact), bound \(allowed)")
            }
        }
        return worst
    }

    @Test("Every screened value within its bound, both walks alike, all shapes")
    func allShapes() {
        var worst = 0.0
        for d in Self.dimensions {
            for m in Self.directionCounts {
                let seed = UInt64(d * 100 + m)
                let x = gaussianMatrix(rows: 3, columns: d, seed: seed, scale: 0.5)
                worst = max(worst, Self.check(x, gaussianMatrix(rows: m, columns: d, seed: seed + 1), "d=\(d) m=\(m)"))
            }
        }
        // The bound is worst-case; the errors use a visible part of it, or the test would not
        // notice a bound computed too loose by a large factor.
        #expect(worst > 0.02, "largest error \(worst) of its bound")
    }

    @Test("Rows and directions of every scale: tiny, huge, one dominant coordinate, zero, subnormal")
    func scales() {
        let d = 300
        var x = gaussianMatrix(rows: 7, columns: d, seed: 51)
        for k in 0..<d {
            x[0, k] *= 1e-30                                  // tiny: the row's scale reaches its cap
            x[1, k] *= 1e18                                   // huge, squares still within float range
            x[2, k] *= k == 17 ? 1e4 : 1                      // one coordinate sets the scale (|X_k| <= 32767)
            x[3, k] = 0                                       // a zero row
            x[4, k] = k % 7 == 0 ? Float.leastNonzeroMagnitude * Float(k + 1) : 0   // subnormal values only
            x[5, k] *= k % 2 == 0 ? 1e-6 : 1                  // mixed magnitudes
        }
        var p = gaussianMatrix(rows: 6, columns: d, seed: 52)
        for k in 0..<d {
            p[0, k] *= 1e-30
            p[1, k] *= 1e30
            p[2, k] *= k % 2 == 0 ? 1e-6 : 1
            p[3, k] = 0                                       // a zero direction
            p[4, k] = k % 2 == 0 ? 1 : -1                     // exactly representable: no rounding of the direction
        }
        Self.check(x, p, "scales")
        let directions = ProjectionDirections(p)
        #expect(directions.integerScreeningScales[3] == 0)
        // A zero row: every value 0, so every bit against a threshold of 0 stays in doubt (the
        // hasher recomputes it), and nothing overflows.
        let (values, _, squares) = Self.screen(Array(x.row(3)), directions)
        #expect(values.allSatisfy { $0 == 0 } && squares == 0)
    }

    @Test("Each term of the bound is needed: rows and directions that nearly reach it")
    func boundIsNearlyReached() {
        let d = 32
        // The row's rounding (the ‖p‖₁ term): coordinate 0 is the row's largest and sets its scale
        // s (s |x_0| just under 32767); coordinate 1 is placed at 0.49 past an integer once
        // scaled, so it rounds down by nearly half a unit, with the sign of the direction there.
        var p = Matrix(rows: 1, columns: d)
        p[0, 0] = 1
        p[0, 1] = 16000                                      // integers: the direction is held exactly
        let exactDirection = ProjectionDirections(p)
        var row = [Float](repeating: 0, count: d)
        row[0] = 0.75
        let scale = Float(1 / Self.screen(row, exactDirection).bound)
        row[1] = Float((10_000.49) / Double(scale))
        var (values, bound, _) = Self.screen(row, exactDirection)
        #expect(Float(1 / bound) == scale, "the scale is set by coordinate 0 alone")
        var exact = Double(row[0]) + 16000 * Double(row[1])
        var allowed = bound * exactDirection.integerScreeningScales[0]
        #expect(abs(values[0] - exact) <= allowed)
        #expect(abs(values[0] - exact) > 0.95 * allowed, "row rounding: \(abs(values[0] - exact) / allowed) of the bound")

        // The direction's rounding (the ‖p - 2^-e P‖ term): entries 0.49 past an integer (exact
        // in float), too large to scale up (their lane's norm would pass 32766), so each rounds
        // down by 0.49; the row along that rounding (equal coordinates) meets Cauchy-Schwarz.
        p[0, 0] = 16000.49
        p[0, 1] = 16000.49
        let roundedDirection = ProjectionDirections(p)
        row = [Float](repeating: 0, count: d)
        row[0] = 1
        row[1] = 1
        (values, bound, _) = Self.screen(row, roundedDirection)
        exact = 2 * Double(p[0, 0])
        allowed = bound * roundedDirection.integerScreeningScales[0]
        let share = 0.5 * exact * bound                     // what the ‖p‖₁ term alone allows (‖p‖₁ = exact)
        #expect(abs(values[0] - exact) <= allowed)
        #expect(abs(values[0] - exact) > share, "the ‖p‖₁ term alone would not cover this error")
    }

    @Test("Rows that push a 32-bit lane's sum to the limit stay exact (no wrap-around)")
    func lanesAtTheLimit() {
        // Coordinates 0 and 1 of every block of 32 meet 32-bit lane 0 of the kernel (header:
        // value 8 l + 4 h + e holds coordinate 16 h + 4 l + e; lane 0 sums values 0 and 1).
        // A direction heavy on those coordinates makes lane 0 its widest, scaled to the lane
        // limit; a row equal to the direction there (and 0 elsewhere) then meets equality in
        // Cauchy-Schwarz: lane 0's sum is ‖X‖ ‖P_lane‖, just under 2^31.
        for d in [64, 384, 2048, 2051] {
            var p = gaussianMatrix(rows: 3, columns: d, seed: UInt64(d))
            var x = Matrix(rows: 4, columns: d)
            for k in 0..<d where k % 32 < 2 {
                p[0, k] *= 50
                p[1, k] = 30 * (p[1, k] >= 0 ? 1 : -1)
                p[2, k] = -p[0, k]
                for c in 0..<3 { x[c, k] = p[c, k] }
                x[3, k] = -p[0, k] * 1e-3                     // opposite sign, another scale
            }
            let worst = Self.check(x, p, "d=\(d)")
            #expect(worst < 1, "d=\(d)")
            // The row against its own direction: the value is its squared norm (within the bound).
            let directions = ProjectionDirections(p)
            let (values, bound, _) = Self.screen(Array(x.row(0)), directions)
            let exact = (0..<d).reduce(0.0) { $0 + Double(x[0, $1]) * Double(x[0, $1]) }
            #expect(abs(values[0] - exact) <= bound * directions.integerScreeningScales[0])
            #expect(values[0] > 0.99 * exact, "d=\(d): \(values[0]) vs \(exact)")
        }
    }

    @Test("A NaN or infinity: the sum of squares is not finite, the bound infinite, the values untouched; bad directions turn it off")
    func nonFinite() {
        let d = 300
        let directions = ProjectionDirections(gaussianMatrix(rows: 12, columns: d, seed: 5))
        for (column, value) in [(0, Float.nan), (299, Float.infinity), (137, -Float.infinity)] {
            var row = Array(gaussianMatrix(rows: 1, columns: d, seed: 6).row(0))
            row[column] = value
            var out = [Double](repeating: 7, count: 12)
            var (bound, squares): (Double, Float) = (0, 0)
            let ran = row.withUnsafeBufferPointer { r in
                out.withUnsafeMutableBufferPointer { directions.screenWithIntegers(r, into: $0, bound: &bound, sumOfSquares: &squares) }
            }
            #expect(ran && !squares.isFinite && bound == .infinity, "value \(value) at \(column)")
            #expect(out == [Double](repeating: 7, count: 12))
        }
        // Finite values whose squares overflow the float sum: also not finite (the hasher then
        // takes the projection path, which rescales).
        var huge = Array(gaussianMatrix(rows: 1, columns: d, seed: 7).row(0))
        huge[3] = 1e30
        var out = [Double](repeating: 7, count: 12)
        var (bound, squares): (Double, Float) = (0, 0)
        _ = huge.withUnsafeBufferPointer { r in
            out.withUnsafeMutableBufferPointer { directions.screenWithIntegers(r, into: $0, bound: &bound, sumOfSquares: &squares) }
        }
        #expect(!squares.isFinite && bound == .infinity)

        var broken = gaussianMatrix(rows: 12, columns: d, seed: 5)
        broken[3, 10] = .infinity
        #expect(!ProjectionDirections(broken).canScreenWithIntegers)
        #expect(ProjectionDirections(broken).integerScreeningScales.isEmpty)
        #expect(!ProjectionDirections(Matrix(rows: 0, columns: 16)).canScreenWithIntegers)
        #expect(!ProjectionDirections(Matrix(rows: 3, columns: 0)).canScreenWithIntegers)
    }

    @Test("The public call starts from the previous row's scale on this thread: one pass for rows of the same norm")
    func threadHint() {
        let d = 2048
        let p = gaussianMatrix(rows: 12, columns: d, seed: 71)
        let directions = ProjectionDirections(p)
        let rows = gaussianMatrix(rows: 3, columns: d, seed: 72)
        let unit = (0..<3).map { i -> [Float] in
            let row = Array(rows.row(i))
            let norm = row.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            return row.map { $0 / norm }
        }
        func publicCall(_ row: [Float]) -> (values: [Double], bound: Double) {
            var values = [Double](repeating: .nan, count: 12)
            var (bound, squares): (Double, Float) = (.nan, .nan)
            _ = row.withUnsafeBufferPointer { r in
                values.withUnsafeMutableBufferPointer { directions.screenWithIntegers(r, into: $0, bound: &bound, sumOfSquares: &squares) }
            }
            return (values, bound)
        }
        _ = publicCall(unit[0])
        // Row 1 has row 0's norm: it takes row 0's scale lowered by 3 % (a bound 3 % looser than
        // its own), and its values are within that bound.
        let own = Self.screenOnce(unit[1], directions).bound
        let (values, bound) = publicCall(unit[1])
        #expect(bound > own * 1.02 && bound < own * 1.04, "bound \(bound) against \(own) at the row's own scale")
        for c in 0..<12 {
            let exact = ProjectionKernelTests.exactDot(unit[1], p, direction: c).value
            #expect(abs(values[c] - exact) <= bound * directions.integerScreeningScales[c])
        }
        // A row ten times larger cannot take it: its own scale, as without a hint, up to the last
        // bits of its sum of squares (the hinted pass adds them in the order of its walk, which
        // alternates from call to call, and walking backwards the sum can end in another last
        // bit), and every value within the bound.
        let large = unit[2].map { $0 * 10 }
        let (largeValues, largeBound) = publicCall(large)
        let alone = Self.screenOnce(large, directions)
        #expect(abs(largeBound - alone.bound) <= 1e-6 * alone.bound, "bound \(largeBound) against \(alone.bound) without a hint")
        for c in 0..<12 {
            let exact = ProjectionKernelTests.exactDot(large, p, direction: c).value
            #expect(abs(largeValues[c] - exact) <= largeBound * directions.integerScreeningScales[c])
        }
        // At the same scale the values are those of the row's own pass, bit for bit (exact sums).
        if largeBound == alone.bound { #expect(largeValues.map(\.bitPattern) == alone.values.map(\.bitPattern)) }
    }

    @Test("Lone rows are screened with integers only where the float normals outgrow L1 (over 48 KiB), never for sign normals")
    func whenItPays() {
        #expect(ProjectionDirections(gaussianMatrix(rows: 12, columns: 2048, seed: 1)).screensWithIntegersFaster)
        #expect(ProjectionDirections(gaussianMatrix(rows: 12, columns: 1536, seed: 1)).screensWithIntegersFaster)
        #expect(!ProjectionDirections(gaussianMatrix(rows: 12, columns: 1024, seed: 1)).screensWithIntegersFaster)
        #expect(!ProjectionDirections(gaussianMatrix(rows: 12, columns: 384, seed: 1)).screensWithIntegersFaster)
    }

    @Test("The bound is tight enough to decide most bits: at d = 2048 about 3e-4 ‖x‖ ‖p‖ for Gaussian directions")
    func boundSize() {
        let d = 2048
        let p = gaussianMatrix(rows: 12, columns: d, seed: 61)
        let directions = ProjectionDirections(p)
        let row = Array(gaussianMatrix(rows: 1, columns: d, seed: 62).row(0))
        let (_, bound, _) = Self.screen(row, directions)
        let rowNorm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        for c in 0..<12 {
            let norm = (0..<d).reduce(0.0) { $0 + Double(p[c, $1]) * Double(p[c, $1]) }.squareRoot()
            let relative = bound * directions.integerScreeningScales[c] / (rowNorm * norm)
            #expect(relative > 1e-4 && relative < 1e-3, "direction \(c): \(relative)")
        }
    }
}
