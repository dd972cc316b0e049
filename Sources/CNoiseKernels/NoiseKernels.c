// AVX2 kernels for RandomGenerator's Float Gaussian fills, and their AVX-512 build (see
// include/CNoiseKernels.h).
//
// The package is compiled for the baseline of its platform (x86-64: SSE2), and a `-target-cpu`
// flag in the manifest would make it unusable as a dependency. So the AVX2 code is confined to
// functions marked `target("avx2")`, and `b4b_noise_gaussian_f32` calls them only after asking
// the CPU once whether it has AVX2.
//
// Bit-identity with the Swift reference. Every floating-point operation below is an IEEE-754
// single-precision add, subtract, multiply or divide, or an exact int32 -> float conversion, in
// the same order and with the same constants (given by their bit patterns, as Swift rounds the
// decimal literals) as RandomGenerator.swift / VectorMath.swift / Xoshiro256Lanes.swift, so
// each lane computes exactly what the Swift code computes. No FMA: the `target` attribute does
// not enable the FMA extension, and contraction of a * b + c into one rounding is switched off.

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#include "CNoiseKernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__clang__) || defined(__GNUC__))

#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

#define B4B_AVX2 __attribute__((target("avx2")))
// Forces inlining, so that the block count n of the functions below is a constant there.
#define B4B_INLINE B4B_AVX2 static inline __attribute__((always_inline))

// MARK: - xoshiro256+ on four lanes (one YMM register per state word)

/// Four xoshiro256+ generators: `_Xoshiro256PlusX4` in Xoshiro256Lanes.swift.
typedef struct {
    __m256i s0, s1, s2, s3;
} Lanes4;

/// One step of four lanes; returns their outputs s0 + s3. The same update as
/// `_Xoshiro256PlusX4.step()`, statement for statement (integer operations, exact).
B4B_INLINE __m256i step4(Lanes4 *x) {
    const __m256i result = _mm256_add_epi64(x->s0, x->s3);
    const __m256i t = _mm256_slli_epi64(x->s1, 17);
    x->s2 = _mm256_xor_si256(x->s2, x->s0);
    x->s3 = _mm256_xor_si256(x->s3, x->s1);
    x->s1 = _mm256_xor_si256(x->s1, x->s2);
    x->s0 = _mm256_xor_si256(x->s0, x->s3);
    x->s2 = _mm256_xor_si256(x->s2, t);
    x->s3 = _mm256_or_si256(_mm256_slli_epi64(x->s3, 45), _mm256_srli_epi64(x->s3, 19));  // rotl 45
    return result;
}

// MARK: - The Gaussian block (VectorMath.swift)

/// Eight float lanes holding the float with bit pattern `bits`: constants are written by their
/// bit patterns, which are those Swift gives the decimal literals of VectorMath.swift (Swift
/// rounds `Float.pi` toward zero, for instance, where a C literal would round to nearest).
B4B_INLINE __m256 constant(uint32_t bits) {
    return _mm256_castsi256_ps(_mm256_set1_epi32((int)bits));
}

// Each function below works on n <= 4 independent blocks, statement by statement: every
// statement runs for block 0, 1, ... before the next statement. The arithmetic of one block is
// a chain of about 40 dependent operations; one block at a time, the CPU cannot look far
// enough ahead to overlap the chains of consecutive blocks and waits on latencies; four chains
// side by side keep its units busy (addGaussian on 2048-float rows in a C loop, Zen 3 VM: about
// 0.8 G samples/s one block at a time, 1.1-1.3 G/s four at a time). The order of
// the operations within a block, hence every value, is unchanged. n is a constant at each
// (inlined) call, so the loops over u unroll completely.

#define B4B_MAX_BLOCKS 4

