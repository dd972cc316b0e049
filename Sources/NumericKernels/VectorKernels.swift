/// Small vectorised kernels over `Float` buffers that BLAS has no single call for.

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
