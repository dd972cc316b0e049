// Vector approximations used by the Gaussian fills of `RandomGenerator`.
//
// Everything here uses only IEEE-754 add, subtract, multiply, divide, exact integer<->float
// conversions and bit operations, in a fixed order (Swift never contracts to FMA on its own),
// so the results are bit-identical on every platform. No `squareRoot()` on SIMD vectors: in
// a plain `swift build -c release` for x86_64 (baseline SSE2) it is lowered to one scalar call
// per lane; the bit-trick reciprocal square root below stays in vector registers.
//
// Accuracy (measured against Double over the input ranges used):
//   _negTwoLogOfUnit   relative error < 2e-7
//   _squareRootApprox  relative error < 6e-7
//   _unitCircle        absolute error < 2e-7 per component
// so a Gaussian sample is within about 1e-6 (relative) of exact Box-Muller on the same bits.

/// Float lanes used by the vector kernels (8 x Float32 = two SSE registers, one AVX register).
@usableFromInline internal typealias _FloatLanes = SIMD8<Float>
/// Unsigned 32-bit lanes matching `_FloatLanes`.
@usableFromInline internal typealias _WordLanes = SIMD8<UInt32>
/// Signed 32-bit lanes matching `_FloatLanes`.
@usableFromInline internal typealias _IntLanes = SIMD8<Int32>

@inlinable @inline(__always)
internal func _bits(_ x: _FloatLanes) -> _WordLanes { unsafeBitCast(x, to: _WordLanes.self) }

@inlinable @inline(__always)
internal func _float(_ x: _WordLanes) -> _FloatLanes { unsafeBitCast(x, to: _FloatLanes.self) }

@inlinable @inline(__always)
internal func _signed(_ x: _WordLanes) -> _IntLanes { unsafeBitCast(x, to: _IntLanes.self) }

@inlinable @inline(__always)
internal func _unsigned(_ x: _IntLanes) -> _WordLanes { unsafeBitCast(x, to: _WordLanes.self) }

/// -2 ln(u) for u = k / 2^24, k = (bits >> 8) | 1: an odd 24-bit integer, so u is a uniform on
/// (0, 1) with 23 random bits (u = (j + 1/2) / 2^23), exactly representable and never 0 or 1.
/// Result in [1.19e-7, 33.27].
///
/// u = 2^-n * m with m in [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh(s), s = (m - 1) / (m + 1),
/// |s| < 0.1716, with a minimax polynomial in s^2 (relative error 1.4e-7). Written for a short
/// dependency chain (the Gaussian fill is latency-bound, not throughput-bound).
@inlinable @inline(__always)
internal func _negTwoLogOfUnit(_ bits: _WordLanes) -> _FloatLanes {
    let k = _FloatLanes(_signed((bits &>> 8) | 1))  // exact
    // Shift the mantissa range to [sqrt(1/2), sqrt(2)) while reading off the exponent.
    let shifted = _bits(k) &+ (0x3F80_0000 &- 0x3F35_04F3)
    let n = 151 &- _signed(shifted &>> 23)  // u = 2^-n * m, n in [0, 24]
    let m = _float((shifted & 0x007F_FFFF) &+ 0x3F35_04F3)
    let s = (m - 1) / (m + 1)  // m - 1 is exact
    let s2 = s * s
    // -2 ln(u) = 2 n ln 2 - 4 atanh(s) = (2 n ln 2 - 4 s) + s^3 * (c1 + c2 * s^2)
    let c1: Float = -1.3331186319397241
    let c2: Float = -0.8238779889244054
    let twoLn2: Float = 1.3862943611198906
    let linear = _FloatLanes(n) * twoLn2 - s * 4
    return linear + (s * s2) * (s2 * c2 + c1)
}

