// AVX2 + FMA kernel for random-projection hashing, and its AVX-512 build (see include/CProjectionKernels.h).
//
// Why not the GEMM: with only a dozen directions, `cblas_sgemm` spends much of its time packing
// the batch into its own layout, and the norm pass that the rounding-safe bucket decision needs
// is a second read of every row. Here each row is read from memory once, and the directions are
// packed once, when the hasher is built.
//
// Blocking. Rows are taken four at a time and coordinates 256 at a time: the rows' slices
// (4 KiB) and the directions' slice (12 KiB for 12 directions) stay in L1 while every dot
// product of the group advances over them. Packing the directions contiguously matters: rows
// and unpacked directions of 2048 floats are 8 KiB apart, so their slices would all compete for
// the same L1 sets. Partial sums live in eight-lane accumulators between slices and are added
// across lanes once, at the end.
//
// Prefetching. Rows often come from memory rather than cache (256 rows at d = 2048 are 2 MiB,
// more than L2, and each is read once), and the hardware prefetcher does not run far enough
// ahead of this loop's demand (about 13 GB/s per core against the 10 GB/s one core gets from
// DRAM here). So while a row group works on one slice, its first pass over the slice asks for
// the rows' next slice (or the next group's first one); a lone row asks for its first KiB at
// once, then for the line 1 KiB ahead of the one it reads. With rows from DRAM at d = 2048 this
// cut the time per row by 10-20 % (a group of rows and a lone row alike); in cache it changes
// nothing measurable (Benchmarks/kernels/projection_harness.c).
//
// Screening a lone row. A single row shares its pass over the directions with no other row,
// so its time is the directions' trip from L2 (96 KiB for 12 directions at d = 2048). The
// screening pass reads half-precision copies instead (half the bytes; the conversion to float
// is exact and costs one instruction per eight values); the caller bounds the copies' rounding
// and recomputes the rare projections too close to call with `b4b_dot_f32`.
//
// The package is compiled for the baseline of its platform, so the vector code is confined to
// functions marked `target("avx2,fma,f16c")`, called only after the CPU has been asked once.

#include "CProjectionKernels.h"

#include <math.h>
#include <string.h>

size_t b4b_projection_packed_count(size_t m, size_t d) {
    return (m + 5) / 6 * 6 * ((d + 7) / 8 * 8);
}

/// Copies `m` directions of `size`-byte values into the kernel's layout (shared by both element types).
static void pack(const char *directions, size_t size, size_t m, size_t d, size_t ld, size_t shift, char *packed) {
    const size_t blocks = (d + shift + 7) / 8, groups = (m + 5) / 6;
    for (size_t g = 0; g < groups; g++)
        for (size_t b = 0; b < blocks; b++)
            for (size_t j = 0; j < 6; j++)
                for (size_t l = 0; l < 8; l++) {
                    const size_t c = g * 6 + j, k = b * 8 + l;
                    char *target = packed + (((g * blocks + b) * 6 + j) * 8 + l) * size;
                    if (c < m && k >= shift && k - shift < d) memcpy(target, directions + (c * ld + k - shift) * size, size);
                    else memset(target, 0, size);
                }
}

void b4b_projection_pack(const float *directions, size_t m, size_t d, size_t ld, float *packed) {
    pack((const char *)directions, sizeof(float), m, d, ld, 0, (char *)packed);
}

void b4b_projection_pack_shifted(const float *directions, size_t m, size_t d, size_t ld, float *packed) {
    pack((const char *)directions, sizeof(float), m, d, ld, B4B_ROW_SHIFT, (char *)packed);
}

void b4b_projection_pack_half(const uint16_t *directions, size_t m, size_t d, size_t ld, uint16_t *packed) {
    pack((const char *)directions, sizeof(uint16_t), m, d, ld, 0, (char *)packed);
}

/// The portable form of `b4b_threshold_bits`, value by value; the AVX-512 form computes the same
/// doubles (a product, then a sum: never fused) and so the same bits.
/// `projections` holds doubles when `doubles` (`b4b_threshold_bits_f64`), else floats.
static void threshold_bits_portable(const void *projections, int doubles, const double *thresholds, const double *scales,
                                    const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    for (size_t w = 0; w < (m + 63) / 64; w++) signs[w] = uncertain[w] = 0;
    for (size_t c = 0; c < m; c++) {
        const double value = doubles ? ((const double *)projections)[c] : (double)((const float *)projections)[c];
        const double distance = value - thresholds[c];
        const double scaled = bound * scales[c];
        const double tolerance = scaled + slack[c];
        const double magnitude = distance < 0 ? -distance : distance;
        const int sure = magnitude > tolerance && magnitude < (double)INFINITY;
        signs[c / 64] |= (uint64_t)(distance > 0) << (c % 64);
        uncertain[c / 64] |= (uint64_t)!sure << (c % 64);
    }
}

/// Row `r`'s bound in `b4b_threshold_bits_rows`: the same doubles as the caller's (a product, a
/// correctly rounded square root, a product).
static inline double row_bound(float sum_of_squares, double gamma, double inflation) {
    return gamma * sqrt((double)sum_of_squares * inflation);
}

/// The per-row form of `b4b_threshold_bits` (`threshold_bits_portable` or the AVX-512 one).
typedef void (*threshold_bits_form)(const void *projections, int doubles, const double *thresholds,
                                    const double *scales, const double *slack, double bound, size_t m,
                                    uint64_t *signs, uint64_t *uncertain);

/// `b4b_threshold_bits_rows` row by row with `decide`: the portable form, and the AVX-512 one's
/// for more directions than its registers hold.
static size_t threshold_bits_rows_each(threshold_bits_form decide, const float *projections, size_t ldp, size_t rows,
                                       const float *sums_of_squares, double gamma, double inflation,
                                       const double *thresholds, const double *scales, const double *slack,
                                       size_t m, uint64_t *signs, uint64_t *uncertain) {
    const size_t words = (m + 63) / 64;
    for (size_t r = 0; r < rows; r++) {
        const float s = sums_of_squares[r];
        if (!isfinite(s)) return r;
        decide(projections + r * ldp, 0, thresholds, scales, slack, row_bound(s, gamma, inflation), m,
               signs + r * words, uncertain + r * words);
    }
    return rows;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))

#include <immintrin.h>
#include <stdatomic.h>
#include <stdint.h>

#define B4B_FMA __attribute__((target("avx2,fma,f16c")))
#define B4B_INLINE B4B_FMA static inline __attribute__((always_inline))

enum {
    ROWS_PER_GROUP = 4,      // rows whose slices share one pass over the directions' slice
    SLICE = 256,             // coordinates per slice (a multiple of 8)
    GROUPS_PER_PASS = 8,     // direction groups (of six) accumulated at once: 48 directions
    AHEAD = 256,             // a lone row's prefetch distance, floats (1 KiB)
    WIDE_SLICE = 512,        // AVX-512 row groups: coordinates per slice (a multiple of SLICE)
    WIDE_PANEL = 32,         // AVX-512 row groups: rows per panel (a multiple of four)
};

#define B4B_PREFETCH(address) _mm_prefetch((const char *)(address), _MM_HINT_T0)

