import Defense
import NumericKernels
import Testing
import TestSupport

/// ``RandomProjectionLSH/exactSide(_:_:_:threshold:scale:)``, the resolution of a bit too close to call
/// in single precision, against its definition: `exactDot(x, p, d) > threshold`, the products
/// summed left to right in double precision. The eight-lane sum is used only for rows of 16
/// coordinates or more (shorter ones are summed left to right anyway).
@Suite("Exact side of a hyperplane")
struct ExactSideTests {
    /// `exactSide` and the definition for row `x` against direction `p` (binary32 values) at
    /// `threshold`, with `‖x‖ ‖p‖` computed in double as the scale (as the hasher does).
    static func both(_ x: [Float], _ p: [Float], threshold: Double) -> (fast: Bool, definition: Bool) {
        let wide = p.map(Double.init)
        let scale = x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() * wide.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        return x.withUnsafeBufferPointer { row in
            wide.withUnsafeBufferPointer { q in
                (RandomProjectionLSH.exactSide(row, q.baseAddress!, x.count, threshold: threshold, scale: scale),
                 RandomProjectionLSH.exactDot(row, q.baseAddress!, x.count) > threshold)
            }
        }
    }

    static func dot(_ x: [Float], _ p: [Float]) -> Double {
        let wide = p.map(Double.init)
        return x.withUnsafeBufferPointer { row in
            wide.withUnsafeBufferPointer { RandomProjectionLSH.exactDot(row, $0.baseAddress!, x.count) }
        }
    }

    @Test("Agrees with the definition: random rows, thresholds anywhere and at the left-to-right sum and its neighbours",
          arguments: [1, 7, 8, 9, 64, 383, 384, 2048, 2051])
    func agreesWithDefinition(dimension d: Int) {
        let data = gaussianMatrix(rows: 20, columns: d, seed: UInt64(d) &+ 11)
        let directions = gaussianMatrix(rows: 20, columns: d, seed: UInt64(d) &+ 12)
        for i in 0..<20 {
            let (x, p) = (Array(data.row(i)), Array(directions.row(i)))
            let s = Self.dot(x, p)
            for t in [s, s.nextUp, s.nextDown, s + 1e-9 * abs(s), s - 1e-9 * abs(s), 0, s + 1, s - 1, -s] {
                let (fast, definition) = Self.both(x, p, threshold: t)
                #expect(fast == definition, "d=\(d) row \(i): threshold \(t), left-to-right sum \(s)")
            }
        }
    }

    @Test("Where the eight lanes and the left-to-right sum disagree, the definition's side wins")
    func cancellationFollowsDefinition() {
        // Products (exact in double): 2^53 at index 0, -2^53 at index 8, 1 everywhere else in
        // 0..<16. Left to right, the seven ones between the two large terms are lost (2^53 + 1
        // rounds back to 2^53) and the sum is 7; in lanes (i mod 8) the large terms cancel
        // within lane 0 and every one survives: 14, in any order of adding the lanes.
        var x = [Float](repeating: 1, count: 16), p = [Float](repeating: 1, count: 16)
        (x[0], p[0]) = (134_217_728, 67_108_864)          // 2^27 * 2^26 = 2^53
        (x[8], p[8]) = (-134_217_728, 67_108_864)
        let s = Self.dot(x, p)
        #expect(s == 7)
        for t in [6.5, 7, 7.5, 10, 13.5, 14, 14.5, -1, 100] {
            let (fast, definition) = Self.both(x, p, threshold: t)
            #expect(fast == definition, "threshold \(t), left-to-right sum \(s)")
        }
        // The same products scattered over a longer row (lanes still i mod 8).
        var long = [Float](repeating: 1, count: 40), q = [Float](repeating: 1, count: 40)
        (long[3], q[3]) = (134_217_728, 67_108_864)
        (long[35], q[35]) = (-134_217_728, 67_108_864)
        let sLong = Self.dot(long, q)
        for t in [sLong - 0.5, sLong + 0.5, sLong + 10, sLong + 20] {
            let (fast, definition) = Self.both(long, q, threshold: t)
            #expect(fast == definition, "long row: threshold \(t), left-to-right sum \(sLong)")
        }
    }

    @Test("Agrees with the definition for tiny and huge rows, near the threshold and far from it")
    func scales() {
        for scale: Float in [1e-30, 1e-10, 1, 1e10, 1e30] {
            let data = gaussianMatrix(rows: 5, columns: 512, seed: 31, scale: scale)
            let directions = gaussianMatrix(rows: 5, columns: 512, seed: 32)
            for i in 0..<5 {
                let (x, p) = (Array(data.row(i)), Array(directions.row(i)))
                let s = Self.dot(x, p)
                for t in [s * 0.5, s * 1.5, s, s.nextUp, s.nextDown, -s] {
                    let (fast, definition) = Self.both(x, p, threshold: t)
                    #expect(fast == definition, "scale \(scale) row \(i): threshold \(t), sum \(s)")
                }
            }
        }
    }
}