/// `_negTwoLogOfUnit`: -2 ln(u) for u = ((bits >> 8) | 1) / 2^24.
B4B_INLINE void neg_two_log_of_unit(int n, const __m256i *bits, __m256 *result) {
    const __m256 one = constant(0x3F800000);  // 1
    __m256 m[B4B_MAX_BLOCKS], s[B4B_MAX_BLOCKS], s2[B4B_MAX_BLOCKS], poly[B4B_MAX_BLOCKS];
    __m256i shifted[B4B_MAX_BLOCKS], exponent[B4B_MAX_BLOCKS];
    for (int u = 0; u < n; u++) {
        // k = (bits >> 8) | 1 as a float: an odd 24-bit integer, converted exactly.
        const __m256 k = _mm256_cvtepi32_ps(_mm256_or_si256(_mm256_srli_epi32(bits[u], 8), _mm256_set1_epi32(1)));
        // shifted = bits(k) + (0x3F800000 - 0x3F3504F3), wrapping
        shifted[u] = _mm256_add_epi32(_mm256_castps_si256(k), _mm256_set1_epi32(0x3F800000 - 0x3F3504F3));
    }
    // n = 151 - (shifted >> 23) (logical shift): u = 2^-n * m
    for (int u = 0; u < n; u++) exponent[u] = _mm256_sub_epi32(_mm256_set1_epi32(151), _mm256_srli_epi32(shifted[u], 23));
    // m = float((shifted & 0x007FFFFF) + 0x3F3504F3), in [sqrt(1/2), sqrt(2))
    for (int u = 0; u < n; u++)
        m[u] = _mm256_castsi256_ps(
            _mm256_add_epi32(_mm256_and_si256(shifted[u], _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F3504F3)));
    // s = (m - 1) / (m + 1); s2 = s * s
    for (int u = 0; u < n; u++) s[u] = _mm256_div_ps(_mm256_sub_ps(m[u], one), _mm256_add_ps(m[u], one));
    for (int u = 0; u < n; u++) s2[u] = _mm256_mul_ps(s[u], s[u]);
    // Float(n) * twoLn2 + s * ((s2 * c2 + c1) * s2 - 4)
    const __m256 c1 = constant(0xBFAAA3A2);      // -1.3331186319397241
    const __m256 c2 = constant(0xBF52E9AB);      // -0.8238779889244054
    const __m256 twoLn2 = constant(0x3FB17218);  // 1.3862943611198906
    const __m256 four = constant(0x40800000);    // 4
    for (int u = 0; u < n; u++) poly[u] = _mm256_add_ps(_mm256_mul_ps(s2[u], c2), c1);
    for (int u = 0; u < n; u++) poly[u] = _mm256_sub_ps(_mm256_mul_ps(poly[u], s2[u]), four);
    for (int u = 0; u < n; u++)
        result[u] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(exponent[u]), twoLn2), _mm256_mul_ps(s[u], poly[u]));
}

/// `_reciprocalSquareRootApprox`: bit-trick estimate of 1 / sqrt(x), two tuned Newton steps.
B4B_INLINE void reciprocal_square_root(int n, const __m256 *x, __m256 *y) {
    __m256 halfX[B4B_MAX_BLOCKS];
    for (int u = 0; u < n; u++)
        y[u] = _mm256_castsi256_ps(
            _mm256_sub_epi32(_mm256_set1_epi32(0x5F376700), _mm256_srli_epi32(_mm256_castps_si256(x[u]), 1)));
    for (int u = 0; u < n; u++) halfX[u] = _mm256_mul_ps(x[u], constant(0x3F000000));  // x * 0.5
    // y = y * (c - (halfX * y) * y), c = 1.5008000135421753, then 1.5000007152557373
    for (int u = 0; u < n; u++)
        y[u] = _mm256_mul_ps(y[u], _mm256_sub_ps(constant(0x3FC01A37), _mm256_mul_ps(_mm256_mul_ps(halfX[u], y[u]), y[u])));
    for (int u = 0; u < n; u++)
        y[u] = _mm256_mul_ps(y[u], _mm256_sub_ps(constant(0x3FC00006), _mm256_mul_ps(_mm256_mul_ps(halfX[u], y[u]), y[u])));
}