/// The sum of the eight lanes.
B4B_INLINE float lane_sum(__m256 v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/// The load mask of a row's last, partial block: lane l is loaded (-1) when l < d % 8.
B4B_INLINE void tail_lanes(size_t d, int32_t *lanes) {
    for (int l = 0; l < 8; l++) lanes[l] = (size_t)l < d % 8 ? -1 : 0;
}

/// Two rows against six packed directions over `blocks` full blocks of eight coordinates, then
/// one block masked by `lanes` (-1: load, 0: zero) when `tail`. `acc` holds 12 accumulators (row 0's six, then row 1's).
/// The first `ahead_blocks` blocks of `ahead0` and `ahead1` (the slices the rows read next) are
/// prefetched on the way, one block of each per step.
B4B_INLINE void dot_2x6(const float *x0, const float *x1, const float *p, size_t blocks,
                        int tail, const int32_t *lanes, __m256 *acc,
                        const float *ahead0, const float *ahead1, size_t ahead_blocks) {
    __m256 a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5];
    __m256 b0 = acc[6], b1 = acc[7], b2 = acc[8], b3 = acc[9], b4 = acc[10], b5 = acc[11];
#define B4B_STEP(V, W)                                                                       \
    do {                                                                                     \
        __m256 q;                                                                            \
        q = _mm256_loadu_ps(p);      a0 = _mm256_fmadd_ps(V, q, a0); b0 = _mm256_fmadd_ps(W, q, b0); \
        q = _mm256_loadu_ps(p + 8);  a1 = _mm256_fmadd_ps(V, q, a1); b1 = _mm256_fmadd_ps(W, q, b1); \
        q = _mm256_loadu_ps(p + 16); a2 = _mm256_fmadd_ps(V, q, a2); b2 = _mm256_fmadd_ps(W, q, b2); \
        q = _mm256_loadu_ps(p + 24); a3 = _mm256_fmadd_ps(V, q, a3); b3 = _mm256_fmadd_ps(W, q, b3); \
        q = _mm256_loadu_ps(p + 32); a4 = _mm256_fmadd_ps(V, q, a4); b4 = _mm256_fmadd_ps(W, q, b4); \
        q = _mm256_loadu_ps(p + 40); a5 = _mm256_fmadd_ps(V, q, a5); b5 = _mm256_fmadd_ps(W, q, b5); \
        p += 48;                                                                             \
    } while (0)
    size_t t = 0;
    for (const size_t prefetched = ahead_blocks < blocks ? ahead_blocks : blocks; t < prefetched; t++, x0 += 8, x1 += 8) {
        B4B_PREFETCH(ahead0 + 8 * t);
        B4B_PREFETCH(ahead1 + 8 * t);
        const __m256 v = _mm256_loadu_ps(x0), w = _mm256_loadu_ps(x1);
        B4B_STEP(v, w);
    }
    for (; t < blocks; t++, x0 += 8, x1 += 8) {
        const __m256 v = _mm256_loadu_ps(x0), w = _mm256_loadu_ps(x1);
        B4B_STEP(v, w);
    }
    if (tail) {
        const __m256i mask = _mm256_loadu_si256((const __m256i *)lanes);
        const __m256 v = _mm256_maskload_ps(x0, mask), w = _mm256_maskload_ps(x1, mask);
        B4B_STEP(v, w);
    }
#undef B4B_STEP
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5;
    acc[6] = b0; acc[7] = b1; acc[8] = b2; acc[9] = b3; acc[10] = b4; acc[11] = b5;
}

/// Eight packed direction values at element `offset` from `p`: floats, or (when `half`, a
/// constant after inlining) half-precision values widened to floats (exactly).
#define B4B_LOAD_PACKED(p, offset, half)                                                     \
    ((half) ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)(p) + (offset)))) \
            : _mm256_loadu_ps((const float *)(p) + (offset)))

/// One row against six packed directions (the odd row of a group); `acc` holds 6 accumulators.
/// `p` holds floats, or half-precision values when `half`.
B4B_INLINE void dot_1x6(const float *x0, const void *p, size_t blocks, int tail, const int32_t *lanes, __m256 *acc,
                        int half) {
    __m256 a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5];
    const size_t step = 48 * (half ? sizeof(uint16_t) : sizeof(float));
#define B4B_STEP(V)                                                                          \
    do {                                                                                     \
        a0 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 0, half), a0);  a1 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 8, half), a1);  \
        a2 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 16, half), a2); a3 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 24, half), a3); \
        a4 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 32, half), a4); a5 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 40, half), a5); \
        p = (const char *)p + step;                                                          \
    } while (0)
    for (size_t t = 0; t < blocks; t++, x0 += 8) {
        const __m256 v = _mm256_loadu_ps(x0);
        B4B_STEP(v);
    }
    if (tail) {
        const __m256 v = _mm256_maskload_ps(x0, _mm256_loadu_si256((const __m256i *)lanes));
        B4B_STEP(v);
    }
#undef B4B_STEP
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5;
}

/// One row against twelve packed directions (two groups, at `p` and `q`; floats, or
/// half-precision values when `half`): the odd row of a row group reads its slice once for
/// both groups. `acc` holds 6 accumulators for `p`'s group,
/// `bcc` 6 for `q`'s; when `squares` is not NULL the row's squares are added to it as well.
/// The row is prefetched `AHEAD` floats ahead of the block being read, within its `blocks`.
B4B_INLINE void dot_1x12(const float *x0, const void *p, const void *q, size_t blocks, int tail,
                         const int32_t *lanes, __m256 *acc, __m256 *bcc, __m256 *squares, int half) {
    __m256 a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5];
    __m256 b0 = bcc[0], b1 = bcc[1], b2 = bcc[2], b3 = bcc[3], b4 = bcc[4], b5 = bcc[5];
    __m256 s = squares ? *squares : _mm256_setzero_ps();
    const size_t step = 48 * (half ? sizeof(uint16_t) : sizeof(float));
#define B4B_STEP(V)                                                                          \
    do {                                                                                     \
        if (squares) s = _mm256_fmadd_ps(V, V, s);                                           \
        a0 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 0, half), a0);  a1 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 8, half), a1);  \
        a2 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 16, half), a2); a3 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 24, half), a3); \
        a4 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 32, half), a4); a5 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(p, 40, half), a5); \
        b0 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(q, 0, half), b0);  b1 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(q, 8, half), b1);  \
        b2 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(q, 16, half), b2); b3 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(q, 24, half), b3); \
        b4 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(q, 32, half), b4); b5 = _mm256_fmadd_ps(V, B4B_LOAD_PACKED(q, 40, half), b5); \
        p = (const char *)p + step; q = (const char *)q + step;                              \
    } while (0)
    size_t t = 0;
    for (const size_t prefetching = blocks > AHEAD / 8 ? blocks - AHEAD / 8 : 0; t < prefetching; t++, x0 += 8) {
        B4B_PREFETCH(x0 + AHEAD);
        const __m256 v = _mm256_loadu_ps(x0);
        B4B_STEP(v);
    }
    for (; t < blocks; t++, x0 += 8) {
        const __m256 v = _mm256_loadu_ps(x0);
        B4B_STEP(v);
    }
    if (tail) {
        const __m256 v = _mm256_maskload_ps(x0, _mm256_loadu_si256((const __m256i *)lanes));
        B4B_STEP(v);
    }
#undef B4B_STEP
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5;
    bcc[0] = b0; bcc[1] = b1; bcc[2] = b2; bcc[3] = b3; bcc[4] = b4; bcc[5] = b5;
    if (squares) *squares = s;
}

/// Adds the squares of `blocks` full blocks (and a masked one when `tail`) of `x` to `*acc`,
/// in four independent chains.
B4B_INLINE void add_squares(const float *x, size_t blocks, int tail, const int32_t *lanes, __m256 *acc) {
    __m256 s0 = *acc, s1 = _mm256_setzero_ps(), s2 = s1, s3 = s1;
    size_t t = 0;
    for (; t + 4 <= blocks; t += 4, x += 32) {
        const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        s0 = _mm256_fmadd_ps(v0, v0, s0); s1 = _mm256_fmadd_ps(v1, v1, s1);
        s2 = _mm256_fmadd_ps(v2, v2, s2); s3 = _mm256_fmadd_ps(v3, v3, s3);
    }
    for (; t < blocks; t++, x += 8) {
        const __m256 v = _mm256_loadu_ps(x);
        s0 = _mm256_fmadd_ps(v, v, s0);
    }
    if (tail) {
        const __m256 v = _mm256_maskload_ps(x, _mm256_loadu_si256((const __m256i *)lanes));
        s0 = _mm256_fmadd_ps(v, v, s0);
    }
    *acc = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
}

