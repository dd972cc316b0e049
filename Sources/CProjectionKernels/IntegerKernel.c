// Integer screening of a lone row (see include/CProjectionKernels.h, `b4b_integer_screen_row`).
//
// Why integers. A lone row shares its pass over the directions with no other row, so in floats
// its time is the directions' trip from L2 (96 KiB for 12 directions at d = 2048) and two
// multiply-adds per 16 coordinates and direction pair. As 16-bit integers the directions are half
// the bytes (48 KiB: with the walks back and forth, most of it is still in L1 from the previous
// lone row), and one `vpdpwssd` multiplies 32 pairs of 16-bit values and adds them, pairwise, into
// 16 32-bit sums: twice the products per instruction of a 16-lane multiply-add, at the same rate
// on the CPUs that have it (AVX-512 VNNI). The sums are exact; the only errors are the two
// roundings to integers, which the caller bounds (per direction, `error_scales`) and settles as
// for the half-precision screening: the few projections too close to their threshold are
// computed again in single precision, then exactly.
//
// Exactness of the sums. `vpdpwssd` wraps modulo 2^32, so a lane's sum is exact when its true
// value lies in [-2^31, 2^31). By Cauchy-Schwarz a lane's sum is at most `‖X‖ ‖P_lane‖` in
// magnitude (`X` the row's integers, `P_lane` the direction's integers that meet that lane).
// `b4b_integer_pack` scales each direction so that every `‖P_lane‖ <= 32766`, and the row's scale
// keeps `‖X‖ <= 65536`, so every lane's sum is below 2^31. The 16 lanes are added in 64 bits.

#include "CProjectionKernels.h"

#include <math.h>
#include <string.h>

enum {
    INTEGER_BLOCK = 32,      // coordinates per block (one 512-bit register of 16-bit values)
    INTEGER_GROUP = 12,      // directions per pass (12 accumulators and the row's block)
    LANE_NORM_LIMIT = 32766, // bound on every ‖P_lane‖ (integers)
};

/// Bound on the row's integers' norm `‖X‖` (see above: `ROW_NORM_LIMIT * LANE_NORM_LIMIT < 2^31`).
static const double ROW_NORM_LIMIT = 65536.0;

size_t b4b_integer_packed_count(size_t m, size_t d) {
    return (m + INTEGER_GROUP - 1) / INTEGER_GROUP * INTEGER_GROUP * ((d + INTEGER_BLOCK - 1) / INTEGER_BLOCK * INTEGER_BLOCK);
}

/// Where coordinate `r` (0 ..< 32) of a block sits among the block's 32 16-bit values once the
/// row's block is converted (two registers of 16 32-bit integers, narrowed with `vpackssdw`, which
/// interleaves them by 128-bit lanes): value `8 l + 4 h + e` holds coordinate `16 h + 4 l + e`.
static size_t block_position(size_t r) {
    const size_t h = r / 16, l = (r % 16) / 4, e = r % 4;
    return 8 * l + 4 * h + e;
}