/// 1 / sqrt(x) for x in [1e-30, 1e30] via the bit-trick estimate and two Newton steps with tuned
/// constants (relative error < 9e-7). Each step is y * a - (x/2 * y) * (y * y): one more multiply
/// than y * (a - x/2 * y * y) but a shorter dependency chain.
@inlinable @inline(__always)
internal func _reciprocalSquareRootApprox(_ x: _FloatLanes) -> _FloatLanes {
    var y = _float(0x5F37_6700 &- (_bits(x) &>> 1))
    let halfX = x * 0.5
    y = y * 1.5008000135421753 - (halfX * y) * (y * y)
    y = y * 1.5000007152557373 - (halfX * y) * (y * y)
    return y
}

/// A point (cos t, sin t) on the unit circle with t uniform, from 25 random bits per lane:
/// bits 7...30 give x uniform in [-pi/2, pi/2), bit 31 the sign of the cosine, i.e. t = x or
/// pi - x. Minimax polynomials on [-pi/2, pi/2]: sin error 1e-9, cos error 4e-8 (absolute).
@inlinable @inline(__always)
internal func _unitCircle(_ bits: _WordLanes) -> (_FloatLanes, _FloatLanes) {
    let r = _signed(bits &<< 1) &>> 8  // signed 24-bit integer in [-2^23, 2^23)
    let x = _FloatLanes(r) * (Float.pi / 2 / 8_388_608)
    let x2 = x * x
    var sp = x2 * 2.638390859552901e-06 - 0.0001982358873330834
    sp = sp * x2 + 0.008333248783009641
    sp = sp * x2 - 0.16666666565580915
    let sine = (x * x2) * sp + x
    var cp = x2 * 2.3182898587765113e-05 - 0.0013855149144096925
    cp = cp * x2 + 0.04166382166793281
    cp = cp * x2 - 0.4999992159077969
    let cosine = cp * x2 + 1
    return (_float(_bits(cosine) ^ (bits & 0x8000_0000)), sine)
}

/// Number of Gaussian samples produced per `_gaussianBlock` call (two `_FloatLanes`).
@usableFromInline internal let _gaussianBlockCount = 2 * _FloatLanes.scalarCount

/// 32 standard normal samples (Box-Muller on 16 pairs), each multiplied by `scale`, from two
/// generator outputs: the sixteen 32-bit words of `radiusWords` give the radii, those of
/// `angleWords` the angles; pair k gives samples k (cosine) and 16 + k (sine).
@inlinable @inline(__always)
internal func _gaussianBlock(
    words: SIMD8<UInt64>, scale: Float
) -> (_FloatLanes, _FloatLanes) {
    let w = unsafeBitCast(words, to: SIMD16<UInt32>.self)
    let radiusWords = w.lowHalf
    let angleWords = w.highHalf
    // z = sqrt(L) * (c, s) * scale with sqrt(L) = L / sqrt(L): multiply by 1/sqrt(L) last, so
    // only one multiply follows the long log + Newton chain.
    let l = _negTwoLogOfUnit(radiusWords)
    let y = _reciprocalSquareRootApprox(l)
    let (c, s) = _unitCircle(angleWords)
    let scaledL = l * scale
    return ((scaledL * c) * y, (scaledL * s) * y)
}

/// Sixteen uniforms in [0, 1), 24 random bits each (the top 24 bits of each 32-bit word).
@inlinable @inline(__always)
internal func _uniformBlock(_ output: SIMD8<UInt64>) -> SIMD16<Float> {
    let words = unsafeBitCast(output, to: SIMD16<UInt32>.self)
    return SIMD16<Float>(unsafeBitCast(words &>> 8, to: SIMD16<Int32>.self)) * (1 / 16_777_216)
}

// MARK: - Double precision (scalar, for the non-hot Double fill)