B4B_FMA static void project_rows(const float *x, size_t rows, size_t d, size_t ldx,
                                 const float *packed, size_t m,
                                 float *projections, size_t ldp, float *sums_of_squares) {
    const size_t blocks = (d + 7) / 8, groups = (m + 5) / 6;
    int32_t lanes[8];
    tail_lanes(d, lanes);
    // Accumulators of one row group: [row][group in pass][direction in group].
    __m256 acc[ROWS_PER_GROUP][GROUPS_PER_PASS][6];
    __m256 squares[ROWS_PER_GROUP];

    for (size_t r0 = 0; r0 < rows; r0 += ROWS_PER_GROUP) {
        const size_t nr = rows - r0 < ROWS_PER_GROUP ? rows - r0 : ROWS_PER_GROUP;
        const float *row[ROWS_PER_GROUP];
        for (size_t i = 0; i < nr; i++) {
            row[i] = x + (r0 + i) * ldx;
            squares[i] = _mm256_setzero_ps();
        }
        // A lone row's first KiB is asked for at once (its loop prefetches the rest as it goes).
        if (nr == 1)
            for (size_t k = 0; k < (d < AHEAD ? d : AHEAD); k += 16) B4B_PREFETCH(row[0] + k);
        for (size_t g0 = 0; g0 < groups; g0 += GROUPS_PER_PASS) {
            const size_t ng = groups - g0 < GROUPS_PER_PASS ? groups - g0 : GROUPS_PER_PASS;
            for (size_t i = 0; i < nr; i++)
                for (size_t g = 0; g < ng; g++)
                    for (size_t j = 0; j < 6; j++) acc[i][g][j] = _mm256_setzero_ps();
            // A lone row shares no slice of the directions with another row: it takes the
            // whole row in one slice (it fits in L1), saving the per-slice overheads.
            const size_t slice = nr == 1 ? (d + 7) / 8 * 8 : SLICE;
            for (size_t k0 = 0; k0 < d; k0 += slice) {
                const size_t width = d - k0 < slice ? d - k0 : slice;
                const size_t full = width / 8;
                const int tail = width % 8 != 0;
                // A lone row with two groups or more gets its squares inside dot_1x12 (one read).
                const int folded = nr == 1 && ng >= 2;
                if (g0 == 0)
                    for (size_t i = folded ? 1 : 0; i < nr; i++) add_squares(row[i] + k0, full, tail, lanes, &squares[i]);
                // Slice k0 of group g starts here in the packed directions.
#define B4B_PACKED(g) (packed + ((g0 + (g)) * blocks + k0 / 8) * 48)
                for (size_t g = 0; g < ng; g++)
                    for (size_t i = 0; i + 2 <= nr; i += 2) {
                        __m256 pair[12];
                        memcpy(pair, acc[i][g], sizeof acc[i][g]);
                        memcpy(pair + 6, acc[i + 1][g], sizeof acc[i + 1][g]);
                        // The first pass over this slice asks for what these rows read next.
                        const float *ahead0 = NULL, *ahead1 = NULL;
                        size_t ahead_blocks = 0;
                        if (g0 == 0 && g == 0) {
                            if (k0 + slice < d) {
                                ahead0 = row[i] + k0 + slice, ahead1 = row[i + 1] + k0 + slice;
                                ahead_blocks = (d - k0 - slice) / 8;
                            } else if (r0 + ROWS_PER_GROUP + i + 1 < rows) {
                                ahead0 = x + (r0 + ROWS_PER_GROUP + i) * ldx, ahead1 = ahead0 + ldx;
                                ahead_blocks = d / 8;
                            }
                        }
                        dot_2x6(row[i] + k0, row[i + 1] + k0, B4B_PACKED(g), full, tail, lanes, pair,
                                ahead0, ahead1, ahead_blocks);
                        memcpy(acc[i][g], pair, sizeof acc[i][g]);
                        memcpy(acc[i + 1][g], pair + 6, sizeof acc[i + 1][g]);
                    }
                if (nr % 2) {
                    const size_t i = nr - 1;
                    size_t g = 0;
                    // The folded squares get their own call site, so that inlining settles the
                    // squares' test at compile time rather than once per block.
                    if (folded && g0 == 0) {
                        dot_1x12(row[i] + k0, B4B_PACKED(0), B4B_PACKED(1), full, tail, lanes, acc[i][0], acc[i][1],
                                 &squares[i], 0);
                        g = 2;
                    }
                    for (; g + 2 <= ng; g += 2)
                        dot_1x12(row[i] + k0, B4B_PACKED(g), B4B_PACKED(g + 1), full, tail, lanes, acc[i][g], acc[i][g + 1],
                                 NULL, 0);
                    if (g < ng) dot_1x6(row[i] + k0, B4B_PACKED(g), full, tail, lanes, acc[i][g], 0);
                }
#undef B4B_PACKED
            }
            for (size_t i = 0; i < nr; i++)
                for (size_t g = 0; g < ng; g++)
                    for (size_t j = 0; j < 6; j++) {
                        const size_t c = (g0 + g) * 6 + j;
                        if (c < m) projections[(r0 + i) * ldp + c] = lane_sum(acc[i][g][j]);
                    }
        }
        for (size_t i = 0; i < nr; i++) sums_of_squares[r0 + i] = lane_sum(squares[i]);
    }
}

/// One row against every packed half-precision direction: pairs of groups in one pass over the
/// row each (the row stays in L1; the halves stream from L2 at half the bytes of floats), the
/// row's squares folded into the first pass.
B4B_FMA static void screen_row(const float *x, size_t d, const uint16_t *packed, size_t m,
                               float *projections, float *sum_of_squares) {
    const size_t blocks = (d + 7) / 8, groups = (m + 5) / 6, full = d / 8;
    const int tail = d % 8 != 0;
    int32_t lanes[8];
    tail_lanes(d, lanes);
    for (size_t k = 0; k < (d < AHEAD ? d : AHEAD); k += 16) B4B_PREFETCH(x + k);
    __m256 squares = _mm256_setzero_ps();
    for (size_t g = 0; g < groups; g += 2) {
        __m256 acc[12];
        for (int j = 0; j < 12; j++) acc[j] = _mm256_setzero_ps();
        const uint16_t *p = packed + g * blocks * 48;
        // Two call sites, as in project_rows: the squares' test is settled at compile time.
        if (g == 0 && groups >= 2) {
            dot_1x12(x, p, p + blocks * 48, full, tail, lanes, acc, acc + 6, &squares, 1);
        } else if (g + 1 < groups) {
            dot_1x12(x, p, p + blocks * 48, full, tail, lanes, acc, acc + 6, NULL, 1);
        } else {
            if (g == 0) add_squares(x, full, tail, lanes, &squares);
            dot_1x6(x, p, full, tail, lanes, acc, 1);
        }
        for (size_t j = 0; j < 12 && g * 6 + j < m; j++) projections[g * 6 + j] = lane_sum(acc[j]);
    }
    *sum_of_squares = lane_sum(squares);
}

/// `x · p` over `d` floats: blocks of eight coordinates go round-robin to four accumulators,
/// which are added pairwise, then across lanes.
B4B_FMA static float dot(const float *x, const float *p, size_t d) {
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const size_t full = d / 8;
    size_t t = 0;
    for (; t + 4 <= full; t += 4)
        for (int r = 0; r < 4; r++)
            a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8 * (t + r)), _mm256_loadu_ps(p + 8 * (t + r)), a[r]);
    for (; t < full; t++) a[t % 4] = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8 * t), _mm256_loadu_ps(p + 8 * t), a[t % 4]);
    if (d % 8) {
        int32_t lanes[8];
        tail_lanes(d, lanes);
        const __m256i mask = _mm256_loadu_si256((const __m256i *)lanes);
        a[t % 4] = _mm256_fmadd_ps(_mm256_maskload_ps(x + 8 * t, mask), _mm256_maskload_ps(p + 8 * t, mask), a[t % 4]);
    }
    return lane_sum(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
}