int b4b_integer_pack(const float *directions, size_t m, size_t d, size_t ld, int16_t *packed,
                     double *unscale, double *error_scales) {
    const size_t blocks = (d + INTEGER_BLOCK - 1) / INTEGER_BLOCK;
    // The row's scale keeps ‖X‖ <= ROW_NORM_LIMIT only while 0.51 sqrt(d) (its rounding) is well below it.
    if (d == 0 || m == 0 || 0.51 * sqrt((double)d) > ROW_NORM_LIMIT / 2) return 0;
    for (size_t c = 0; c < m; c++)
        for (size_t k = 0; k < d; k++)
            if (!isfinite(directions[c * ld + k])) return 0;
    memset(packed, 0, b4b_integer_packed_count(m, d) * sizeof(int16_t));
    for (size_t c = 0; c < m; c++) {
        const float *p = directions + c * ld;
        double largest = 0, lane_squares[16] = {0};
        for (size_t k = 0; k < d; k++) {
            const double v = fabs((double)p[k]);
            if (v > largest) largest = v;
            lane_squares[block_position(k % INTEGER_BLOCK) / 2] += v * v;
        }
        double widest = 0;
        for (int l = 0; l < 16; l++)
            if (lane_squares[l] > widest) widest = lane_squares[l];
        // The largest exponent e that keeps |P| <= 32767 and ‖P_lane‖ <= LANE_NORM_LIMIT, checked
        // on the rounded integers themselves (rounding may push a bound over; then e - 1).
        int e = 0;
        if (largest > 0) {
            const double limit = fmin(32767.0 / largest, LANE_NORM_LIMIT / sqrt(widest));
            e = (int)floor(log2(limit)) + 1;
        }
        for (;; e--) {
            int64_t lanes[16] = {0};
            int fits = 1;
            for (size_t k = 0; k < d && fits; k++) {
                const double v = nearbyint(ldexp((double)p[k], e));
                if (fabs(v) > 32767) fits = 0;
                lanes[block_position(k % INTEGER_BLOCK) / 2] += (int64_t)v * (int64_t)v;
            }
            for (int l = 0; l < 16 && fits; l++)
                if (lanes[l] > (int64_t)LANE_NORM_LIMIT * LANE_NORM_LIMIT) fits = 0;
            if (fits || largest == 0) break;
        }
        // Integers, the rounding's norm ‖p - 2^-e P‖ (each difference exact in double), and the
        // direction's norms, all summed in double and rounded up generously.
        const size_t group = c / INTEGER_GROUP, j = c % INTEGER_GROUP;
        double residual = 0, norm1 = 0, norm2 = 0;
        for (size_t k = 0; k < d; k++) {
            const double v = nearbyint(ldexp((double)p[k], e));
            const double q = (double)p[k] - ldexp(v, -e);
            residual += q * q;
            norm1 += fabs((double)p[k]);
            norm2 += (double)p[k] * (double)p[k];
            const size_t b = k / INTEGER_BLOCK;
            packed[((group * blocks + b) * INTEGER_GROUP + j) * INTEGER_BLOCK + block_position(k % INTEGER_BLOCK)] = (int16_t)v;
        }
        const double up = 1 + 1e-9;
        unscale[c] = ldexp(1.0, -e);
        // See the header: ROW_NORM_LIMIT ‖p - 2^-e P‖ + 0.5 ‖p‖_1 + ROW_NORM_LIMIT ‖p‖ (2^-24 + 2^-52).
        error_scales[c] = (ROW_NORM_LIMIT * sqrt(residual * up) + 0.5 * norm1 * up
                           + ROW_NORM_LIMIT * sqrt(norm2 * up) * (0x1p-24 + 0x1p-52)) * up;
    }
    return 1;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))

#include <immintrin.h>
#include <stdatomic.h>

#define B4B_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vnni")))

/// -1 until the CPU has been asked, then 1 (AVX-512 F, BW, DQ and VNNI) or 0.
static _Atomic int integerLevel = -1;

int b4b_integer_screening_available(void) {
    int level = atomic_load_explicit(&integerLevel, memory_order_relaxed);
    if (level < 0) {
        __builtin_cpu_init();
        level = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
        atomic_store_explicit(&integerLevel, level, memory_order_relaxed);
    }
    return level;
}

#define B4B_ROUNDING (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/// The row's two halves of block `b` (coordinates `32 b ..< 32 b + 32`; past `d`, zeros).
B4B_VNNI static inline __attribute__((always_inline)) void load_block(const float *x, size_t d, size_t b, __m512 *lo, __m512 *hi) {
    const size_t k = b * INTEGER_BLOCK;
    if (k + INTEGER_BLOCK <= d) {
        *lo = _mm512_loadu_ps(x + k);
        *hi = _mm512_loadu_ps(x + k + 16);
    } else {
        const size_t rest = d - k;
        *lo = _mm512_maskz_loadu_ps(rest >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rest) - 1), x + k);
        *hi = _mm512_maskz_loadu_ps(rest > 16 ? (__mmask16)((1u << (rest - 16)) - 1) : 0, x + k + 16);
    }
}

