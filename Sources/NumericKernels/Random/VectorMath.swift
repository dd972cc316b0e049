// Vector approximations used by the Gaussian fills of `RandomGenerator`.
//
// Everything here uses only IEEE-754 add, subtract, multiply, divide, exact integer<->float
// conversions and bit operations, in a fixed order (Swift never contracts to FMA on its own),
// so the results are bit-identical on every platform. No `squareRoot()` on SIMD vectors: in
// a plain `swift build -c release` for x86_64 (baseline SSE2) it is lowered to one scalar call
// per lane; the bit-trick reciprocal square root below stays in vector registers.
// The Float Gaussian kernel has an AVX2 twin in Sources/CNoiseKernels that repeats these
// operations and constants exactly: change both together (GaussianKernelTests compares them).
//
// Accuracy, measured exhaustively against Double references over every input the fills can
// produce (every radius word, every angle word, every float in [1e-7, 34] for the square root):
//   _negTwoLogOfUnit              relative error < 3.6e-7
//   x * _reciprocalSquareRootApprox(x)  relative error < 9.0e-7
//   _unitCircle                   absolute error < 2.5e-7 (cosine), 1.5e-7 (sine)
// and a Gaussian sample differs from exact Box-Muller on the same bits by at most
// 1.4e-6 * max(1, |z|) (2 million random blocks). The Double kernels are within 5e-16.

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

/// -2 ln(u) for u = k / 2^24, k = (bits >> 8) | 1: an odd 24-bit integer, so u is a uniform on
/// (0, 1) with 23 random bits (u = (j + 1/2) / 2^23), exactly representable and never 0 or 1.
/// Result in [1.19e-7, 33.27].
///
/// u = 2^-n * m with m in [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh(s), s = (m - 1) / (m + 1),
/// |s| < 0.1716, with a minimax polynomial in s^2 (fitted relative error 1.4e-7; 3.6e-7 with
/// Float rounding).
@inlinable @inline(__always)
internal func _negTwoLogOfUnit(_ bits: _WordLanes) -> _FloatLanes {
    let k = _FloatLanes(_signed((bits &>> 8) | 1))  // exact
    // Shift the mantissa range to [sqrt(1/2), sqrt(2)) while reading off the exponent.
    let shifted = _bits(k) &+ (0x3F80_0000 &- 0x3F35_04F3)
    let n = 151 &- _signed(shifted &>> 23)  // u = 2^-n * m, n in [0, 24]
    let m = _float((shifted & 0x007F_FFFF) &+ 0x3F35_04F3)
    let s = (m - 1) / (m + 1)  // m - 1 is exact
    let s2 = s * s
    // -2 ln(u) = 2 n ln 2 - 4 atanh(s) = 2 n ln 2 + s * (-4 + s^2 * (c1 + c2 * s^2))
    let c1: Float = -1.3331186319397241
    let c2: Float = -0.8238779889244054
    let twoLn2: Float = 1.3862943611198906
    return _FloatLanes(n) * twoLn2 + s * ((s2 * c2 + c1) * s2 - 4)
}

/// 1 / sqrt(x) for x in [1e-30, 1e30] via the bit-trick estimate and two Newton steps with tuned
/// constants (relative error < 9e-7).
@inlinable @inline(__always)
internal func _reciprocalSquareRootApprox(_ x: _FloatLanes) -> _FloatLanes {
    var y = _float(0x5F37_6700 &- (_bits(x) &>> 1))
    let halfX = x * 0.5
    y = y * (1.5008000135421753 - (halfX * y) * y)
    y = y * (1.5000007152557373 - (halfX * y) * y)
    return y
}

/// A point (cos t, sin t) on the unit circle with t uniform, from 25 random bits per lane:
/// bits 7...30 give x uniform in [-pi/2, pi/2), bit 31 the sign of the cosine, i.e. t = x or
/// pi - x. Minimax polynomials on [-pi/2, pi/2] (fitted absolute error 1e-9 for sin, 4e-8 for
/// cos; 1.5e-7 and 2.5e-7 with Float rounding).
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
/// A computed property, so that it folds to a constant (a stored global would be lazily
/// initialised behind a `swift_once` check).
@inlinable
internal var _gaussianBlockCount: Int { 16 }

/// Sixteen standard normal samples (Box-Muller on eight pairs), each multiplied by `scale`, from
/// one generator step: 32-bit words 0...7 (lanes 0...3) give the radii, words 8...15 (lanes
/// 4...7) the angles; pair k gives samples k (cosine, in `.0`) and 8 + k (sine, in `.1`).
@inlinable @inline(__always)
internal func _gaussianBlock(words: SIMD8<UInt64>, scale: Float) -> (_FloatLanes, _FloatLanes) {
    let w = unsafeBitCast(words, to: SIMD16<UInt32>.self)
    let radiusWords = w.lowHalf
    let angleWords = w.highHalf
    // radius sqrt(L) = L * (1 / sqrt(L))
    let l = _negTwoLogOfUnit(radiusWords)
    let radius = (l * _reciprocalSquareRootApprox(l)) * scale
    let (c, s) = _unitCircle(angleWords)
    return (radius * c, radius * s)
}

