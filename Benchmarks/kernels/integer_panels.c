// A timing prototype, not an engine kernel: what a batch's projections would cost as 16-bit
// integer products (`vpdpwssd`) instead of the float kernel's multiply-adds, on CPUs with
// AVX-512 VNNI. Benchmarks/KERNELS.md ("Batches in 16-bit integers on Zen 5") has the readings.
//
//   clang -O2 -I Sources/CProjectionKernels/include Benchmarks/kernels/integer_panels.c
//       Sources/CProjectionKernels/ProjectionKernels.c Sources/CProjectionKernels/SignKernel.c
//       Sources/CProjectionKernels/IntegerKernel.c -lm -o /tmp/integer_panels
//   /tmp/integer_panels POOL_ROWS BATCH [REPETITIONS] [float|integers|convert|products] [ROWS]
//
// Rows of d = 2048 floats from a pool of POOL_ROWS rows (2048: 16 MiB, beyond L2; 32: in L1 and
// L2) against twelve directions, BATCH rows per call, ROWS rows per repetition (default 200 000),
// one thread.
// `float`: the engine's batch kernel (`b4b_project_rows_f32`). `integers`: the prototype, in
// panels of 16 rows: each row is measured (sum of squares, largest magnitude) and converted to
// 16-bit integers at one fixed scale into a buffer, then groups of four rows meet six directions
// at a time (24 accumulators of 16 32-bit lanes), over slices of 512 coordinates, with the
// directions packed by `b4b_integer_pack`. `convert`: only the first part; `products`: only the
// second (on whatever the buffer holds). The prototype has no scale choice, no rounding bound and
// no recheck: it times the arithmetic and the reads such a kernel could not avoid. Prints the
// median and best ns per row over the repetitions (default 9). No assertions: a measurement tool.

#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CProjectionKernels.h"

#define B4B_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vnni")))
#define B4B_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

enum { D = 2048, BLOCK = 32, GROUP = 12, PANEL = 16, SLICE = 16 };

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/// Measures row `x` and writes its coordinates times `scale` as 16-bit integers (the lone-row
/// kernel's order within each block of 32), two blocks per step so that no chain of additions
/// or maxima waits on its own latency.
B4B_VNNI static void convert_row(const float *x, __m512 scale, int16_t *out, float *squares, float *largest) {
    __m512 q[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    __m512 big[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (size_t k = 0; k < D; k += 2 * BLOCK) {
        for (int h = 0; h < 2; h++) {
            const __m512 lo = _mm512_loadu_ps(x + k + 32 * h), hi = _mm512_loadu_ps(x + k + 32 * h + 16);
            q[2 * h] = _mm512_fmadd_ps(lo, lo, q[2 * h]);
            q[2 * h + 1] = _mm512_fmadd_ps(hi, hi, q[2 * h + 1]);
            big[h] = _mm512_range_ps(big[h], _mm512_range_ps(lo, hi, 0x0B), 0x0B);
            const __m512i a = _mm512_cvt_roundps_epi32(_mm512_mul_round_ps(lo, scale, B4B_NEAREST), B4B_NEAREST);
            const __m512i b = _mm512_cvt_roundps_epi32(_mm512_mul_round_ps(hi, scale, B4B_NEAREST), B4B_NEAREST);
            _mm512_store_si512((void *)(out + k + 32 * h), _mm512_packs_epi32(a, b));
        }
    }
    *squares = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(q[0], q[1]), _mm512_add_ps(q[2], q[3])));
    *largest = _mm512_reduce_max_ps(_mm512_range_ps(big[0], big[1], 0x0B));
}

/// Four converted rows (`rows`, `D` apart) against directions `j0 ..< j0 + 6` over blocks
/// `b0 ..< b1`, into `acc[r][j]`.
B4B_VNNI static void four_by_six(const int16_t *rows, const int16_t *packed, size_t j0, size_t b0, size_t b1,
                                 __m512i acc[4][6]) {
    __m512i a[4][6];
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 6; j++) a[r][j] = acc[r][j];
    for (size_t b = b0; b < b1; b++) {
        const int16_t *p = packed + (b * GROUP + j0) * BLOCK;
        const __m512i v0 = _mm512_load_si512((const void *)(rows + b * BLOCK));
        const __m512i v1 = _mm512_load_si512((const void *)(rows + D + b * BLOCK));
        const __m512i v2 = _mm512_load_si512((const void *)(rows + 2 * D + b * BLOCK));
        const __m512i v3 = _mm512_load_si512((const void *)(rows + 3 * D + b * BLOCK));
#pragma clang loop unroll(full)
        for (int j = 0; j < 6; j++) {
            const __m512i w = _mm512_load_si512((const void *)(p + j * BLOCK));
            a[0][j] = _mm512_dpwssd_epi32(a[0][j], v0, w);
            a[1][j] = _mm512_dpwssd_epi32(a[1][j], v1, w);
            a[2][j] = _mm512_dpwssd_epi32(a[2][j], v2, w);
            a[3][j] = _mm512_dpwssd_epi32(a[3][j], v3, w);
        }
    }
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 6; j++) acc[r][j] = a[r][j];
}