/// `_unitCircle`: (cos t, sin t) from the angle words: x = (signed 24-bit integer in bits
/// 7...30) * pi / 2^24, minimax sine and cosine on [-pi/2, pi/2], bit 31 flips the cosine.
B4B_INLINE void unit_circle(int n, const __m256i *bits, __m256 *cosine, __m256 *sine) {
    __m256 x[B4B_MAX_BLOCKS], x2[B4B_MAX_BLOCKS], sp[B4B_MAX_BLOCKS], cp[B4B_MAX_BLOCKS];
    // r = Int32(bits << 1) >> 8 (arithmetic); x = Float(r) * (Float.pi / 2 / 8388608)
    for (int u = 0; u < n; u++)
        x[u] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(bits[u], 1), 8)), constant(0x34490FDA));
    for (int u = 0; u < n; u++) x2[u] = _mm256_mul_ps(x[u], x[u]);
    // sp = ((x2 * s4 - s3) * x2 + s2) * x2 - s1; sine = (x * x2) * sp + x
    for (int u = 0; u < n; u++)  // 2.638390859552901e-06, 0.0001982358873330834
        sp[u] = _mm256_sub_ps(_mm256_mul_ps(x2[u], constant(0x36310F36)), constant(0x394FDD8A));
    for (int u = 0; u < n; u++) sp[u] = _mm256_add_ps(_mm256_mul_ps(sp[u], x2[u]), constant(0x3C08882E));  // 0.008333248783009641
    for (int u = 0; u < n; u++) sp[u] = _mm256_sub_ps(_mm256_mul_ps(sp[u], x2[u]), constant(0x3E2AAAAB));  // 0.16666666565580915
    for (int u = 0; u < n; u++) sine[u] = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(x[u], x2[u]), sp[u]), x[u]);
    // cp = ((x2 * c4 - c3) * x2 + c2) * x2 - c1; cosine = cp * x2 + 1, sign flipped by bit 31
    for (int u = 0; u < n; u++)  // 2.3182898587765113e-05, 0.0013855149144096925
        cp[u] = _mm256_sub_ps(_mm256_mul_ps(x2[u], constant(0x37C278E5)), constant(0x3AB59A2A));
    for (int u = 0; u < n; u++) cp[u] = _mm256_add_ps(_mm256_mul_ps(cp[u], x2[u]), constant(0x3D2AA7AF));  // 0.04166382166793281
    for (int u = 0; u < n; u++) cp[u] = _mm256_sub_ps(_mm256_mul_ps(cp[u], x2[u]), constant(0x3EFFFFE6));  // 0.4999992159077969
    for (int u = 0; u < n; u++) cp[u] = _mm256_add_ps(_mm256_mul_ps(cp[u], x2[u]), constant(0x3F800000));
    for (int u = 0; u < n; u++)
        cosine[u] = _mm256_xor_ps(cp[u], _mm256_castsi256_ps(_mm256_and_si256(bits[u], _mm256_set1_epi32((int)0x80000000u))));
}

/// `_gaussianBlock` on n blocks: block u gives sixteen samples times `scale` from one step. The
/// step's low four lanes (32-bit words 0...7) give the radii, the high four (words 8...15) the
/// angles; `first[u]` holds the cosine samples 0...7, `second[u]` the sine samples 8...15.
B4B_INLINE void gaussian_blocks(int n, const __m256i *radiusWords, const __m256i *angleWords,
                                            __m256 scale, __m256 *first, __m256 *second) {
    __m256 l[B4B_MAX_BLOCKS], y[B4B_MAX_BLOCKS], radius[B4B_MAX_BLOCKS], c[B4B_MAX_BLOCKS], s[B4B_MAX_BLOCKS];
    neg_two_log_of_unit(n, radiusWords, l);
    reciprocal_square_root(n, l, y);
    // radius = (l * rsqrt(l)) * scale
    for (int u = 0; u < n; u++) radius[u] = _mm256_mul_ps(_mm256_mul_ps(l[u], y[u]), scale);
    unit_circle(n, angleWords, c, s);
    for (int u = 0; u < n; u++) first[u] = _mm256_mul_ps(radius[u], c[u]);
    for (int u = 0; u < n; u++) second[u] = _mm256_mul_ps(radius[u], s[u]);
}

/// Writes one block's sixteen values at `p`: adds them to the source's (addGaussian: x + a, `x`
/// read at `source`, which may be `p` itself) or, when `source` is NULL, stores them plus the mean
/// (fillGaussian: a + mean). `count` < 16 writes only the first `count`, as the Swift code does
/// with the last, partial block.
B4B_INLINE void store_block(float *p, const float *source, size_t count, __m256 first, __m256 second, __m256 mean) {
    if (count >= 16) {
        if (source) {
            _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(source), first));
            _mm256_storeu_ps(p + 8, _mm256_add_ps(_mm256_loadu_ps(source + 8), second));
        } else {
            _mm256_storeu_ps(p, _mm256_add_ps(first, mean));
            _mm256_storeu_ps(p + 8, _mm256_add_ps(second, mean));
        }
        return;
    }
    float block[16];
    if (source) {
        _mm256_storeu_ps(block, first);
        _mm256_storeu_ps(block + 8, second);
        for (size_t k = 0; k < count; k++) p[k] = source[k] + block[k];
    } else {
        _mm256_storeu_ps(block, _mm256_add_ps(first, mean));
        _mm256_storeu_ps(block + 8, _mm256_add_ps(second, mean));
        memcpy(p, block, count * sizeof(float));
    }
}