// MARK: - AVX-512

// The same computation in 16-lane registers, for CPUs with AVX-512 (F and DQ). The packed layout
// is unchanged: a 16-float load at offset 16j of a block is the eight values of direction 2j
// followed by direction 2j + 1's, and the row's eight coordinates are loaded into both halves of
// a register, so one 16-lane multiply-add advances two directions. Every lane therefore sums
// the same products in the same order as in the AVX2 kernel above, and the lanes are added
// across the same way: the projections are bit for bit those of the AVX2 kernel (the tests check
// that), and the rounding bound is the same. The sums of squares of rows in groups are the
// exception: they take 16-lane multiply-adds of their own (`wide_add_squares`), half the eight-lane
// ones that otherwise cost a seventh of the arithmetic, and may differ in the last bits (a lone
// row's, folded into its first pass, are still the AVX2 kernel's).
//
// What changes is the blocking. Four rows against twelve directions is 24 accumulators, and
// AVX-512 has 32 registers, so the accumulators of a row group stay in registers over a whole
// slice of 512 coordinates. The groups of a panel of 32 rows take turns over each slice, so the
// slice's directions (24 KiB for twelve) are read from L2 once per panel and from L1 by the
// other groups; the accumulators go through memory between slices (`wide_panel`). Without the
// slices the directions (96 KiB at d = 2048) streamed from L2 once per four rows: 6-9 % slower
// per row with rows from a 16 MiB pool, about 4 % with rows in L2 (projection_harness, one
// caller; with two, within the runs' spread). Lone rows and a batch's last rows (fewer than
// four) take the whole row in one pass.

#define B4B_WIDE __attribute__((target("avx512f,avx512dq,avx2,fma,f16c")))
#define B4B_WIDE_INLINE B4B_WIDE static inline __attribute__((always_inline))

/// Directions 2j and 2j + 1 of one packed block (16 values at element `offset` from `p`), as
/// floats: loaded, or (when `half`) half-precision values widened exactly.
#define B4B_LOAD_PAIR(p, offset, half)                                                       \
    ((half) ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(p) + (offset)))) \
            : _mm512_loadu_ps((const float *)(p) + (offset)))

/// `R` rows (1 to 4) against `G` groups of six packed directions (1 or 2; group 0 at `p`, group
/// 1 at `q`), over `blocks` full blocks of eight coordinates and a masked one when `tail`.
/// `acc[r][3g + j]` receives directions 2j and 2j + 1 of group g for row r (lower and upper
/// eight lanes). When `fold` is not NULL (with `R == 1`) row 0's squares are added to it in one
/// eight-lane chain, as `dot_1x12` adds them. When `carry`, the sums continue from `acc` (the
/// same sums as one longer pass: a slice of a row group's pass, see `wide_panel`). `R`, `G`,
/// `half`, `carry` and whether `fold` is NULL are constants after inlining, so the loops over rows
/// and directions unroll into registers. `head` masks the first block's first `B4B_ROW_SHIFT`
/// lanes (forward walks only).
B4B_WIDE_INLINE void wide_pass_from(const float *const *row, const int R, const void *p, const void *q, const int G,
                                    size_t blocks, int tail, const int32_t *lanes, __m512 acc[4][6], __m256 *fold,
                                    int half, int reverse, int carry, int head) {
    __m512 a[4][6];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 3 * G; j++) a[r][j] = carry ? acc[r][j] : _mm512_setzero_ps();
    __m256 s = fold ? *fold : _mm256_setzero_ps();
    const size_t step = 48 * (half ? sizeof(uint16_t) : sizeof(float));
    const char *pp = (const char *)p, *qq = (const char *)q;
#define B4B_WIDE_STEP(LOAD)                                                                  \
    do {                                                                                     \
        __m512 v[4];                                                                         \
        __m256 v0 = _mm256_setzero_ps();                                                     \
        for (int r = 0; r < R; r++) {                                                        \
            const __m256 x8 = LOAD(r);                                                       \
            if (r == 0) v0 = x8;                                                             \
            v[r] = _mm512_broadcast_f32x8(x8);                                               \
        }                                                                                    \
        if (fold) s = _mm256_fmadd_ps(v0, v0, s);                                            \
        for (int j = 0; j < 3 * G; j++) {                                                    \
            const __m512 w = j < 3 ? B4B_LOAD_PAIR(pp, 16 * j, half) : B4B_LOAD_PAIR(qq, 16 * (j - 3), half); \
            for (int r = 0; r < R; r++) a[r][j] = _mm512_fmadd_ps(v[r], w, a[r][j]);        \
        }                                                                                    \
        if (reverse) { pp -= step; qq -= step; } else { pp += step; qq += step; }            \
    } while (0)
#define B4B_FULL(r) _mm256_loadu_ps(row[r] + 8 * t)
#define B4B_MASKED(r) _mm256_maskload_ps(row[r] + 8 * t, mask)
    if (reverse) {
        size_t t = blocks;
        pp += blocks * step; qq += blocks * step;
        if (tail) {
            const __m256i mask = _mm256_loadu_si256((const __m256i *)lanes);
            B4B_WIDE_STEP(B4B_MASKED);
        } else {
            pp -= step; qq -= step;
        }
        while (t > 0) { t--; B4B_WIDE_STEP(B4B_FULL); }
    } else {
        size_t t = 0;
        // With `head`, the first block's first B4B_ROW_SHIFT lanes precede the row (see
        // `project_rows_wide`): neither read nor added.
        _Static_assert(B4B_ROW_SHIFT == 4, "the head mask covers four lanes");
        const __m256i head_lanes = _mm256_setr_epi32(0, 0, 0, 0, -1, -1, -1, -1);
        if (head && blocks > 0) {
            const __m256i mask = head_lanes;
            B4B_WIDE_STEP(B4B_MASKED);
            t = 1;
        }
        for (; t < blocks; t++) B4B_WIDE_STEP(B4B_FULL);
        if (tail) {
            __m256i mask = _mm256_loadu_si256((const __m256i *)lanes);
            if (head && blocks == 0) mask = _mm256_and_si256(mask, head_lanes);
            B4B_WIDE_STEP(B4B_MASKED);
        }
    }
#undef B4B_FULL
#undef B4B_MASKED
#undef B4B_WIDE_STEP
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 3 * G; j++) acc[r][j] = a[r][j];
    if (fold) *fold = s;
}

/// `wide_pass_from` from zero.
B4B_WIDE_INLINE void wide_pass(const float *const *row, const int R, const void *p, const void *q, const int G,
                               size_t blocks, int tail, const int32_t *lanes, __m512 acc[4][6], __m256 *fold,
                               int half, int reverse, int head) {
    wide_pass_from(row, R, p, q, G, blocks, tail, lanes, acc, fold, half, reverse, 0, head);
}

/// Writes the projections of `R` rows onto directions `c0 ...` (at most `6 G`, fewer when `m`
/// ends first) from `wide_pass` accumulators, adding each direction's eight lanes as `lane_sum`.
B4B_WIDE_INLINE void wide_store(__m512 acc[4][6], int R, int G, size_t c0, size_t m, float *projections,
                                size_t ldp) {
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 3 * G; j++) {
            const size_t c = c0 + 2 * (size_t)j;
            if (c < m) projections[r * ldp + c] = lane_sum(_mm512_castps512_ps256(acc[r][j]));
            if (c + 1 < m) projections[r * ldp + c + 1] = lane_sum(_mm512_extractf32x8_ps(acc[r][j], 1));
        }
}