/// The prototype over `rows` rows (a multiple of 4): `parts` 1 converts, 2 multiplies, 3 both.
B4B_VNNI static double integer_rows(const float *x, size_t rows, const int16_t *packed, int16_t *buffer, int parts) {
    const __m512 scale = _mm512_set1_ps(3000.0f);
    double checksum = 0;
    for (size_t r0 = 0; r0 < rows; r0 += PANEL) {
        const size_t panel = rows - r0 < PANEL ? rows - r0 : PANEL;
        float squares = 0, largest = 0;
        if (parts & 1)
            for (size_t r = 0; r < panel; r++) convert_row(x + (r0 + r) * D, scale, buffer + r * D, &squares, &largest);
        checksum += squares + largest;
        if (!(parts & 2)) continue;
        __m512i sums[PANEL][GROUP];
        for (size_t r = 0; r < panel; r++)
            for (int j = 0; j < GROUP; j++) sums[r][j] = _mm512_setzero_si512();
        for (size_t b0 = 0; b0 < D / BLOCK; b0 += SLICE)
            for (size_t i = 0; i + 4 <= panel; i += 4)
                for (size_t j0 = 0; j0 < GROUP; j0 += 6) {
                    __m512i acc[4][6];
                    for (int r = 0; r < 4; r++)
                        for (int j = 0; j < 6; j++) acc[r][j] = sums[i + (size_t)r][j0 + (size_t)j];
                    four_by_six(buffer + i * D, packed, j0, b0, b0 + SLICE, acc);
                    for (int r = 0; r < 4; r++)
                        for (int j = 0; j < 6; j++) sums[i + (size_t)r][j0 + (size_t)j] = acc[r][j];
                }
        // Each lane's sum is exact; the sixteen lanes are added in 64 bits.
        for (size_t r = 0; r < panel; r++)
            for (int j = 0; j < GROUP; j++) {
                const __m512i w = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(sums[r][j])),
                                                   _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(sums[r][j], 1)));
                checksum += (double)_mm512_reduce_add_epi64(w);
            }
    }
    return checksum;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s POOL_ROWS BATCH [REPETITIONS] [float|integers|convert|products] [ROWS]\n", argv[0]);
        return 2;
    }
    const long pool = atol(argv[1]), batch = atol(argv[2]), repetitions = argc > 3 ? atol(argv[3]) : 9;
    const char *kind = argc > 4 ? argv[4] : "integers";
    const long rows_per_repetition = argc > 5 ? atol(argv[5]) : 200000;
    const int parts = strcmp(kind, "integers") == 0 ? 3 : strcmp(kind, "convert") == 0 ? 1 : strcmp(kind, "products") == 0 ? 2 : 0;
    if (pool <= 0 || batch <= 0 || batch % 4 != 0 || batch > pool || repetitions <= 0 || repetitions > 1000 ||
        rows_per_repetition <= 0 ||
        (parts == 0 && strcmp(kind, "float") != 0)) {
        fprintf(stderr, "POOL_ROWS >= BATCH > 0 with BATCH a multiple of 4, 1 to 1000 REPETITIONS, and the kind "
                        "'float', 'integers', 'convert' or 'products', and a positive ROWS, please\n");
        return 2;
    }
    if (!b4b_integer_screening_available() || !b4b_projection_available()) {
        printf("this CPU lacks AVX-512 VNNI: the prototype does not run here\n");
        return 0;
    }
    float *directions = malloc(GROUP * D * sizeof(float));
    float *packed = aligned_alloc(64, (b4b_projection_packed_count(GROUP, D) * sizeof(float) + 63) / 64 * 64);
    int16_t *integers = aligned_alloc(64, (b4b_integer_packed_count(GROUP, D) * sizeof(int16_t) + 63) / 64 * 64);
    int16_t *buffer = aligned_alloc(64, PANEL * D * sizeof(int16_t));
    float *x = malloc((size_t)pool * D * sizeof(float)), *projections = malloc((size_t)batch * GROUP * sizeof(float));
    float *squares = malloc((size_t)batch * sizeof(float));
    double *per_row = malloc((size_t)repetitions * sizeof(double)), unscale[GROUP], error_scales[GROUP];
    if (!directions || !packed || !integers || !buffer || !x || !projections || !squares || !per_row) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < GROUP * D; i++) directions[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)pool * D; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    memset(buffer, 0, PANEL * D * sizeof(int16_t));
    b4b_projection_pack(directions, GROUP, D, D, packed);
    if (!b4b_integer_pack(directions, GROUP, D, D, integers, unscale, error_scales)) {
        fprintf(stderr, "the directions did not pack as integers\n");
        return 1;
    }
    double checksum = 0;
    const long calls = (rows_per_repetition + batch - 1) / batch;
    long offset = 0;
    for (long r = 0; r < repetitions; r++) {
        const double t0 = seconds();
        for (long c = 0; c < calls; c++) {
            const float *rows = x + (size_t)offset * D;
            if (parts) checksum += integer_rows(rows, (size_t)batch, integers, buffer, parts);
            else {
                b4b_project_rows_f32(rows, (size_t)batch, D, D, packed, GROUP, projections, GROUP, squares);
                checksum += squares[0];
            }
            offset += batch;
            if (offset + batch > pool) offset = 0;
        }
        per_row[r] = (seconds() - t0) / (double)(calls * batch) * 1e9;
    }
    qsort(per_row, (size_t)repetitions, sizeof(double), by_value);
    printf("%s, d %d, pool %ld rows (%.1f MiB), batch %ld: median %.0f ns per row (best %.0f) (checksum %g)\n", kind, D,
           pool, (double)pool * D * sizeof(float) / (1 << 20), batch, per_row[repetitions / 2], per_row[0], checksum);
    free(directions); free(packed); free(integers); free(buffer); free(x); free(projections); free(squares); free(per_row);
    return 0;
}