// MARK: - The fill (`_forEachGaussianBlock` with the bodies of addGaussian / fillGaussian)

/// Block b of the fill uses generator step b, as in `_forEachGaussianBlock`; the last block may
/// be partial (its extra values are discarded). The Swift code stores a chunk of steps before
/// the arithmetic (its eight-lane state fills all sixteen SSE registers); here each half of the
/// state is four YMM registers, and the steps are taken just before their blocks. The order of
/// the steps, hence the stream, is the same.
B4B_AVX2 static void gaussian_f32_avx2(uint64_t *state, float *buffer, const float *source, size_t count,
                                       float mean, float scale) {
    // State words: s0 of lanes 0...7, then s1, s2, s3 (`_Xoshiro256PlusX8`); lanes 0...3 form
    // the low generator, lanes 4...7 the high one.
    Lanes4 low = {
        _mm256_loadu_si256((const __m256i *)(state + 0)), _mm256_loadu_si256((const __m256i *)(state + 8)),
        _mm256_loadu_si256((const __m256i *)(state + 16)), _mm256_loadu_si256((const __m256i *)(state + 24))};
    Lanes4 high = {
        _mm256_loadu_si256((const __m256i *)(state + 4)), _mm256_loadu_si256((const __m256i *)(state + 12)),
        _mm256_loadu_si256((const __m256i *)(state + 20)), _mm256_loadu_si256((const __m256i *)(state + 28))};
    const __m256 scaleLanes = _mm256_set1_ps(scale);
    const __m256 meanLanes = _mm256_set1_ps(mean);
    // A step's 64-bit lanes 0...3, read as eight 32-bit words, are words 0...7 of the Swift
    // code's `SIMD16<UInt32>` view (little-endian, low half first): the radii. Lanes 4...7: the
    // angles.
    __m256i radiusWords[B4B_MAX_BLOCKS], angleWords[B4B_MAX_BLOCKS];
    __m256 first[B4B_MAX_BLOCKS], second[B4B_MAX_BLOCKS];

    size_t i = 0;
    // Four whole blocks (64 values) at a time.
    for (; i + 16 * B4B_MAX_BLOCKS <= count; i += 16 * B4B_MAX_BLOCKS) {
        for (int u = 0; u < B4B_MAX_BLOCKS; u++) {
            radiusWords[u] = step4(&low);
            angleWords[u] = step4(&high);
        }
        gaussian_blocks(B4B_MAX_BLOCKS, radiusWords, angleWords, scaleLanes, first, second);
        for (int u = 0; u < B4B_MAX_BLOCKS; u++)
            store_block(buffer + i + 16 * u, source ? source + i + 16 * u : NULL, 16, first[u], second[u], meanLanes);
    }
    // The remaining blocks one at a time, the last possibly partial.
    for (; i < count; i += 16) {
        radiusWords[0] = step4(&low);
        angleWords[0] = step4(&high);
        gaussian_blocks(1, radiusWords, angleWords, scaleLanes, first, second);
        store_block(buffer + i, source ? source + i : NULL, count - i, first[0], second[0], meanLanes);
    }

    _mm256_storeu_si256((__m256i *)(state + 0), low.s0);
    _mm256_storeu_si256((__m256i *)(state + 8), low.s1);
    _mm256_storeu_si256((__m256i *)(state + 16), low.s2);
    _mm256_storeu_si256((__m256i *)(state + 24), low.s3);
    _mm256_storeu_si256((__m256i *)(state + 4), high.s0);
    _mm256_storeu_si256((__m256i *)(state + 12), high.s1);
    _mm256_storeu_si256((__m256i *)(state + 20), high.s2);
    _mm256_storeu_si256((__m256i *)(state + 28), high.s3);
}


// MARK: - AVX-512: two blocks per register