/// One row group (`R` rows at `row`) against every packed direction, two groups per pass.
/// `fold` as in `wide_pass` (lone rows with two groups or more: squares in the first pass);
/// `head` as in `wide_pass_from` (`d` then counts the `B4B_ROW_SHIFT` coordinates before the rows).
B4B_WIDE_INLINE void wide_group(const float *const *row, const int R, size_t d, const void *packed, size_t m,
                                const int32_t *lanes, float *projections, size_t ldp, __m256 *fold, int half, int head) {
    const size_t blocks = (d + 7) / 8, groups = (m + 5) / 6, full = d / 8;
    const int tail = d % 8 != 0;
    const size_t size = half ? sizeof(uint16_t) : sizeof(float);
    __m512 acc[4][6];
    for (size_t g = 0; g < groups; g += 2) {
        const char *p = (const char *)packed + g * blocks * 48 * size;
        if (g + 1 < groups) {
            if (g == 0 && fold) wide_pass(row, R, p, p + blocks * 48 * size, 2, full, tail, lanes, acc, fold, half, 0, head);
            else wide_pass(row, R, p, p + blocks * 48 * size, 2, full, tail, lanes, acc, NULL, half, 0, head);
            wide_store(acc, R, 2, g * 6, m, projections, ldp);
        } else {
            wide_pass(row, R, p, p, 1, full, tail, lanes, acc, NULL, half, 0, head);
            wide_store(acc, R, 1, g * 6, m, projections, ldp);
        }
    }
}

/// Adds the squares of `x[0 ..< n]` to the 16 lanes of `acc`: four chains of 16 lanes over
/// blocks of 64 coordinates, then one chain (masked at the end) over the rest. Half the
/// multiply-adds of `add_squares`'s eight lanes, on one load each: for a group of rows, whose
/// directions are shared, the squares are otherwise a seventh of the kernel's arithmetic.
///
/// The blocks start at a 64-byte boundary, so that no load straddles two cache lines: the
/// coordinates before `x`'s first boundary come first, in the lanes they occupy in their line
/// (one load of that whole line, masked to them: the lanes before `x` are neither read into the
/// sum nor faulted on). Lane `l` thus sums the coordinates `k` with `(x + k)` in lane `l` of its
/// line, at most `ceil(n / 16)` of them, wherever `x` starts. A row whose start is 64-byte aligned
/// is summed exactly as before; one that is not (a Swift array's elements start 32 bytes into a
/// 16-byte aligned block) no longer pays for a split load per 16 coordinates (about 5 % of the
/// batch kernel's time from memory, measured with rows 32 bytes past a line).
B4B_WIDE_INLINE void wide_add_squares(const float *x, size_t n, __m512 *acc) {
    __m512 s0 = *acc, s1 = _mm512_setzero_ps(), s2 = s1, s3 = s1;
    size_t k = 0;
    const size_t phase = ((uintptr_t)x / sizeof(float)) % 16;  // lane of x[0] in its line
    if (phase != 0 && n > 0) {
        const size_t head = 16 - phase < n ? 16 - phase : n;
        const __m512 v = _mm512_maskz_loadu_ps((__mmask16)(((1u << head) - 1) << phase), x - phase);
        s0 = _mm512_fmadd_ps(v, v, s0);
        k = head;
    }
    for (; k + 64 <= n; k += 64) {
        const __m512 v0 = _mm512_loadu_ps(x + k), v1 = _mm512_loadu_ps(x + k + 16);
        const __m512 v2 = _mm512_loadu_ps(x + k + 32), v3 = _mm512_loadu_ps(x + k + 48);
        s0 = _mm512_fmadd_ps(v0, v0, s0); s1 = _mm512_fmadd_ps(v1, v1, s1);
        s2 = _mm512_fmadd_ps(v2, v2, s2); s3 = _mm512_fmadd_ps(v3, v3, s3);
    }
    for (; k < n; k += 16) {
        const __mmask16 lanes = n - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - k)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(lanes, x + k);
        s0 = _mm512_fmadd_ps(v, v, s0);
    }
    *acc = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
}

