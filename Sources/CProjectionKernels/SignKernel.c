// AVX-512 kernel for one row against sign directions (every entry +1 or -1); see
// include/CProjectionKernels.h.
//
// Why. A lone row shares its pass over the directions with no other row, so with float
// directions its time is their trip from L2 (96 KiB for 12 directions at d = 2048), not its
// arithmetic. Sign directions are one bit per entry: 12 directions at d = 2048 are 3 KiB and
// stay in L1 between calls. The dot product with a sign vector `s` is `2 P - S`, where `P` sums
// the row's values at the +1 entries and `S` all of them, so each 16 coordinates cost one
// masked add per direction (the mask is the direction's 16 bits) and one add for `S`, shared by
// all directions.
//
// Order of the sums (it fixes the rounding bound in the header). Each of the 16 lanes adds its
// coordinates `16 j + l` for j = 0, 1, ... in turn; the lanes are then added pairwise in four
// steps (8 + 8, 4 + 4, 2 + 2, 1 + 1); the result is `2 P - S` rounded once.
//
// Compiled for the platform's baseline like the other kernels: the vector code sits in
// functions marked `target("avx512f,avx512dq")`, run only after the CPU has been asked.

#include "CProjectionKernels.h"

#include <string.h>

/// Directions per pass over the row: 12 accumulators, plus the row's sum, its sum of squares
/// and the loaded coordinates, stay in registers.
#define B4B_SIGN_GROUP 12

size_t b4b_sign_masks_count(size_t m, size_t d) {
    return (m + B4B_SIGN_GROUP - 1) / B4B_SIGN_GROUP * B4B_SIGN_GROUP * ((d + 15) / 16);
}

int b4b_sign_pack(const float *directions, size_t m, size_t d, size_t ld, uint16_t *masks) {
    const size_t chunks = (d + 15) / 16;
    for (size_t c = 0; c < m; c++)
        for (size_t k = 0; k < d; k++) {
            const float v = directions[c * ld + k];
            if (v != 1.0f && v != -1.0f) return 0;
        }
    memset(masks, 0, b4b_sign_masks_count(m, d) * sizeof(uint16_t));
    for (size_t c = 0; c < m; c++) {
        const size_t g = c / B4B_SIGN_GROUP, j = c % B4B_SIGN_GROUP;
        for (size_t k = 0; k < d; k++)
            if (directions[c * ld + k] == 1.0f)
                masks[(g * chunks + k / 16) * B4B_SIGN_GROUP + j] |= (uint16_t)(1u << (k % 16));
    }
    return 1;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))

#include <immintrin.h>

#define B4B_SIGN __attribute__((target("avx512f,avx512dq")))

/// The 16 lanes of `v` added in four pairwise steps (the order the header's bound assumes).
B4B_SIGN static inline __attribute__((always_inline)) float lanes_sum(__m512 v) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    const __m128 e = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(e);
}

/// One pass of the row against group `g`'s (up to) twelve directions; writes their `count`
/// projections, and the row's sum of squares when `squares` is not NULL.
B4B_SIGN static void sign_group(const float *x, size_t d, const uint16_t *masks, size_t count,
                                float *projections, float *squares) {
    __m512 acc[B4B_SIGN_GROUP];
    for (int c = 0; c < B4B_SIGN_GROUP; c++) acc[c] = _mm512_setzero_ps();
    __m512 sum = _mm512_setzero_ps(), sq = _mm512_setzero_ps();
    const size_t full = d / 16, chunks = (d + 15) / 16;
    for (size_t j = 0; j < chunks; j++) {
        // The last, partial chunk loads zeros past `d` (and its masks have no bits there).
        const __m512 v = j < full ? _mm512_loadu_ps(x + 16 * j)
                                  : _mm512_maskz_loadu_ps((__mmask16)((1u << (d % 16)) - 1), x + 16 * j);
        const uint16_t *mk = masks + j * B4B_SIGN_GROUP;
        sum = _mm512_add_ps(sum, v);
        sq = _mm512_fmadd_ps(v, v, sq);
#pragma GCC unroll 12
        for (int c = 0; c < B4B_SIGN_GROUP; c++) acc[c] = _mm512_mask_add_ps(acc[c], (__mmask16)mk[c], acc[c], v);
    }
    const float s = lanes_sum(sum);
    for (size_t c = 0; c < count; c++) projections[c] = 2.0f * lanes_sum(acc[c]) - s;
    if (squares) *squares = lanes_sum(sq);
}

int b4b_sign_row_f32(const float *x, size_t d, const uint16_t *masks, size_t m,
                     float *projections, float *sum_of_squares) {
    if (b4b_projection_level() < 2) return 0;
    const size_t chunks = (d + 15) / 16;
    float squares = 0;
    // One pass per group of twelve directions (at least one pass: it also sums the squares).
    size_t c0 = 0, g = 0;
    do {
        const size_t count = m - c0 < B4B_SIGN_GROUP ? m - c0 : B4B_SIGN_GROUP;
        sign_group(x, d, masks + g * chunks * B4B_SIGN_GROUP, count, projections + c0, g == 0 ? &squares : NULL);
        c0 += B4B_SIGN_GROUP;
        g++;
    } while (c0 < m);
    *sum_of_squares = squares;
    return 1;
}

#else  // not x86-64 with a GCC-compatible compiler: no kernel

int b4b_sign_row_f32(const float *x, size_t d, const uint16_t *masks, size_t m,
                     float *projections, float *sum_of_squares) {
    (void)x; (void)d; (void)masks; (void)m; (void)projections; (void)sum_of_squares;
    return 0;
}

#endif