// The same arithmetic on sixteen lanes: one 64-bit-lane register holds all eight xoshiro256+
// lanes of a state word, so a step is one set of 512-bit integer operations whose low half is
// the low generator's output (the radii) and whose high half is the high generator's (the
// angles). Two consecutive steps' radii go into one 16-lane register (and their angles into
// another), so every float operation below runs on two blocks at once, lane for lane the
// operations of the AVX2 code above: the values are bit for bit the same.

#define B4B_AVX512 __attribute__((target("avx512f,avx512dq,avx2")))
#define B4B_WIDE_INLINE B4B_AVX512 static inline __attribute__((always_inline))

/// Units of two blocks computed side by side (four units: eight blocks, 128 values).
#define B4B_MAX_UNITS 4

typedef struct {
    __m512i s0, s1, s2, s3;
} Lanes8;

/// One step of the eight lanes (`_Xoshiro256PlusX8.step()`); returns their outputs s0 + s3.
B4B_WIDE_INLINE __m512i step8(Lanes8 *x) {
    const __m512i result = _mm512_add_epi64(x->s0, x->s3);
    const __m512i t = _mm512_slli_epi64(x->s1, 17);
    x->s2 = _mm512_xor_si512(x->s2, x->s0);
    x->s3 = _mm512_xor_si512(x->s3, x->s1);
    x->s1 = _mm512_xor_si512(x->s1, x->s2);
    x->s0 = _mm512_xor_si512(x->s0, x->s3);
    x->s2 = _mm512_xor_si512(x->s2, t);
    x->s3 = _mm512_rol_epi64(x->s3, 45);
    return result;
}

B4B_WIDE_INLINE __m512 constant16(uint32_t bits) { return _mm512_castsi512_ps(_mm512_set1_epi32((int)bits)); }

/// `neg_two_log_of_unit` on units of two blocks.
B4B_WIDE_INLINE void neg_two_log_of_unit16(int n, const __m512i *bits, __m512 *result) {
    const __m512 one = constant16(0x3F800000);
    __m512 m[B4B_MAX_UNITS], s[B4B_MAX_UNITS], s2[B4B_MAX_UNITS], poly[B4B_MAX_UNITS];
    __m512i shifted[B4B_MAX_UNITS], exponent[B4B_MAX_UNITS];
    for (int u = 0; u < n; u++) {
        const __m512 k = _mm512_cvtepi32_ps(_mm512_or_si512(_mm512_srli_epi32(bits[u], 8), _mm512_set1_epi32(1)));
        shifted[u] = _mm512_add_epi32(_mm512_castps_si512(k), _mm512_set1_epi32(0x3F800000 - 0x3F3504F3));
    }
    for (int u = 0; u < n; u++) exponent[u] = _mm512_sub_epi32(_mm512_set1_epi32(151), _mm512_srli_epi32(shifted[u], 23));
    for (int u = 0; u < n; u++)
        m[u] = _mm512_castsi512_ps(
            _mm512_add_epi32(_mm512_and_si512(shifted[u], _mm512_set1_epi32(0x007FFFFF)), _mm512_set1_epi32(0x3F3504F3)));
    for (int u = 0; u < n; u++) s[u] = _mm512_div_ps(_mm512_sub_ps(m[u], one), _mm512_add_ps(m[u], one));
    for (int u = 0; u < n; u++) s2[u] = _mm512_mul_ps(s[u], s[u]);
    const __m512 c1 = constant16(0xBFAAA3A2), c2 = constant16(0xBF52E9AB);
    const __m512 twoLn2 = constant16(0x3FB17218), four = constant16(0x40800000);
    for (int u = 0; u < n; u++) poly[u] = _mm512_add_ps(_mm512_mul_ps(s2[u], c2), c1);
    for (int u = 0; u < n; u++) poly[u] = _mm512_sub_ps(_mm512_mul_ps(poly[u], s2[u]), four);
    for (int u = 0; u < n; u++)
        result[u] = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(exponent[u]), twoLn2), _mm512_mul_ps(s[u], poly[u]));
}

