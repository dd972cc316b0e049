// Small vectorised kernels over `Float` buffers that BLAS has no single call for.

internal import CProjectionKernels

/// The sum of squares of `x`, accumulated in 16 independent lanes (so it vectorises).
///
/// NaN or infinity anywhere makes the result non-finite; values beyond about 1.8e19 in
/// magnitude overflow it to infinity (callers rescale in that rare case).
/// Relative error at most `γ_n`: the sum of non-negative terms is reassociated, not lost.
/// - Complexity: O(n), one pass.
@inlinable
public func sumOfSquares(_ x: UnsafeBufferPointer<Float>) -> Float {
    let n = x.count
    guard let base = x.baseAddress, n > 0 else { return 0 }
    let raw = UnsafeRawPointer(base)
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        let v0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        let v1 = raw.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self)
        a0 += v0 * v0
        a1 += v1 * v1
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < n {
        s += base[i] * base[i]
        i += 1
    }
    return s
}

/// Sign decisions of `count` projections against their thresholds, with a band of doubt: for
/// each `c`, with `distance = Double(projections[c]) - thresholds[c]` and
/// `tolerance = bound * scales[c] + slack[c]` (a product, then a sum, in double),
/// - bit `c` of `signs` is set when `distance > 0`;
/// - bit `c` of `uncertain` is set unless `tolerance < |distance| < ∞` (NaN included): the bits
///   too close to their threshold for the projection's rounding to be ruled out, which the caller
///   decides another way.
///
/// Bit `c` is bit `c % 64` of word `c / 64`; `signs` and `uncertain` hold `(count + 63) / 64`
/// words each. What a random-projection hash decides per row (`bound` is the row's rounding
/// bound per unit of a direction's norm, `scales` the directions' norms). On CPUs with AVX-512
/// eight projections at a time (`CProjectionKernels`), with the same doubles and so the same bits
/// as the portable loop.
public func thresholdBits(_ projections: UnsafePointer<Float>, thresholds: UnsafePointer<Double>, scales: UnsafePointer<Double>,
                          slack: UnsafePointer<Double>, bound: Double, count: Int,
                          signs: UnsafeMutablePointer<UInt64>, uncertain: UnsafeMutablePointer<UInt64>) {
    b4b_threshold_bits(projections, thresholds, scales, slack, bound, count, signs, uncertain)
}

/// ``thresholdBits(_:thresholds:scales:slack:bound:count:signs:uncertain:)`` with the kernel level
/// `level` of `CProjectionKernels` (0 the portable loop, 2 AVX-512), for tests; false, writing
/// nothing, when this CPU cannot run it.
package func thresholdBits(_ projections: UnsafePointer<Float>, thresholds: UnsafePointer<Double>, scales: UnsafePointer<Double>,
                           slack: UnsafePointer<Double>, bound: Double, count: Int,
                           signs: UnsafeMutablePointer<UInt64>, uncertain: UnsafeMutablePointer<UInt64>, level: Int32) -> Bool {
    b4b_threshold_bits_at(level, projections, thresholds, scales, slack, bound, count, signs, uncertain) != 0
}

/// ``thresholdBits(_:thresholds:scales:slack:bound:count:signs:uncertain:)`` for a batch of
/// `rows` rows in one call: row `r`'s `count` projections start at `projections + r * stride`
/// and its bound is `gamma * (Double(sumsOfSquares[r]) * inflation).squareRoot()` (its norm
/// bound times the rounding factor, computed exactly so); its bits go to `signs` and `uncertain`
/// at word `r * (count + 63) / 64`. Stops at the first row whose sum of squares is not finite,
/// writing nothing for it, and returns the number of rows decided (`rows` unless one stopped it).
/// The per-direction data is loaded once per call (on CPUs with AVX-512, `CProjectionKernels`):
/// the same bits as row by row, with a fraction of the per-row cost.
public func thresholdBits(rows: Int, projections: UnsafePointer<Float>, stride: Int, sumsOfSquares: UnsafePointer<Float>,
                          gamma: Double, inflation: Double, thresholds: UnsafePointer<Double>,
                          scales: UnsafePointer<Double>, slack: UnsafePointer<Double>, count: Int,
                          signs: UnsafeMutablePointer<UInt64>, uncertain: UnsafeMutablePointer<UInt64>) -> Int {
    checkRowsShape(rows: rows, count: count, stride: stride)
    return b4b_threshold_bits_rows(projections, stride, rows, sumsOfSquares, gamma, inflation, thresholds, scales, slack,
                            count, signs, uncertain)
}

/// The batch decision's shape: counts not negative, rows at least `count` apart.
@inline(__always)
private func checkRowsShape(rows: Int, count: Int, stride: Int) {
    precondition(rows >= 0 && count >= 0 && stride >= count, "rows \(rows), count \(count), stride \(stride): need rows, count >= 0 and stride >= count")
}

/// ``thresholdBits(rows:projections:stride:sumsOfSquares:gamma:inflation:thresholds:scales:slack:count:signs:uncertain:)``
/// with the kernel level `level` (0 the portable loop, 2 AVX-512), for tests; nil, writing
/// nothing, when this CPU cannot run it.
package func thresholdBits(rows: Int, projections: UnsafePointer<Float>, stride: Int, sumsOfSquares: UnsafePointer<Float>,
                           gamma: Double, inflation: Double, thresholds: UnsafePointer<Double>,
                           scales: UnsafePointer<Double>, slack: UnsafePointer<Double>, count: Int,
                           signs: UnsafeMutablePointer<UInt64>, uncertain: UnsafeMutablePointer<UInt64>, level: Int32) -> Int? {
    checkRowsShape(rows: rows, count: count, stride: stride)
    let decided = b4b_threshold_bits_rows_at(level, projections, stride, rows, sumsOfSquares, gamma, inflation, thresholds,
                                             scales, slack, count, signs, uncertain)
    return decided < 0 ? nil : decided  // size_t comes in as Int: (size_t)-1 is -1
}

/// ``thresholdBits(_:thresholds:scales:slack:bound:count:signs:uncertain:)`` for projections held
/// in double precision (`distance = projections[c] - thresholds[c]`): the decision of a row
/// screened with integers (``ProjectionDirections/screenWithIntegers(_:into:bound:sumOfSquares:)``),
/// whose `bound` is the row's and `scales` ``ProjectionDirections/integerScreeningScales``.
public func thresholdBits(_ projections: UnsafePointer<Double>, thresholds: UnsafePointer<Double>, scales: UnsafePointer<Double>,
                          slack: UnsafePointer<Double>, bound: Double, count: Int,
                          signs: UnsafeMutablePointer<UInt64>, uncertain: UnsafeMutablePointer<UInt64>) {
    b4b_threshold_bits_f64(projections, thresholds, scales, slack, bound, count, signs, uncertain)
}

/// The double-precision form with the kernel level `level` (0 the portable loop, 2 AVX-512), for
/// tests; false, writing nothing, when this CPU cannot run it.
package func thresholdBits(_ projections: UnsafePointer<Double>, thresholds: UnsafePointer<Double>, scales: UnsafePointer<Double>,
                           slack: UnsafePointer<Double>, bound: Double, count: Int,
                           signs: UnsafeMutablePointer<UInt64>, uncertain: UnsafeMutablePointer<UInt64>, level: Int32) -> Bool {
    b4b_threshold_bits_f64_at(level, projections, thresholds, scales, slack, bound, count, signs, uncertain) != 0
}