/// The sum of the 16 lanes: the upper eight added to the lower eight, then `lane_sum`.
B4B_WIDE_INLINE float wide_lane_sum(__m512 v) {
    return lane_sum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

/// The squares of a row in a group of two or more, as `wide_panel` adds them: `wide_add_squares`
/// over slices of `WIDE_SLICE` coordinates (the first `first`), carried from slice to slice.
/// Each lane sums at most `ceil(d / 16)` squares (lanes follow the row's lines, wherever the
/// slices are cut), plus two additions per slice and four across lanes:
/// within the kernel's `γ_{ceil(d/8)+3}` (additions of a zero lane are exact), and in any order
/// within `γ_d`, which is what the callers' norm bound assumes.
B4B_WIDE_INLINE float sliced_squares(const float *x, size_t d, size_t first) {
    __m512 s = _mm512_setzero_ps();
    for (size_t k0 = 0, next = first; k0 < d; k0 = next, next += WIDE_SLICE)
        wide_add_squares(x + k0, (next < d ? next : d) - k0, &s);
    return wide_lane_sum(s);
}

/// The squares of a lone row when it has only one group of directions (no pass to fold them
/// into): `add_squares` over the whole row, as the AVX2 kernel does.
B4B_WIDE_INLINE float whole_squares(const float *x, size_t d, const int32_t *lanes) {
    __m256 s = _mm256_setzero_ps();
    add_squares(x, d / 8, d % 8 != 0, lanes, &s);
    return lane_sum(s);
}

/// Rows `0 ..< rows` of `x` (a multiple of four, at most `WIDE_PANEL`) against every packed
/// direction, a pair of direction groups at a time and `WIDE_SLICE` coordinates at a time: each
/// row group of the panel advances over a slice of the pair's directions (24 KiB for twelve
/// directions, which then stay in L1) before any moves to the next slice, its accumulators kept
/// here between slices. Each lane still sums its products block after block, so every
/// projection is `wide_group`'s bit for bit; the squares are added in the first pair's passes,
/// one slice at a time, as `sliced_squares` adds them. `shift` and `lead` as in
/// `project_rows_wide` (`x` and `d` then count the shift's coordinates before each row).
B4B_WIDE_INLINE void wide_panel(const float *x, size_t rows, size_t d, size_t ldx, const float *packed, size_t m,
                                const int32_t *lanes, float *projections, size_t ldp, float *sums_of_squares,
                                size_t shift, size_t lead) {
    const size_t blocks = (d + 7) / 8, groups = (m + 5) / 6;
    __m512 acc[WIDE_PANEL / 4][4][6];
    __m512 squares[WIDE_PANEL];
    for (size_t i = 0; i < rows; i++) squares[i] = _mm512_setzero_ps();
    for (size_t g = 0; g < groups; g += 2) {
        const int pair = g + 1 < groups;
        for (size_t k0 = 0, next = WIDE_SLICE - lead; k0 < d; k0 = next, next += WIDE_SLICE) {
            const size_t width = (next < d ? next : d) - k0;
            const int tail = width % 8 != 0, head = k0 == 0 && shift != 0;
            const size_t skip = k0 == 0 ? shift : 0;  // the squares from the row's own first coordinate
            const float *p = packed + (g * blocks + k0 / 8) * 48, *q = pair ? p + blocks * 48 : p;
            for (size_t i = 0; i < rows; i += 4) {
                const float *row[4];
                for (int r = 0; r < 4; r++) row[r] = x + (i + (size_t)r) * ldx + k0;
                if (pair) {
                    if (head) wide_pass_from(row, 4, p, q, 2, width / 8, tail, lanes, acc[i / 4], NULL, 0, 0, 0, 1);
                    else if (k0 == 0) wide_pass_from(row, 4, p, q, 2, width / 8, tail, lanes, acc[i / 4], NULL, 0, 0, 0, 0);
                    else wide_pass_from(row, 4, p, q, 2, width / 8, tail, lanes, acc[i / 4], NULL, 0, 0, 1, 0);
                } else {
                    if (head) wide_pass_from(row, 4, p, q, 1, width / 8, tail, lanes, acc[i / 4], NULL, 0, 0, 0, 1);
                    else if (k0 == 0) wide_pass_from(row, 4, p, q, 1, width / 8, tail, lanes, acc[i / 4], NULL, 0, 0, 0, 0);
                    else wide_pass_from(row, 4, p, q, 1, width / 8, tail, lanes, acc[i / 4], NULL, 0, 0, 1, 0);
                }
                if (g == 0)
                    for (int r = 0; r < 4; r++) wide_add_squares(row[r] + skip, width - skip, &squares[i + (size_t)r]);
            }
        }
        for (size_t i = 0; i < rows; i += 4) wide_store(acc[i / 4], 4, pair ? 2 : 1, g * 6, m, projections + i * ldp, ldp);
    }
    for (size_t i = 0; i < rows; i++) sums_of_squares[i] = wide_lane_sum(squares[i]);
}

/// Where the rows start decides how they are read (`shift`, `lead`): the kernel's loads are
/// 32 bytes and a slice is 512 coordinates, so rows whose lines all start at the same place
/// (`ldx` a multiple of 16 floats; four rows or more, so that there are panels) and that start
/// 16 or 48 bytes past a cache line (a large Swift array's elements start 48 bytes past one)
/// are read from `B4B_ROW_SHIFT` floats earlier
/// against `packed_shifted` (when given), the first block's first lanes masked off, so that no
/// load straddles two lines; and the first slice is cut `lead` (0 or 8) coordinates short so
/// that every later slice starts on a line, rather than sharing its first line with the slice
/// before (read again from L2 after the panel's other rows). Both took about 4 % off the time
/// of rows 48 bytes past a line (paired rounds, 16 MiB pools). Neither changes any lane's order
/// of summation for a given `shift`; with the shift the lanes hold other coordinates, so the
/// values may differ in the last bits, within `γ_{ceil((d+B4B_ROW_SHIFT)/8)+3}`.
/// Returns the shift taken.
B4B_WIDE static size_t project_rows_wide(const float *x, size_t rows, size_t d, size_t ldx,
                                         const float *packed, const float *packed_shifted, size_t m,
                                         float *projections, size_t ldp, float *sums_of_squares) {
    const size_t groups = (m + 5) / 6;
    size_t shift = 0, lead = 0;
    if (rows >= 4 && ldx % 16 == 0) {
        const size_t phase = ((uintptr_t)x / sizeof(float)) % 16;  // lane of x[0] in its line
        if (packed_shifted && phase % 8 == B4B_ROW_SHIFT) shift = B4B_ROW_SHIFT;
        if ((phase + 16 - shift) % 16 == 8) lead = 8;
    }
    if (shift) packed = packed_shifted;
    const size_t dp = d + shift;
    const int head = shift != 0;
    int32_t lanes[8], row_lanes[8];
    tail_lanes(dp, lanes);
    tail_lanes(d, row_lanes);
    // Whole groups of four rows by panels (directions by slices, in L1); the rest as before.
    const size_t grouped = groups > 0 ? rows / 4 * 4 : 0;
    for (size_t r0 = 0; r0 < grouped; r0 += WIDE_PANEL) {
        const size_t n = grouped - r0 < WIDE_PANEL ? grouped - r0 : WIDE_PANEL;
        wide_panel(x + r0 * ldx - shift, n, dp, ldx, packed, m, lanes, projections + r0 * ldp, ldp, sums_of_squares + r0, shift, lead);
    }
    for (size_t r0 = grouped; r0 < rows; r0 += ROWS_PER_GROUP) {
        const size_t nr = rows - r0 < ROWS_PER_GROUP ? rows - r0 : ROWS_PER_GROUP;
        const float *row[ROWS_PER_GROUP];
        for (size_t i = 0; i < nr; i++) row[i] = x + (r0 + i) * ldx - shift;
        float *out = projections + r0 * ldp;
        switch (nr) {
        case 4: wide_group(row, 4, dp, packed, m, lanes, out, ldp, NULL, 0, head); break;
        case 3: wide_group(row, 3, dp, packed, m, lanes, out, ldp, NULL, 0, head); break;
        case 2: wide_group(row, 2, dp, packed, m, lanes, out, ldp, NULL, 0, head); break;
        default: {
            if (groups >= 2) {
                __m256 s = _mm256_setzero_ps();  // masked lanes load as zeros: the row's own squares
                wide_group(row, 1, dp, packed, m, lanes, out, ldp, &s, 0, head);
                sums_of_squares[r0] = lane_sum(s);
            } else {
                wide_group(row, 1, dp, packed, m, lanes, out, ldp, NULL, 0, head);
                sums_of_squares[r0] = whole_squares(row[0] + shift, d, row_lanes);
            }
            continue;
        }
        }
        for (size_t i = 0; i < nr; i++) sums_of_squares[r0 + i] = sliced_squares(row[i] + shift, d, WIDE_SLICE - lead - shift);
    }
    return shift;
}

/// One row against every packed direction like `wide_group` with `R == 1`, but walked from the
/// far end: the last pair of groups first, each pass from the last block of coordinates to the
/// first. The row's squares are folded into the first pass (whatever its number of groups).
/// Every lane still sums one product per block, so the rounding depth is that of the ascending
/// walk, `ceil(d / 8) + 3`; the values may differ from it in the last bits.
B4B_WIDE static void project_row_wide_descending(const float *x, size_t d, const float *packed, size_t m,
                                                 float *projections, float *sum_of_squares) {
    int32_t lanes[8];
    tail_lanes(d, lanes);
    const float *row[1] = {x};
    const size_t blocks = (d + 7) / 8, groups = (m + 5) / 6, full = d / 8;
    const int tail = d % 8 != 0;
    __m512 acc[4][6];
    __m256 s = _mm256_setzero_ps();
    for (size_t g = (groups - 1) / 2 * 2;; g -= 2) {
        const float *p = packed + g * blocks * 48;
        __m256 *fold = g + 2 >= groups ? &s : NULL;  // the first pass walked
        if (g + 1 < groups) {
            if (fold) wide_pass(row, 1, p, p + blocks * 48, 2, full, tail, lanes, acc, fold, 0, 1, 0);
            else wide_pass(row, 1, p, p + blocks * 48, 2, full, tail, lanes, acc, NULL, 0, 1, 0);
            wide_store(acc, 1, 2, g * 6, m, projections, 0);
        } else {
            if (fold) wide_pass(row, 1, p, p, 1, full, tail, lanes, acc, fold, 0, 1, 0);
            else wide_pass(row, 1, p, p, 1, full, tail, lanes, acc, NULL, 0, 1, 0);
            wide_store(acc, 1, 1, g * 6, m, projections, 0);
        }
        if (g == 0) break;
    }
    *sum_of_squares = lane_sum(s);
}

B4B_WIDE static void screen_row_wide(const float *x, size_t d, const uint16_t *packed, size_t m,
                                     float *projections, float *sum_of_squares) {
    int32_t lanes[8];
    tail_lanes(d, lanes);
    const float *row[1] = {x};
    if ((m + 5) / 6 >= 2) {
        __m256 s = _mm256_setzero_ps();
        wide_group(row, 1, d, packed, m, lanes, projections, 0, &s, 1, 0);
        *sum_of_squares = lane_sum(s);
    } else {
        wide_group(row, 1, d, packed, m, lanes, projections, 0, NULL, 1, 0);
        *sum_of_squares = whole_squares(x, d, lanes);
    }
}

/// `projections` holds doubles when `doubles` (`b4b_threshold_bits_f64`), else floats.
B4B_WIDE static void threshold_bits_wide(const void *projections, int doubles, const double *thresholds, const double *scales,
                                         const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    for (size_t w = 0; w < (m + 63) / 64; w++) signs[w] = uncertain[w] = 0;
    const __m512d b = _mm512_set1_pd(bound), zero = _mm512_setzero_pd(), infinity = _mm512_set1_pd((double)INFINITY);
    for (size_t c = 0; c < m; c += 8) {
        const __mmask8 lanes = m - c >= 8 ? 0xFF : (__mmask8)((1u << (m - c)) - 1);
        const __m512d p = doubles ? _mm512_maskz_loadu_pd(lanes, (const double *)projections + c)
                                  : _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)lanes, (const float *)projections + c)));
        const __m512d distance = _mm512_sub_pd(p, _mm512_maskz_loadu_pd(lanes, thresholds + c));
        const __m512d tolerance = _mm512_add_pd(_mm512_mul_pd(b, _mm512_maskz_loadu_pd(lanes, scales + c)),
                                                _mm512_maskz_loadu_pd(lanes, slack + c));
        const __m512d magnitude = _mm512_abs_pd(distance);
        const __mmask8 sure = _mm512_cmp_pd_mask(magnitude, tolerance, _CMP_GT_OQ) & _mm512_cmp_pd_mask(magnitude, infinity, _CMP_LT_OQ);
        const __mmask8 positive = _mm512_cmp_pd_mask(distance, zero, _CMP_GT_OQ);
        // c is a multiple of 8: the eight bits land in one word.
        signs[c / 64] |= (uint64_t)(positive & lanes) << (c % 64);
        uncertain[c / 64] |= (uint64_t)((__mmask8)~sure & lanes) << (c % 64);
    }
}