/// `reciprocal_square_root` on units of two blocks.
B4B_WIDE_INLINE void reciprocal_square_root16(int n, const __m512 *x, __m512 *y) {
    __m512 halfX[B4B_MAX_UNITS];
    for (int u = 0; u < n; u++)
        y[u] = _mm512_castsi512_ps(
            _mm512_sub_epi32(_mm512_set1_epi32(0x5F376700), _mm512_srli_epi32(_mm512_castps_si512(x[u]), 1)));
    for (int u = 0; u < n; u++) halfX[u] = _mm512_mul_ps(x[u], constant16(0x3F000000));
    for (int u = 0; u < n; u++)
        y[u] = _mm512_mul_ps(y[u], _mm512_sub_ps(constant16(0x3FC01A37), _mm512_mul_ps(_mm512_mul_ps(halfX[u], y[u]), y[u])));
    for (int u = 0; u < n; u++)
        y[u] = _mm512_mul_ps(y[u], _mm512_sub_ps(constant16(0x3FC00006), _mm512_mul_ps(_mm512_mul_ps(halfX[u], y[u]), y[u])));
}

/// `unit_circle` on units of two blocks.
B4B_WIDE_INLINE void unit_circle16(int n, const __m512i *bits, __m512 *cosine, __m512 *sine) {
    __m512 x[B4B_MAX_UNITS], x2[B4B_MAX_UNITS], sp[B4B_MAX_UNITS], cp[B4B_MAX_UNITS];
    for (int u = 0; u < n; u++)
        x[u] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(bits[u], 1), 8)), constant16(0x34490FDA));
    for (int u = 0; u < n; u++) x2[u] = _mm512_mul_ps(x[u], x[u]);
    for (int u = 0; u < n; u++) sp[u] = _mm512_sub_ps(_mm512_mul_ps(x2[u], constant16(0x36310F36)), constant16(0x394FDD8A));
    for (int u = 0; u < n; u++) sp[u] = _mm512_add_ps(_mm512_mul_ps(sp[u], x2[u]), constant16(0x3C08882E));
    for (int u = 0; u < n; u++) sp[u] = _mm512_sub_ps(_mm512_mul_ps(sp[u], x2[u]), constant16(0x3E2AAAAB));
    for (int u = 0; u < n; u++) sine[u] = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(x[u], x2[u]), sp[u]), x[u]);
    for (int u = 0; u < n; u++) cp[u] = _mm512_sub_ps(_mm512_mul_ps(x2[u], constant16(0x37C278E5)), constant16(0x3AB59A2A));
    for (int u = 0; u < n; u++) cp[u] = _mm512_add_ps(_mm512_mul_ps(cp[u], x2[u]), constant16(0x3D2AA7AF));
    for (int u = 0; u < n; u++) cp[u] = _mm512_sub_ps(_mm512_mul_ps(cp[u], x2[u]), constant16(0x3EFFFFE6));
    for (int u = 0; u < n; u++) cp[u] = _mm512_add_ps(_mm512_mul_ps(cp[u], x2[u]), constant16(0x3F800000));
    for (int u = 0; u < n; u++)
        cosine[u] = _mm512_castsi512_ps(_mm512_xor_si512(
            _mm512_castps_si512(cp[u]), _mm512_and_si512(bits[u], _mm512_set1_epi32((int)0x80000000u))));
}

/// Stores a unit's 32 values at `p` (plus the mean, or added to the source's when `source` is not
/// NULL, as `store_block`): block b's cosine samples (the low half of `first`), its sine samples
/// (the low half of `second`), then block b + 1's (the high halves).
B4B_WIDE_INLINE void store_unit(float *p, const float *source, __m512 first, __m512 second, __m512 mean) {
    const __m512 a = _mm512_shuffle_f64x2(first, second, 0x44), b = _mm512_shuffle_f64x2(first, second, 0xEE);
    if (source) {
        _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(source), a));
        _mm512_storeu_ps(p + 16, _mm512_add_ps(_mm512_loadu_ps(source + 16), b));
    } else {
        _mm512_storeu_ps(p, _mm512_add_ps(a, mean));
        _mm512_storeu_ps(p + 16, _mm512_add_ps(b, mean));
    }
}