/// A block's 32 coordinates as 16-bit integers in `block_position` order: each times `scale`
/// (rounded to nearest float), then rounded to the nearest integer.
B4B_VNNI static inline __attribute__((always_inline)) __m512i to_integers(__m512 lo, __m512 hi, __m512 scale) {
    const __m512i a = _mm512_cvt_roundps_epi32(_mm512_mul_round_ps(lo, scale, B4B_ROUNDING), B4B_ROUNDING);
    const __m512i c = _mm512_cvt_roundps_epi32(_mm512_mul_round_ps(hi, scale, B4B_ROUNDING), B4B_ROUNDING);
    return _mm512_packs_epi32(a, c);
}

/// Adds a block's squares to `squares` (two chains) and its largest magnitude to `largest`.
B4B_VNNI static inline __attribute__((always_inline)) void measure_block(__m512 lo, __m512 hi, __m512 squares[2], __m512 *largest) {
    squares[0] = _mm512_fmadd_ps(lo, lo, squares[0]);
    squares[1] = _mm512_fmadd_ps(hi, hi, squares[1]);
    // vrangeps 0b1011: the larger magnitude, sign cleared.
    *largest = _mm512_range_ps(*largest, _mm512_range_ps(lo, hi, 0x0B), 0x0B);
}

/// One group of twelve packed directions against the row at `scale`: `acc[j]` receives direction
/// j's 16 lane sums. When `measure` (a constant after inlining), the same pass also adds the
/// row's squares to `squares` (two chains) and its largest magnitude to `largest`.
B4B_VNNI static inline __attribute__((always_inline)) void group_pass(const float *x, size_t d, const int16_t *group,
                                                                       size_t blocks, int descending, __m512 scale, int measure,
                                                                       __m512 squares[2], __m512 *largest, __m512i *acc) {
    for (int j = 0; j < INTEGER_GROUP; j++) acc[j] = _mm512_setzero_si512();
    for (size_t t = 0; t < blocks; t++) {
        const size_t b = descending ? blocks - 1 - t : t;
        __m512 lo, hi;
        load_block(x, d, b, &lo, &hi);
        if (measure) measure_block(lo, hi, squares, largest);
        const __m512i v = to_integers(lo, hi, scale);
        const int16_t *p = group + b * INTEGER_GROUP * INTEGER_BLOCK;
        for (int j = 0; j < INTEGER_GROUP; j++)
            acc[j] = _mm512_dpwssd_epi32(acc[j], v, _mm512_loadu_si512((const void *)(p + j * INTEGER_BLOCK)));
    }
}

/// The largest scale the row allows (see the header: `s ‖x‖ < 65536 - 0.51 sqrt(d)` with an upper
/// bound on `‖x‖` from the float sum of squares, `s max|x_k| < 32767`, at most 2^100), in double.
static double largest_scale(float squares, float widest, size_t d) {
    // The float sum is within (1 + γ_d) of the exact one, less what underflowed: at most 2^-149 per
    // square and sum, or under 2^-126 each on a host that flushes subnormals to zero (FTZ/DAZ).
    const double norm = sqrt((double)squares * (1 + 2.0 * (double)d * 0x1p-24) + (double)d * 0x1p-124) * (1 + 0x1p-50);
    double target = 0x1p100;
    if (norm > 0) target = fmin(target, (ROW_NORM_LIMIT - 0.51 * sqrt((double)d)) / (norm * (1 + 0x1p-20)));
    if (widest > 0) target = fmin(target, 32767.0 / ((double)widest * (1 + 0x1p-20)));
    return target;
}