/// The AVX-512 form of `b4b_threshold_bits_rows`. With at most 16 directions (one word of bits
/// per row) the directions' thresholds, scales and slack sit in registers for the whole batch and
/// each row takes one load of its projections; the doubles computed are `threshold_bits_wide`'s
/// (a product, then a sum: never fused), so the bits are too. More directions go row by row.
B4B_WIDE static size_t threshold_bits_rows_wide(const float *projections, size_t ldp, size_t rows,
                                                const float *sums_of_squares, double gamma, double inflation,
                                                const double *thresholds, const double *scales, const double *slack,
                                                size_t m, uint64_t *signs, uint64_t *uncertain) {
    if (m == 0 || m > 16)
        return threshold_bits_rows_each(threshold_bits_wide, projections, ldp, rows, sums_of_squares, gamma, inflation,
                                        thresholds, scales, slack, m, signs, uncertain);
    const __mmask8 low = m >= 8 ? 0xFF : (__mmask8)((1u << m) - 1);
    const __mmask8 high = m > 8 ? (__mmask8)((1u << (m - 8)) - 1) : 0;
    const __m512d t0 = _mm512_maskz_loadu_pd(low, thresholds), t1 = _mm512_maskz_loadu_pd(high, thresholds + 8);
    const __m512d c0 = _mm512_maskz_loadu_pd(low, scales), c1 = _mm512_maskz_loadu_pd(high, scales + 8);
    const __m512d k0 = _mm512_maskz_loadu_pd(low, slack), k1 = _mm512_maskz_loadu_pd(high, slack + 8);
    const __m512d zero = _mm512_setzero_pd(), infinity = _mm512_set1_pd((double)INFINITY);
    const __mmask16 lanes = (__mmask16)(low | (unsigned)high << 8);
    for (size_t r = 0; r < rows; r++) {
        const float s = sums_of_squares[r];
        if (!isfinite(s)) return r;
        const __m512d b = _mm512_set1_pd(row_bound(s, gamma, inflation));
        const __m512 p = _mm512_maskz_loadu_ps(lanes, projections + r * ldp);
        const __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(p)), t0);
        const __m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(p, 1)), t1);
        const __m512d tol0 = _mm512_add_pd(_mm512_mul_pd(b, c0), k0), tol1 = _mm512_add_pd(_mm512_mul_pd(b, c1), k1);
        const __m512d a0 = _mm512_abs_pd(d0), a1 = _mm512_abs_pd(d1);
        const __mmask8 sure0 = _mm512_cmp_pd_mask(a0, tol0, _CMP_GT_OQ) & _mm512_cmp_pd_mask(a0, infinity, _CMP_LT_OQ);
        const __mmask8 sure1 = _mm512_cmp_pd_mask(a1, tol1, _CMP_GT_OQ) & _mm512_cmp_pd_mask(a1, infinity, _CMP_LT_OQ);
        const __mmask8 positive0 = _mm512_cmp_pd_mask(d0, zero, _CMP_GT_OQ), positive1 = _mm512_cmp_pd_mask(d1, zero, _CMP_GT_OQ);
        signs[r] = (uint64_t)(positive0 & low) | (uint64_t)(positive1 & high) << 8;
        uncertain[r] = (uint64_t)((__mmask8)~sure0 & low) | (uint64_t)((__mmask8)~sure1 & high) << 8;
    }
    return rows;
}

// MARK: - Dispatch

/// -1 until the CPU has been queried, then its level (0, 1 or 2). Threads racing on the first
/// call each query the CPU and store the same answer, so relaxed atomics suffice.
static _Atomic int kernelLevel = -1;

int b4b_projection_level(void) {
    int level = atomic_load_explicit(&kernelLevel, memory_order_relaxed);
    if (level < 0) {
        __builtin_cpu_init();
        level = 0;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
            level = 1;
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) level = 2;
        }
        atomic_store_explicit(&kernelLevel, level, memory_order_relaxed);
    }
    return level;
}

int b4b_projection_available(void) { return b4b_projection_level() >= 1; }

int b4b_project_rows_f32_at(int level, const float *x, size_t rows, size_t d, size_t ldx,
                            const float *packed, size_t m,
                            float *projections, size_t ldp, float *sums_of_squares) {
    if (level < 1 || level > b4b_projection_level()) return 0;
    if (level == 2) (void)project_rows_wide(x, rows, d, ldx, packed, NULL, m, projections, ldp, sums_of_squares);
    else project_rows(x, rows, d, ldx, packed, m, projections, ldp, sums_of_squares);
    return 1;
}

int b4b_project_rows_f32(const float *x, size_t rows, size_t d, size_t ldx,
                         const float *packed, size_t m,
                         float *projections, size_t ldp, float *sums_of_squares) {
    return b4b_project_rows_f32_at(b4b_projection_level(), x, rows, d, ldx, packed, m, projections, ldp, sums_of_squares);
}

int b4b_project_rows_f32_wide(const float *x, size_t rows, size_t d, size_t ldx,
                              const float *packed, const float *packed_shifted, size_t m,
                              float *projections, size_t ldp, float *sums_of_squares) {
    if (b4b_projection_level() < 2) return 0;
    const size_t shift = project_rows_wide(x, rows, d, ldx, packed, packed_shifted, m, projections, ldp, sums_of_squares);
    return (int)((d + shift + 7) / 8 + 3);
}

/// Both forms of `b4b_threshold_bits` at `level` (-1: the widest this CPU runs); 0 when it cannot
/// run that level. `projections` holds doubles when `doubles`.
static int threshold_bits_at(int level, const void *projections, int doubles, const double *thresholds,
                             const double *scales, const double *slack, double bound, size_t m,
                             uint64_t *signs, uint64_t *uncertain) {
    if (level < 0) level = b4b_projection_level();
    else if (level > b4b_projection_level()) return 0;
    if (level >= 2) threshold_bits_wide(projections, doubles, thresholds, scales, slack, bound, m, signs, uncertain);
    else threshold_bits_portable(projections, doubles, thresholds, scales, slack, bound, m, signs, uncertain);
    return 1;
}

void b4b_threshold_bits(const float *projections, const double *thresholds, const double *scales,
                        const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    threshold_bits_at(-1, projections, 0, thresholds, scales, slack, bound, m, signs, uncertain);
}

int b4b_threshold_bits_at(int level, const float *projections, const double *thresholds, const double *scales,
                          const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    return level < 0 ? 0 : threshold_bits_at(level, projections, 0, thresholds, scales, slack, bound, m, signs, uncertain);
}

void b4b_threshold_bits_f64(const double *projections, const double *thresholds, const double *scales,
                            const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    threshold_bits_at(-1, projections, 1, thresholds, scales, slack, bound, m, signs, uncertain);
}