/// -2 ln(u) for u = ((word >> 12) + 1/2) / 2^52, a uniform in (0, 1) from the top 52 bits.
/// Result in (0, 73.5]; relative error around 1e-15. Same reduction as the Float version, with
/// the atanh series carried to s^21 (truncation below 1e-18 for |s| < 0.1716).
internal func _negTwoLogOfUnit(_ word: UInt64) -> Double {
    let scaled = Double(word &>> 12) + 0.5  // exact: fewer than 53 significant bits
    let shifted = scaled.bitPattern &+ (0x3FF0_0000_0000_0000 &- 0x3FE6_A09E_667F_3BCD)
    let n = 1075 - Int(truncatingIfNeeded: shifted &>> 52)  // -e, in [1, 53]
    let f = Double(bitPattern: (shifted & 0x000F_FFFF_FFFF_FFFF) &+ 0x3FE6_A09E_667F_3BCD) - 1
    let s = f / (f + 2)
    let s2 = s * s
    var p = 1.0 / 21
    p = p * s2 + 1.0 / 19
    p = p * s2 + 1.0 / 17
    p = p * s2 + 1.0 / 15
    p = p * s2 + 1.0 / 13
    p = p * s2 + 1.0 / 11
    p = p * s2 + 1.0 / 9
    p = p * s2 + 1.0 / 7
    p = p * s2 + 1.0 / 5
    p = p * s2 + 1.0 / 3
    let negTwoLogM = -4 * s * (p * s2 + 1)
    return Double(n) * 1.3862943611198906 + negTwoLogM
}

/// sqrt(x) for x >= 0 without libm (a plain `squareRoot()` may become a libm call on Linux):
/// bit-trick reciprocal square root, four Newton steps, then one Newton step on the root.
/// Relative error around 1e-16; exactly 0 for x = 0.
internal func _squareRoot(_ x: Double) -> Double {
    var y = Double(bitPattern: 0x5FE6_EB50_C7B5_37A9 &- (x.bitPattern &>> 1))
    let half = x * 0.5
    for _ in 0..<4 { y = y * (1.5 - (half * y) * y) }
    let root = x * y
    return root + (y * 0.5) * (x - root * root)
}

/// (cos t, sin t) with t uniform on the circle, from one 64-bit word: bits 63 and 62 are the
/// signs, bit 61 swaps, bits 9...60 give x uniform in [-pi/4, pi/4) (see the Float version).
/// Taylor polynomials to x^15 (sin) and x^16 (cos): truncation below 1e-16.
internal func _unitCircle(_ word: UInt64) -> (Double, Double) {
    let r = Int64(bitPattern: word &<< 3) &>> 12  // signed 52-bit integer
    let x = Double(r) * (Double.pi / 4 / 2_251_799_813_685_248)
    let x2 = x * x
    // sin x = x + x^3 * sum_{k=1...7} (-1)^k x^(2k-2) / (2k+1)!
    var sp = -1.0 / 1_307_674_368_000
    sp = sp * x2 + 1.0 / 6_227_020_800
    sp = sp * x2 - 1.0 / 39_916_800
    sp = sp * x2 + 1.0 / 362_880
    sp = sp * x2 - 1.0 / 5_040
    sp = sp * x2 + 1.0 / 120
    sp = sp * x2 - 1.0 / 6
    // cos x = 1 + x^2 * sum_{k=1...8} (-1)^k x^(2k-2) / (2k)!
    var cp = 1.0 / 20_922_789_888_000
    cp = cp * x2 - 1.0 / 87_178_291_200
    cp = cp * x2 + 1.0 / 479_001_600
    cp = cp * x2 - 1.0 / 3_628_800
    cp = cp * x2 + 1.0 / 40_320
    cp = cp * x2 - 1.0 / 720
    cp = cp * x2 + 1.0 / 24
    cp = cp * x2 - 1.0 / 2
    let sine = x + (x * x2) * sp
    let cosine = x2 * cp + 1
    let swap = (word &>> 61) & 1 == 1
    let (a, b) = swap ? (sine, cosine) : (cosine, sine)
    let signA = word & (1 &<< 63)
    let signB = (word &<< 1) & (1 &<< 63)
    return (Double(bitPattern: a.bitPattern ^ signA), Double(bitPattern: b.bitPattern ^ signB))
}
