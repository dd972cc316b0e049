// AVX2 kernels for RandomGenerator's Float Gaussian fills (see include/CNoiseKernels.h).
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

// MARK: - xoshiro256+ on four lanes (one YMM register per state word)

/// Four xoshiro256+ generators: `_Xoshiro256PlusX4` in Xoshiro256Lanes.swift.
typedef struct {
    __m256i s0, s1, s2, s3;
} Lanes4;

/// One step of four lanes; returns their outputs s0 + s3. The same update as
/// `_Xoshiro256PlusX4.step()`, statement for statement (integer operations, exact).
B4B_AVX2 static inline __m256i step4(Lanes4 *x) {
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
B4B_AVX2 static inline __m256 constant(uint32_t bits) {
    return _mm256_castsi256_ps(_mm256_set1_epi32((int)bits));
}

/// `_negTwoLogOfUnit`: -2 ln(u) for u = ((bits >> 8) | 1) / 2^24.
B4B_AVX2 static inline __m256 neg_two_log_of_unit(__m256i bits) {
    const __m256 one = constant(0x3F800000);  // 1
    // k = (bits >> 8) | 1 as a float: an odd 24-bit integer, converted exactly.
    const __m256 k = _mm256_cvtepi32_ps(_mm256_or_si256(_mm256_srli_epi32(bits, 8), _mm256_set1_epi32(1)));
    // shifted = bits(k) + (0x3F800000 - 0x3F3504F3), wrapping; n = 151 - (shifted >> 23) (logical)
    const __m256i shifted = _mm256_add_epi32(_mm256_castps_si256(k), _mm256_set1_epi32(0x3F800000 - 0x3F3504F3));
    const __m256i n = _mm256_sub_epi32(_mm256_set1_epi32(151), _mm256_srli_epi32(shifted, 23));
    // m = float((shifted & 0x007FFFFF) + 0x3F3504F3), in [sqrt(1/2), sqrt(2))
    const __m256 m = _mm256_castsi256_ps(
        _mm256_add_epi32(_mm256_and_si256(shifted, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F3504F3)));
    // s = (m - 1) / (m + 1); s2 = s * s
    const __m256 s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
    const __m256 s2 = _mm256_mul_ps(s, s);
    // Float(n) * twoLn2 + s * ((s2 * c2 + c1) * s2 - 4)
    const __m256 c1 = constant(0xBFAAA3A2);      // -1.3331186319397241
    const __m256 c2 = constant(0xBF52E9AB);      // -0.8238779889244054
    const __m256 twoLn2 = constant(0x3FB17218);  // 1.3862943611198906
    const __m256 four = constant(0x40800000);    // 4
    const __m256 poly = _mm256_sub_ps(_mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(s2, c2), c1), s2), four);
    return _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(n), twoLn2), _mm256_mul_ps(s, poly));
}

/// `_reciprocalSquareRootApprox`: bit-trick estimate of 1 / sqrt(x), two tuned Newton steps.
B4B_AVX2 static inline __m256 reciprocal_square_root(__m256 x) {
    __m256 y = _mm256_castsi256_ps(
        _mm256_sub_epi32(_mm256_set1_epi32(0x5F376700), _mm256_srli_epi32(_mm256_castps_si256(x), 1)));
    const __m256 halfX = _mm256_mul_ps(x, constant(0x3F000000));  // x * 0.5
    // y = y * (c - (halfX * y) * y), c = 1.5008000135421753, then 1.5000007152557373
    y = _mm256_mul_ps(y, _mm256_sub_ps(constant(0x3FC01A37), _mm256_mul_ps(_mm256_mul_ps(halfX, y), y)));
    y = _mm256_mul_ps(y, _mm256_sub_ps(constant(0x3FC00006), _mm256_mul_ps(_mm256_mul_ps(halfX, y), y)));
    return y;
}

/// `_unitCircle`: (cos t, sin t) from the angle words: x = (signed 24-bit integer in bits
/// 7...30) * pi / 2^24, minimax sine and cosine on [-pi/2, pi/2], bit 31 flips the cosine.
B4B_AVX2 static inline void unit_circle(__m256i bits, __m256 *cosine, __m256 *sine) {
    // r = Int32(bits << 1) >> 8 (arithmetic); x = Float(r) * (Float.pi / 2 / 8388608)
    const __m256i r = _mm256_srai_epi32(_mm256_slli_epi32(bits, 1), 8);
    const __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(r), constant(0x34490FDA));
    const __m256 x2 = _mm256_mul_ps(x, x);
    // sp = ((x2 * s4 - s3) * x2 + s2) * x2 - s1; sine = (x * x2) * sp + x
    __m256 sp = _mm256_sub_ps(_mm256_mul_ps(x2, constant(0x36310F36)), constant(0x394FDD8A));  // 2.638390859552901e-06, 0.0001982358873330834
    sp = _mm256_add_ps(_mm256_mul_ps(sp, x2), constant(0x3C08882E));  // 0.008333248783009641
    sp = _mm256_sub_ps(_mm256_mul_ps(sp, x2), constant(0x3E2AAAAB));  // 0.16666666565580915
    *sine = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(x, x2), sp), x);
    // cp = ((x2 * c4 - c3) * x2 + c2) * x2 - c1; cosine = cp * x2 + 1, sign flipped by bit 31
    __m256 cp = _mm256_sub_ps(_mm256_mul_ps(x2, constant(0x37C278E5)), constant(0x3AB59A2A));  // 2.3182898587765113e-05, 0.0013855149144096925
    cp = _mm256_add_ps(_mm256_mul_ps(cp, x2), constant(0x3D2AA7AF));  // 0.04166382166793281
    cp = _mm256_sub_ps(_mm256_mul_ps(cp, x2), constant(0x3EFFFFE6));  // 0.4999992159077969
    const __m256 c = _mm256_add_ps(_mm256_mul_ps(cp, x2), constant(0x3F800000));
    *cosine = _mm256_xor_ps(c, _mm256_castsi256_ps(_mm256_and_si256(bits, _mm256_set1_epi32((int)0x80000000u))));
}