/// `target` as a float no larger than it.
static float float_below(double target) {
    float scale = (float)target;
    if ((double)scale > target) scale = nextafterf(scale, 0);
    return scale;
}

/// The scale of this thread's previous lone row, a little lowered (see `b4b_integer_screen_row`); 0 before the first.
static _Thread_local float scaleHint;

B4B_VNNI static void integer_screen_row(const float *x, size_t d, const int16_t *packed, const double *unscale, size_t m,
                                        int descending, float hint, double *projections, double *bound, float *sum_of_squares) {
    const size_t blocks = (d + INTEGER_BLOCK - 1) / INTEGER_BLOCK, groups = (m + INTEGER_GROUP - 1) / INTEGER_GROUP;
    __m512i acc[INTEGER_GROUP];
    __m512 squares[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()}, largest = _mm512_setzero_ps();
    float scale = 0;
    // With a hint, the first group's pass also measures the row; the hint stands when it is
    // within the row's largest scale and at least half of it. Else (or without a hint) a first
    // pass measures the row, and the first group is summed at the row's own scale.
    int summed = 0;
    if (hint > 0) group_pass(x, d, packed, blocks, descending, _mm512_set1_ps(hint), 1, squares, &largest, acc);
    else {
        for (size_t b = 0; b < blocks; b++) {
            __m512 lo, hi;
            load_block(x, d, b, &lo, &hi);
            measure_block(lo, hi, squares, &largest);
        }
    }
    const float total = _mm512_reduce_add_ps(_mm512_add_ps(squares[0], squares[1]));
    *sum_of_squares = total;
    if (!isfinite(total)) {
        *bound = INFINITY;
        return;
    }
    const double target = largest_scale(total, _mm512_reduce_max_ps(largest), d);
    if (hint > 0 && (double)hint <= target && (double)hint >= 0.5 * target) {
        scale = hint;
        summed = 1;
    } else {
        scale = float_below(target);
    }
    // The next lone row on this thread starts from this row's scale, lowered by 3 % so that
    // rows of about the same norm (as normalized representations are) stay within their own.
    scaleHint = float_below(target * 0.97);
    *bound = 1.0 / (double)scale * (1 + 0x1p-50);
    const __m512 s = _mm512_set1_ps(scale);
    for (size_t g = 0; g < groups; g++) {
        const int16_t *group = packed + g * blocks * INTEGER_GROUP * INTEGER_BLOCK;
        if (g > 0 || !summed) group_pass(x, d, group, blocks, descending, s, 0, NULL, NULL, acc);
        for (int j = 0; j < INTEGER_GROUP && g * INTEGER_GROUP + (size_t)j < m; j++) {
            const size_t c = g * INTEGER_GROUP + (size_t)j;
            const __m512i wide = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc[j])),
                                                  _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc[j], 1)));
            const int64_t sum = _mm512_reduce_add_epi64(wide);
            projections[c] = (double)sum * unscale[c] / (double)scale;
        }
    }
}

int b4b_integer_screen_row(const float *x, size_t d, const int16_t *packed, const double *unscale, size_t m,
                           int descending, float hint, double *projections, double *bound, float *sum_of_squares) {
    if (!b4b_integer_screening_available()) return 0;
    integer_screen_row(x, d, packed, unscale, m, descending, hint < 0 ? scaleHint : hint, projections, bound, sum_of_squares);
    return 1;
}

#else  // not x86-64 with a GCC-compatible compiler

int b4b_integer_screening_available(void) { return 0; }

int b4b_integer_screen_row(const float *x, size_t d, const int16_t *packed, const double *unscale, size_t m,
                           int descending, float hint, double *projections, double *bound, float *sum_of_squares) {
    (void)x; (void)d; (void)packed; (void)unscale; (void)m; (void)descending; (void)hint;
    (void)projections; (void)bound; (void)sum_of_squares;
    return 0;
}

#endif