int b4b_threshold_bits_f64_at(int level, const double *projections, const double *thresholds, const double *scales,
                              const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    return level < 0 ? 0 : threshold_bits_at(level, projections, 1, thresholds, scales, slack, bound, m, signs, uncertain);
}

/// `b4b_threshold_bits_rows` at `level` (-1: the widest this CPU runs); `(size_t)-1` when it
/// cannot run that level.
static size_t threshold_bits_rows_at(int level, const float *projections, size_t ldp, size_t rows,
                                     const float *sums_of_squares, double gamma, double inflation,
                                     const double *thresholds, const double *scales, const double *slack, size_t m,
                                     uint64_t *signs, uint64_t *uncertain) {
    if (level < 0) level = b4b_projection_level();
    else if (level > b4b_projection_level()) return (size_t)-1;
    if (level >= 2)
        return threshold_bits_rows_wide(projections, ldp, rows, sums_of_squares, gamma, inflation, thresholds, scales,
                                        slack, m, signs, uncertain);
    return threshold_bits_rows_each(threshold_bits_portable, projections, ldp, rows, sums_of_squares, gamma, inflation,
                                    thresholds, scales, slack, m, signs, uncertain);
}

size_t b4b_threshold_bits_rows(const float *projections, size_t ldp, size_t rows, const float *sums_of_squares,
                               double gamma, double inflation, const double *thresholds, const double *scales,
                               const double *slack, size_t m, uint64_t *signs, uint64_t *uncertain) {
    return threshold_bits_rows_at(-1, projections, ldp, rows, sums_of_squares, gamma, inflation, thresholds, scales,
                                  slack, m, signs, uncertain);
}

size_t b4b_threshold_bits_rows_at(int level, const float *projections, size_t ldp, size_t rows,
                                  const float *sums_of_squares, double gamma, double inflation,
                                  const double *thresholds, const double *scales, const double *slack, size_t m,
                                  uint64_t *signs, uint64_t *uncertain) {
    if (level < 0) return (size_t)-1;
    return threshold_bits_rows_at(level, projections, ldp, rows, sums_of_squares, gamma, inflation, thresholds, scales,
                                  slack, m, signs, uncertain);
}

int b4b_project_row_f32_descending(const float *x, size_t d, const float *packed, size_t m,
                                   float *projections, float *sum_of_squares) {
    if (b4b_projection_level() < 2) return 0;
    if (m == 0) return b4b_project_rows_f32_at(2, x, 1, d, d, packed, m, projections, 0, sum_of_squares);
    project_row_wide_descending(x, d, packed, m, projections, sum_of_squares);
    return 1;
}

/// Which way this thread's previous lone row walked (see `b4b_lone_row_turn`).
static _Thread_local unsigned char loneRowTurn;

int b4b_lone_row_turn(void) {
    loneRowTurn ^= 1;
    return loneRowTurn;
}

int b4b_screen_row_f16_at(int level, const float *x, size_t d, const uint16_t *packed, size_t m,
                          float *projections, float *sum_of_squares) {
    if (level < 1 || level > b4b_projection_level()) return 0;
    if (level == 2) screen_row_wide(x, d, packed, m, projections, sum_of_squares);
    else screen_row(x, d, packed, m, projections, sum_of_squares);
    return 1;
}

int b4b_screen_row_f16(const float *x, size_t d, const uint16_t *packed, size_t m,
                       float *projections, float *sum_of_squares) {
    return b4b_screen_row_f16_at(b4b_projection_level(), x, d, packed, m, projections, sum_of_squares);
}

int b4b_dot_f32(const float *x, const float *p, size_t d, float *result) {
    if (!b4b_projection_available()) return 0;
    *result = dot(x, p, d);
    return 1;
}

#else  // not x86-64 with a GCC-compatible compiler: no kernel, the BLAS path runs

int b4b_projection_level(void) { return 0; }

int b4b_projection_available(void) { return 0; }

int b4b_project_rows_f32_at(int level, const float *x, size_t rows, size_t d, size_t ldx,
                            const float *packed, size_t m,
                            float *projections, size_t ldp, float *sums_of_squares) {
    (void)level;
    return b4b_project_rows_f32(x, rows, d, ldx, packed, m, projections, ldp, sums_of_squares);
}

int b4b_screen_row_f16_at(int level, const float *x, size_t d, const uint16_t *packed, size_t m,
                          float *projections, float *sum_of_squares) {
    (void)level;
    return b4b_screen_row_f16(x, d, packed, m, projections, sum_of_squares);
}

int b4b_project_rows_f32_wide(const float *x, size_t rows, size_t d, size_t ldx,
                              const float *packed, const float *packed_shifted, size_t m,
                              float *projections, size_t ldp, float *sums_of_squares) {
    (void)x; (void)rows; (void)d; (void)ldx; (void)packed; (void)packed_shifted; (void)m;
    (void)projections; (void)ldp; (void)sums_of_squares;
    return 0;
}

int b4b_project_rows_f32(const float *x, size_t rows, size_t d, size_t ldx,
                         const float *packed, size_t m,
                         float *projections, size_t ldp, float *sums_of_squares) {
    (void)x; (void)rows; (void)d; (void)ldx; (void)packed; (void)m;
    (void)projections; (void)ldp; (void)sums_of_squares;
    return 0;
}

int b4b_screen_row_f16(const float *x, size_t d, const uint16_t *packed, size_t m,
                       float *projections, float *sum_of_squares) {
    (void)x; (void)d; (void)packed; (void)m; (void)projections; (void)sum_of_squares;
    return 0;
}

int b4b_dot_f32(const float *x, const float *p, size_t d, float *result) {
    (void)x; (void)p; (void)d; (void)result;
    return 0;
}

int b4b_project_row_f32_descending(const float *x, size_t d, const float *packed, size_t m,
                                   float *projections, float *sum_of_squares) {
    (void)x; (void)d; (void)packed; (void)m; (void)projections; (void)sum_of_squares;
    return 0;
}

int b4b_lone_row_turn(void) { return 0; }

void b4b_threshold_bits(const float *projections, const double *thresholds, const double *scales,
                        const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    threshold_bits_portable(projections, 0, thresholds, scales, slack, bound, m, signs, uncertain);
}

int b4b_threshold_bits_at(int level, const float *projections, const double *thresholds, const double *scales,
                          const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    if (level != 0) return 0;
    threshold_bits_portable(projections, 0, thresholds, scales, slack, bound, m, signs, uncertain);
    return 1;
}

void b4b_threshold_bits_f64(const double *projections, const double *thresholds, const double *scales,
                            const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    threshold_bits_portable(projections, 1, thresholds, scales, slack, bound, m, signs, uncertain);
}

int b4b_threshold_bits_f64_at(int level, const double *projections, const double *thresholds, const double *scales,
                              const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain) {
    if (level != 0) return 0;
    threshold_bits_portable(projections, 1, thresholds, scales, slack, bound, m, signs, uncertain);
    return 1;
}

size_t b4b_threshold_bits_rows(const float *projections, size_t ldp, size_t rows, const float *sums_of_squares,
                               double gamma, double inflation, const double *thresholds, const double *scales,
                               const double *slack, size_t m, uint64_t *signs, uint64_t *uncertain) {
    return threshold_bits_rows_each(threshold_bits_portable, projections, ldp, rows, sums_of_squares, gamma, inflation,
                                    thresholds, scales, slack, m, signs, uncertain);
}

size_t b4b_threshold_bits_rows_at(int level, const float *projections, size_t ldp, size_t rows,
                                  const float *sums_of_squares, double gamma, double inflation,
                                  const double *thresholds, const double *scales, const double *slack, size_t m,
                                  uint64_t *signs, uint64_t *uncertain) {
    if (level != 0) return (size_t)-1;
    return threshold_bits_rows_each(threshold_bits_portable, projections, ldp, rows, sums_of_squares, gamma, inflation,
                                    thresholds, scales, slack, m, signs, uncertain);
}

#endif