/// `_gaussianBlock`: sixteen samples times `scale` from one step. The low four lanes (32-bit
/// words 0...7) give the radii, the high four (words 8...15) the angles; `first` holds the
/// cosine samples 0...7, `second` the sine samples 8...15.
B4B_AVX2 static inline void gaussian_block(__m256i radiusWords, __m256i angleWords, __m256 scale,
                                           __m256 *first, __m256 *second) {
    const __m256 l = neg_two_log_of_unit(radiusWords);
    const __m256 radius = _mm256_mul_ps(_mm256_mul_ps(l, reciprocal_square_root(l)), scale);  // (l * rsqrt(l)) * scale
    __m256 c, s;
    unit_circle(angleWords, &c, &s);
    *first = _mm256_mul_ps(radius, c);
    *second = _mm256_mul_ps(radius, s);
}

// MARK: - The fill (`_forEachGaussianBlock` with the bodies of addGaussian / fillGaussian)

/// Block b of the fill uses generator step b, as in `_forEachGaussianBlock`. The Swift code
/// stores a chunk of steps before the arithmetic (the eight-lane state fills all sixteen SSE
/// registers); with YMM registers each lane half is one register, so here the step and the
/// arithmetic are interleaved. The order of steps, hence the stream, is the same.
B4B_AVX2 static void gaussian_f32_avx2(uint64_t *state, float *buffer, size_t count, float mean, float scale,
                                       int add) {
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

    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        // The step's 64-bit lanes 0...3, read as eight 32-bit words, are words 0...7 of
        // `SIMD16<UInt32>` (little-endian, low half first): the radii. Lanes 4...7: the angles.
        const __m256i radiusWords = step4(&low);
        const __m256i angleWords = step4(&high);
        __m256 a, b;
        gaussian_block(radiusWords, angleWords, scaleLanes, &a, &b);
        if (add) {
            // buffer += noise (addGaussian: a0 + a)
            _mm256_storeu_ps(buffer + i, _mm256_add_ps(_mm256_loadu_ps(buffer + i), a));
            _mm256_storeu_ps(buffer + i + 8, _mm256_add_ps(_mm256_loadu_ps(buffer + i + 8), b));
        } else {
            // buffer = noise + mean (fillGaussian: a + mean)
            _mm256_storeu_ps(buffer + i, _mm256_add_ps(a, meanLanes));
            _mm256_storeu_ps(buffer + i + 8, _mm256_add_ps(b, meanLanes));
        }
    }
    if (i < count) {
        // The last, partial block: one more step, the first count - i values used, as in Swift.
        const __m256i radiusWords = step4(&low);
        const __m256i angleWords = step4(&high);
        __m256 a, b;
        gaussian_block(radiusWords, angleWords, scaleLanes, &a, &b);
        float block[16];
        if (add) {
            _mm256_storeu_ps(block, a);
            _mm256_storeu_ps(block + 8, b);
            for (size_t k = 0; k < count - i; k++) buffer[i + k] += block[k];
        } else {
            _mm256_storeu_ps(block, _mm256_add_ps(a, meanLanes));
            _mm256_storeu_ps(block + 8, _mm256_add_ps(b, meanLanes));
            memcpy(buffer + i, block, (count - i) * sizeof(float));
        }
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

// MARK: - Dispatch

/// -1 until the CPU has been queried, then 0 or 1. Threads racing on the first call each query
/// the CPU and store the same answer, so relaxed atomics suffice.
static _Atomic int avx2State = -1;

int b4b_noise_avx2_available(void) {
    int available = atomic_load_explicit(&avx2State, memory_order_relaxed);
    if (available < 0) {
        __builtin_cpu_init();  // needed if the first call comes from a constructor
        available = __builtin_cpu_supports("avx2") ? 1 : 0;  // includes the OS saving YMM state
        atomic_store_explicit(&avx2State, available, memory_order_relaxed);
    }
    return available;
}

int b4b_noise_gaussian_f32(uint64_t *state, float *buffer, size_t count, float mean, float scale, int add) {
    if (!b4b_noise_avx2_available()) return 0;
    gaussian_f32_avx2(state, buffer, count, mean, scale, add);
    return 1;
}

#else  // not x86 with a GCC-compatible compiler: no kernel, the Swift code runs

int b4b_noise_avx2_available(void) { return 0; }

int b4b_noise_gaussian_f32(uint64_t *state, float *buffer, size_t count, float mean, float scale, int add) {
    (void)state, (void)buffer, (void)count, (void)mean, (void)scale, (void)add;
    return 0;
}

#endif