/// Whole units (32 values each) while at least `B4B_MAX_UNITS` or one unit's values remain,
/// then the AVX2 code for the rest (fewer than 32 values: one block, or two with the last
/// partial), continuing from the state this leaves.
B4B_AVX512 static void gaussian_f32_avx512(uint64_t *state, float *buffer, const float *source, size_t count,
                                           float mean, float scale) {
    Lanes8 x = {_mm512_loadu_si512(state + 0), _mm512_loadu_si512(state + 8), _mm512_loadu_si512(state + 16),
                _mm512_loadu_si512(state + 24)};
    const __m512 scaleLanes = _mm512_set1_ps(scale), meanLanes = _mm512_set1_ps(mean);
    __m512i radius[B4B_MAX_UNITS], angle[B4B_MAX_UNITS];
    __m512 l[B4B_MAX_UNITS], y[B4B_MAX_UNITS], r[B4B_MAX_UNITS], c[B4B_MAX_UNITS], s[B4B_MAX_UNITS];
#define B4B_UNITS(N)                                                                         \
    do {                                                                                     \
        for (int u = 0; u < (N); u++) {                                                      \
            const __m512i b0 = step8(&x), b1 = step8(&x);                                    \
            radius[u] = _mm512_shuffle_i64x2(b0, b1, 0x44);                                  \
            angle[u] = _mm512_shuffle_i64x2(b0, b1, 0xEE);                                   \
        }                                                                                    \
        neg_two_log_of_unit16((N), radius, l);                                               \
        reciprocal_square_root16((N), l, y);                                                 \
        for (int u = 0; u < (N); u++) r[u] = _mm512_mul_ps(_mm512_mul_ps(l[u], y[u]), scaleLanes); \
        unit_circle16((N), angle, c, s);                                                     \
        for (int u = 0; u < (N); u++)                                                        \
            store_unit(buffer + i + 32 * u, source ? source + i + 32 * u : NULL, _mm512_mul_ps(r[u], c[u]), \
                       _mm512_mul_ps(r[u], s[u]), meanLanes);                                        \
    } while (0)
    size_t i = 0;
    for (; i + 32 * B4B_MAX_UNITS <= count; i += 32 * B4B_MAX_UNITS) B4B_UNITS(B4B_MAX_UNITS);
    for (; i + 32 <= count; i += 32) B4B_UNITS(1);
#undef B4B_UNITS
    _mm512_storeu_si512(state + 0, x.s0);
    _mm512_storeu_si512(state + 8, x.s1);
    _mm512_storeu_si512(state + 16, x.s2);
    _mm512_storeu_si512(state + 24, x.s3);
    if (i < count) gaussian_f32_avx2(state, buffer + i, source ? source + i : NULL, count - i, mean, scale);
}

// MARK: - Dispatch

/// -1 until the CPU has been queried, then its level (0, 1 or 2). Threads racing on the first
/// call each query the CPU and store the same answer, so relaxed atomics suffice.
static _Atomic int noiseLevel = -1;

int b4b_noise_level(void) {
    int level = atomic_load_explicit(&noiseLevel, memory_order_relaxed);
    if (level < 0) {
        __builtin_cpu_init();  // needed if the first call comes from a constructor
        level = 0;
        if (__builtin_cpu_supports("avx2")) {  // includes the OS saving YMM state
            level = 1;
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) level = 2;
        }
        atomic_store_explicit(&noiseLevel, level, memory_order_relaxed);
    }
    return level;
}

int b4b_noise_avx2_available(void) { return b4b_noise_level() >= 1; }

int b4b_noise_gaussian_f32_at(int level, uint64_t *state, float *buffer, const float *source, size_t count,
                              float mean, float scale) {
    if (level < 1 || level > b4b_noise_level()) return 0;
    if (level == 2) gaussian_f32_avx512(state, buffer, source, count, mean, scale);
    else gaussian_f32_avx2(state, buffer, source, count, mean, scale);
    return 1;
}

int b4b_noise_gaussian_f32(uint64_t *state, float *buffer, const float *source, size_t count, float mean,
                           float scale) {
    return b4b_noise_gaussian_f32_at(b4b_noise_level(), state, buffer, source, count, mean, scale);
}

#else  // not x86 with a GCC-compatible compiler: no kernel, the Swift code runs

int b4b_noise_level(void) { return 0; }

int b4b_noise_avx2_available(void) { return 0; }

int b4b_noise_gaussian_f32_at(int level, uint64_t *state, float *buffer, const float *source, size_t count,
                              float mean, float scale) {
    (void)level, (void)state, (void)buffer, (void)source, (void)count, (void)mean, (void)scale;
    return 0;
}

int b4b_noise_gaussian_f32(uint64_t *state, float *buffer, const float *source, size_t count, float mean,
                           float scale) {
    (void)state, (void)buffer, (void)source, (void)count, (void)mean, (void)scale;
    return 0;
}

#endif