/// Sixteen uniforms in [0, 1), 24 random bits each (the top 24 bits of each 32-bit word).
@inlinable @inline(__always)
internal func _uniformBlock(_ output: SIMD8<UInt64>) -> SIMD16<Float> {
    let words = unsafeBitCast(output, to: SIMD16<UInt32>.self)
    // Two 8-lane conversions: the 16-lane one is an out-of-line generic call in this toolchain.
    let low = _FloatLanes(_signed(words.lowHalf &>> 8)) * (1 / 16_777_216)
    let high = _FloatLanes(_signed(words.highHalf &>> 8)) * (1 / 16_777_216)
    return SIMD16(lowHalf: low, highHalf: high)
}

// MARK: - Double precision (scalar, for the non-hot Double fill)
//
// Same scheme as the Float kernel, carried to double precision with series long enough that
// truncation is below rounding; again only IEEE basic operations, so results are identical on
// every platform.

/// -2 ln(u) for u = k / 2^53, k = (word >> 11) | 1: an odd 53-bit integer, so u is a uniform on
/// (0, 1) with 52 random bits, exactly representable and never 0 or 1. Result in
/// [2.2e-16, 73.5]; relative error about 2e-16.
internal func _negTwoLogOfUnit(_ word: UInt64) -> Double {
    let k = Double((word &>> 11) | 1)  // exact
    let shifted = k.bitPattern &+ (0x3FF0_0000_0000_0000 &- 0x3FE6_A09E_667F_3BCD)
    let n = 1076 &- Int(truncatingIfNeeded: shifted &>> 52)  // u = 2^-n * m, n in [0, 53]
    let m = Double(bitPattern: (shifted & 0x000F_FFFF_FFFF_FFFF) &+ 0x3FE6_A09E_667F_3BCD)
    let s = (m - 1) / (m + 1)  // |s| < 0.1716
    let s2 = s * s
    // -2 ln(m) = -4 atanh(s) = -4 s (1 + s^2/3 + s^4/5 + ... + s^20/21)
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
    return Double(n) * 1.3862943611198906 + (-4 * s) * (p * s2 + 1)
}

/// sqrt(x) for x >= 0 from basic operations only (the platform square root is correctly rounded
/// everywhere, but on Linux `squareRoot()` can compile to a libm call this module does not link):
/// bit-trick reciprocal square root, four Newton steps, one correction of the root.
/// Relative error about 2e-16; exactly 0 for x = 0.
internal func _squareRoot(_ x: Double) -> Double {
    var y = Double(bitPattern: 0x5FE6_EB50_C7B5_37A9 &- (x.bitPattern &>> 1))
    let half = x * 0.5
    for _ in 0..<4 { y = y * (1.5 - (half * y) * y) }
    let root = x * y
    return root + (y * 0.5) * (x - root * root)
}

/// (cos t, sin t) with t uniform on the circle, from one 64-bit word: bits 11...62 give x uniform
/// in [-pi/2, pi/2) (53-bit resolution), bit 63 the sign of the cosine (t = x or pi - x).
/// Taylor series to x^23 (sin) and x^24 (cos): truncation below 1e-20.
internal func _unitCircle(_ word: UInt64) -> (Double, Double) {
    let r = Int64(bitPattern: word &<< 1) &>> 11  // signed 53-bit integer in [-2^52, 2^52)
    let x = Double(r) * (Double.pi / 2 / 4_503_599_627_370_496)
    let x2 = x * x
    // sin x = x + x^3 * sum_{k=1...11} (-1)^k x^(2k-2) / (2k+1)!
    var sp = -1 / 2.585201673888498e22
    sp = sp * x2 + 1 / 5.109094217170944e19
    sp = sp * x2 - 1 / 1.21645100408832e17
    sp = sp * x2 + 1 / 3.55687428096e14
    sp = sp * x2 - 1 / 1.307674368e12
    sp = sp * x2 + 1 / 6_227_020_800
    sp = sp * x2 - 1 / 39_916_800
    sp = sp * x2 + 1 / 362_880
    sp = sp * x2 - 1 / 5_040
    sp = sp * x2 + 1 / 120
    sp = sp * x2 - 1 / 6
    // cos x = 1 + x^2 * sum_{k=1...12} (-1)^k x^(2k-2) / (2k)!
    var cp = 1 / 6.204484017332394e23
    cp = cp * x2 - 1 / 1.1240007277776077e21
    cp = cp * x2 + 1 / 2.43290200817664e18
    cp = cp * x2 - 1 / 6.402373705728e15
    cp = cp * x2 + 1 / 2.0922789888e13
    cp = cp * x2 - 1 / 87_178_291_200
    cp = cp * x2 + 1 / 479_001_600
    cp = cp * x2 - 1 / 3_628_800
    cp = cp * x2 + 1 / 40_320
    cp = cp * x2 - 1 / 720
    cp = cp * x2 + 1 / 24
    cp = cp * x2 - 1 / 2
    let sine = x + (x * x2) * sp
    let cosine = x2 * cp + 1
    return (Double(bitPattern: cosine.bitPattern ^ (word & (1 &<< 63))), sine)
}
