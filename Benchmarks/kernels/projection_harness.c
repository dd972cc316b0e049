// Times the hashing projection kernel (Sources/CProjectionKernels) alone, outside Swift, to see
// what the kernel costs with its rows in cache and with its rows coming from memory.
//
//   clang -O2 -pthread -I Sources/CProjectionKernels/include Benchmarks/kernels/projection_harness.c
//       Sources/CProjectionKernels/ProjectionKernels.c Sources/CProjectionKernels/SignKernel.c
//       Sources/CProjectionKernels/IntegerKernel.c -lm -o /tmp/projection_harness
//   /tmp/projection_harness POOL_ROWS BATCH [DIMENSION] [ROWS_PER_REPETITION] [REPETITIONS] [THREADS]
//       [float|alternate|half|signs|integers|read|read-panels|overlap|overlap-panels] [SPAN]
//
// The kernel projects BATCH rows per call onto 12 directions (and sums their squares), walking
// through a pool of POOL_ROWS rows: a pool larger than the caches (e.g. 16384 rows at d = 2048,
// 128 MiB) puts the rows in DRAM, one of a few MiB keeps them in cache. THREADS callers (default
// 1) run at once, each through its own pool and sharing the packed directions, as the benchmark's
// workers do; every repetition starts them together and times until the last one finishes.
// Prints the median and best time per row over the repetitions (default 15 repetitions of
// 200 000 rows per caller; the wall time divided by all callers' rows) and the useful GFLOP/s of
// the median (2 d 13 per row: 12 projections and the sum of squares). The last argument picks the
// kernel: `float` (default, `b4b_project_rows_f32`) or `half` (`b4b_screen_row_f16`, the
// screening pass over half-precision directions that lone rows take; BATCH must be 1) or `signs`
// (`b4b_sign_row_f32`, a lone row against sign directions held as bits, AVX-512 only; BATCH must
// be 1; the directions are then ±1, which changes nothing for the other kernels' cost) or
// `alternate` (lone rows as the engine projects them on AVX-512: every other row walks the
// directions backwards, `b4b_project_row_f32_descending`, as `b4b_lone_row_turn` says; BATCH must
// be 1) or `integers` (`b4b_integer_screen_row`, the integer screening pass that lone rows take
// where the CPU has AVX-512 VNNI, walking back and forth as the engine does; BATCH must be 1) or
// `read` (no kernel: each row of the batch is only read, summed in 8 lanes, to see what the
// rows' trip from the pool costs alone under the same conditions) or `read-panels` (the same
// reads in the AVX-512 batch kernel's order: panels of 32 rows, slices of 512 coordinates, groups
// of four rows advancing 8 coordinates each in turn; whole groups of four only) or `overlap`
// (the batch kernel's multiply-adds and reads of the rows, in whole rows, with registers standing
// in for the hyperplanes; AVX-512; see `overlap_rows`) or `overlap-panels` (the same in the
// kernel's panel order). SPAN (overlap modes only, a power of two, at least 16): load the stand-in
// hyperplanes as the kernel does instead, cycling over SPAN coordinates' worth of them. No
// assertions: a measurement tool.

#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CProjectionKernels.h"

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static size_t argument(int argc, char **argv, int i, size_t fallback, const char *name) {
    if (argc <= i) return fallback;
    char *end = NULL;
    const long long v = strtoll(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || v <= 0) {
        fprintf(stderr, "%s must be a positive integer, got '%s'\n", name, argv[i]);
        exit(2);
    }
    return (size_t)v;
}

/// One caller: its own pool and outputs, the shared packed directions.
struct caller {
    const float *packed;
    const uint16_t *packed_half;  // non-NULL: the half-precision screening kernel (batch 1)
    const uint16_t *masks;        // non-NULL: the sign kernel (batch 1)
    const int16_t *packed_integers;  // non-NULL: the integer screening kernel (batch 1, walks back and forth)
    const double *unscale;
    double *screened;
    float *x;
    float *projections;
    float *squares;
    size_t pool, batch, d, m, rows;
    pthread_barrier_t *start, *stop;
    size_t repetitions;
    int alternate;
    int read;  // no kernel: the rows are only read (and summed); 2: in the batch kernel's order; 3, 4: overlap, overlap-panels
    double checksum;
    const float *planes;  // overlap modes: the stand-in hyperplanes' loads come from here (NULL: registers)
    size_t span;          // ... cycling over this many coordinates' worth (96 floats per 8)
    double *began, *ended;  // per repetition, seconds
};

/// The sum of `n` floats in four chains of 8-lane AVX adds (the last `n % 32` one by one): a
/// plain read of the rows at the speed of the memory they come from, for comparison with the kernels.
__attribute__((noinline, target("avx"))) static float read_rows(const float *x, size_t n) {
    __m256 a = _mm256_setzero_ps(), b = a, c = a, e = a;
    size_t k = 0;
    for (; k + 32 <= n; k += 32) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(x + k));
        b = _mm256_add_ps(b, _mm256_loadu_ps(x + k + 8));
        c = _mm256_add_ps(c, _mm256_loadu_ps(x + k + 16));
        e = _mm256_add_ps(e, _mm256_loadu_ps(x + k + 24));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, e)));
    float total = 0;
    for (int l = 0; l < 8; l++) total += lanes[l];
    for (; k < n; k++) total += x[k];
    return total;
}

/// `read_rows` in the AVX-512 batch kernel's order (`wide_panel`): for each panel of 32 rows and
/// each slice of 512 coordinates, each group of four rows reads 8 coordinates of each row in
/// turn. Rows past the last whole group of four are not read.
__attribute__((noinline, target("avx"))) static float read_panels(const float *x, size_t rows, size_t d) {
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const size_t grouped = rows / 4 * 4;
    for (size_t r0 = 0; r0 < grouped; r0 += 32) {
        const size_t panel = grouped - r0 < 32 ? grouped - r0 : 32;
        for (size_t k0 = 0; k0 + 8 <= d; k0 += 512) {
            const size_t end = d - k0 < 512 ? d / 8 * 8 : k0 + 512;
            for (size_t i = 0; i < panel; i += 4)
                for (size_t k = k0; k < end; k += 8)
                    for (int r = 0; r < 4; r++) a[r] = _mm256_add_ps(a[r], _mm256_loadu_ps(x + (r0 + i + (size_t)r) * d + k));
        }
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
    float total = 0;
    for (int l = 0; l < 8; l++) total += lanes[l];
    return total;
}

/// The batch kernel's arithmetic and reads without its hyperplanes' loads. Each group of four rows
/// is read as the kernel reads it: eight coordinates at a time loaded into both halves of a
/// register, feeding six 16-lane multiply-adds (two directions each) against registers that stand
/// in for the hyperplanes, and the squares from 16-lane loads of their own, one multiply-add per
/// 16 coordinates: 1664 multiply-adds per row at d = 2048, as in the kernel. In whole rows, or in
/// the kernel's panel order (panels of 32 rows, slices of 512 coordinates) when `panels`. What it
/// takes bounds from below what a kernel with this arithmetic and these reads could take; against
/// its two parts alone (the reads, `read`; the arithmetic, this mode with the rows in L1) it says
/// how far the two overlap on this core. Whole groups of four and whole 16-coordinate blocks only.
#define B4B_OVERLAP_HALF(R, K)                                                                        \
    do {                                                                                              \
        const __m512 v = _mm512_broadcast_f32x8(_mm256_loadu_ps(x + (r0 + i + R) * d + (K)));        \
        if (planes) {                                                                                 \
            const float *q = planes + ((K) & (span - 1)) / 8 * 96;                                    \
            for (int j = 0; j < 6; j++) p[R][j] = _mm512_fmadd_ps(_mm512_load_ps(q + 16 * j), v, p[R][j]); \
        } else {                                                                                      \
            for (int j = 0; j < 6; j++) p[R][j] = _mm512_fmadd_ps(h[j & 1], v, p[R][j]);              \
        }                                                                                             \
    } while (0)
#define B4B_OVERLAP_STEP(R)                                                                           \
    do {                                                                                              \
        B4B_OVERLAP_HALF(R, k);                                                                       \
        B4B_OVERLAP_HALF(R, k + 8);                                                                   \
        const __m512 w = _mm512_loadu_ps(x + (r0 + i + R) * d + k);                                   \
        s[R & 1] = _mm512_fmadd_ps(w, w, s[R & 1]);                                                   \
    } while (0)
__attribute__((noinline, target("avx512f,avx512dq"))) static float overlap_rows(const float *x, size_t rows, size_t d, int panels, const float *planes, size_t span) {
    __m512 s[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    __m512 h[2] = {_mm512_set1_ps(1e-3f), _mm512_set1_ps(-2e-3f)};
    __m512 p[4][6];
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 6; j++) p[r][j] = _mm512_setzero_ps();
    const size_t grouped = rows / 4 * 4, blocks = d / 16 * 16;
    const size_t panel_rows = panels ? 32 : 4, slice = panels ? 512 : blocks;
    for (size_t r0 = 0; r0 < grouped; r0 += panel_rows) {
        const size_t panel = grouped - r0 < panel_rows ? grouped - r0 : panel_rows;
        for (size_t k0 = 0; k0 < blocks; k0 += slice) {
            const size_t end = blocks - k0 < slice ? blocks : k0 + slice;
            for (size_t i = 0; i < panel; i += 4)
                for (size_t k = k0; k < end; k += 16) {
                    B4B_OVERLAP_STEP(0);
                    B4B_OVERLAP_STEP(1);
                    B4B_OVERLAP_STEP(2);
                    B4B_OVERLAP_STEP(3);
                }
        }
    }
    __m512 total = _mm512_add_ps(s[0], s[1]);
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 6; j++) total = _mm512_add_ps(total, p[r][j]);
    return _mm512_reduce_add_ps(total);
}

static void *run_caller(void *argument) {
    struct caller *c = argument;
    size_t offset = 0;
    for (size_t r = 0; r < c->repetitions; r++) {
        pthread_barrier_wait(c->start);
        c->began[r] = seconds();
        for (size_t done = 0; done < c->rows; done += c->batch) {
            if (c->read >= 3) {
                c->squares[0] = overlap_rows(c->x + offset * c->d, c->batch, c->d, c->read == 4, c->planes, c->span);
            } else if (c->read == 2) {
                c->squares[0] = read_panels(c->x + offset * c->d, c->batch, c->d);
            } else if (c->read) {
                c->squares[0] = read_rows(c->x + offset * c->d, c->batch * c->d);
            } else if (c->packed_integers) {
                double bound;
                b4b_integer_screen_row(c->x + offset * c->d, c->d, c->packed_integers, c->unscale, c->m,
                                       b4b_lone_row_turn(), -1, c->screened, &bound, c->squares);
            } else if (c->masks)
                b4b_sign_row_f32(c->x + offset * c->d, c->d, c->masks, c->m, c->projections, c->squares);
            else if (c->packed_half)
                b4b_screen_row_f16(c->x + offset * c->d, c->d, c->packed_half, c->m, c->projections, c->squares);
            else if (c->alternate && b4b_lone_row_turn())
                b4b_project_row_f32_descending(c->x + offset * c->d, c->d, c->packed, c->m, c->projections, c->squares);
            else
                b4b_project_rows_f32(c->x + offset * c->d, c->batch, c->d, c->d, c->packed, c->m,
                                     c->projections, c->m, c->squares);
            c->checksum += c->squares[0];
            offset += c->batch;
            if (offset + c->batch > c->pool) offset = 0;
        }
        c->ended[r] = seconds();
        pthread_barrier_wait(c->stop);
    }
    return NULL;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s POOL_ROWS BATCH [DIMENSION] [ROWS_PER_REPETITION] [REPETITIONS] [THREADS] [float|alternate|half|signs|integers|read|read-panels|overlap|overlap-panels] [SPAN]\n", argv[0]);
        return 2;
    }
    const size_t pool = argument(argc, argv, 1, 0, "POOL_ROWS");
    const size_t batch = argument(argc, argv, 2, 0, "BATCH");
    const size_t d = argument(argc, argv, 3, 2048, "DIMENSION");
    const size_t rows_per_repetition = argument(argc, argv, 4, 200000, "ROWS_PER_REPETITION");
    const size_t repetitions = argument(argc, argv, 5, 15, "REPETITIONS");
    const size_t threads = argument(argc, argv, 6, 1, "THREADS");
    const size_t m = 12;
    const char *kernel = argc > 7 ? argv[7] : "float";
    const int half = strcmp(kernel, "half") == 0, signs = strcmp(kernel, "signs") == 0;
    const int alternate = strcmp(kernel, "alternate") == 0, integers = strcmp(kernel, "integers") == 0;
    const int read = strcmp(kernel, "read") == 0 ? 1 : strcmp(kernel, "read-panels") == 0 ? 2
                   : strcmp(kernel, "overlap") == 0 ? 3 : strcmp(kernel, "overlap-panels") == 0 ? 4 : 0;
    if (!half && !signs && !alternate && !integers && !read && strcmp(kernel, "float") != 0) {
        fprintf(stderr, "the kernel must be 'float', 'alternate', 'half', 'signs', 'integers', 'read', 'read-panels', 'overlap' or 'overlap-panels', got '%s'\n", kernel);
        return 2;
    }
    if ((half || signs || alternate || integers) && batch != 1) {
        fprintf(stderr, "the %s kernel takes one row per call: BATCH must be 1, got %zu\n", kernel, batch);
        return 2;
    }
    if (batch > pool) {
        fprintf(stderr, "BATCH (%zu) must not exceed POOL_ROWS (%zu)\n", batch, pool);
        return 2;
    }
    if (threads > 64) {
        fprintf(stderr, "THREADS must be at most 64, got %zu\n", threads);
        return 2;
    }
    const int wide_only = signs || alternate || read >= 3;
    if (!b4b_projection_available() || (wide_only && b4b_projection_level() < 2)) {
        printf("this CPU lacks %s: the kernel does not run here\n", wide_only ? "AVX-512 F or DQ" : "AVX2 or FMA");
        return 0;
    }
    if (integers && !b4b_integer_screening_available()) {
        printf("this CPU lacks AVX-512 F, BW, DQ or VNNI: the integer kernel does not run here\n");
        return 0;
    }

    float *directions = malloc(m * d * sizeof(float));
    // 64-byte aligned, as the engine packs them (AlignedBuffer): unaligned packed directions
    // make a third of the kernel's loads straddle two cache lines.
    float *packed = aligned_alloc(64, (b4b_projection_packed_count(m, d) * sizeof(float) + 63) / 64 * 64);
    uint16_t *halves = malloc(m * d * sizeof(uint16_t));
    uint16_t *packed_half = malloc(b4b_projection_packed_count(m, d) * sizeof(uint16_t));
    uint16_t *masks = malloc(b4b_sign_masks_count(m, d) * sizeof(uint16_t));
    double *per_row = malloc(repetitions * sizeof(double));
    int16_t *packed_integers = aligned_alloc(64, (b4b_integer_packed_count(m, d) * sizeof(int16_t) + 63) / 64 * 64);
    double unscale[12], error_scales[12];
    struct caller callers[64];
    pthread_t ids[64];
    pthread_barrier_t start, stop;
    if (!directions || !packed || !halves || !packed_half || !masks || !per_row || !packed_integers) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < m * d; i++)
        directions[i] = signs ? (rand() & 1 ? 1.0f : -1.0f) : (float)rand() / (float)RAND_MAX - 0.5f;
    if (signs && !b4b_sign_pack(directions, m, d, d, masks)) {
        fprintf(stderr, "the sign directions did not pack\n");
        return 1;
    }
    b4b_projection_pack(directions, m, d, d, packed);
    for (size_t i = 0; i < m * d; i++) {
        const _Float16 h = (_Float16)directions[i];  // round to nearest even
        memcpy(&halves[i], &h, sizeof halves[i]);
    }
    b4b_projection_pack_half(halves, m, d, d, packed_half);
    if (!b4b_integer_pack(directions, m, d, d, packed_integers, unscale, error_scales)) {
        fprintf(stderr, "the directions did not pack as integers\n");
        return 1;
    }
    // The overlap modes' stand-in hyperplanes: none (registers), or loads cycling over SPAN
    // coordinates' worth of packed floats (96 per 8 coordinates: SPAN 512 is 24 KiB, L1; SPAN
    // 2048 is the 96 KiB of twelve real hyperplanes at d = 2048, L2).
    const size_t span = argc > 8 ? argument(argc, argv, 8, 0, "SPAN") : 0;
    if (span && (read < 3 || span < 16 || (span & (span - 1)) != 0)) {
        fprintf(stderr, "SPAN goes with the overlap modes and must be a power of two of at least 16, got %zu\n", span);
        return 2;
    }
    float *planes = NULL;
    if (span) {
        planes = aligned_alloc(64, span / 8 * 96 * sizeof(float));
        if (!planes) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < span / 8 * 96; i++) planes[i] = 1e-3f * (float)(i % 7);
    }
    // Whole batches per repetition, at least one.
    const size_t rows = (rows_per_repetition + batch - 1) / batch * batch;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&stop, NULL, (unsigned)threads + 1);
    for (size_t t = 0; t < threads; t++) {
        struct caller *c = &callers[t];
        *c = (struct caller){ .packed = packed, .packed_half = half ? packed_half : NULL,
                              .masks = signs ? masks : NULL, .packed_integers = integers ? packed_integers : NULL,
                              .unscale = unscale, .read = read, .pool = pool, .batch = batch, .d = d, .m = m, .rows = rows,
                              .start = &start, .stop = &stop, .repetitions = repetitions, .checksum = 0, .alternate = alternate,
                              .planes = planes, .span = span };
        c->x = malloc(pool * d * sizeof(float));
        c->projections = malloc(batch * m * sizeof(float));
        c->squares = malloc(batch * sizeof(float));
        c->screened = malloc(m * sizeof(double));
        c->began = malloc(repetitions * sizeof(double));
        c->ended = malloc(repetitions * sizeof(double));
        if (!c->x || !c->projections || !c->squares || !c->screened || !c->began || !c->ended) {
            fprintf(stderr, "out of memory for a pool of %zu rows of %zu floats\n", pool, d);
            return 1;
        }
        for (size_t i = 0; i < pool * d; i++) c->x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        if (pthread_create(&ids[t], NULL, run_caller, c) != 0) {
            fprintf(stderr, "could not start caller %zu\n", t);
            return 1;
        }
    }
    // The callers time themselves (this thread may wake late on a busy machine): a repetition
    // lasts from the first caller's start to the last caller's end.
    for (size_t r = 0; r < repetitions; r++) {
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&stop);
    }
    double checksum = 0;
    for (size_t t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    for (size_t r = 0; r < repetitions; r++) {
        double first = callers[0].began[r], last = callers[0].ended[r];
        for (size_t t = 1; t < threads; t++) {
            if (callers[t].began[r] < first) first = callers[t].began[r];
            if (callers[t].ended[r] > last) last = callers[t].ended[r];
        }
        per_row[r] = (last - first) / (double)(rows * threads) * 1e9;
    }
    for (size_t t = 0; t < threads; t++) {
        checksum += callers[t].checksum;
        free(callers[t].x); free(callers[t].projections); free(callers[t].squares); free(callers[t].screened);
        free(callers[t].began); free(callers[t].ended);
    }
    qsort(per_row, repetitions, sizeof(double), by_value);
    const double median = per_row[repetitions / 2];
    printf("%s kernel, d %zu, pool %zu rows (%.1f MiB) per caller, batch %zu, %zu caller%s: median %.0f ns per row "
           "(best %.0f), %.1f GFLOP/s (checksum %g)\n",
           kernel, d, pool, (double)(pool * d * sizeof(float)) / (1 << 20), batch, threads, threads == 1 ? "" : "s",
           median, per_row[0], 2.0 * (double)d * 13 / median, checksum);
    pthread_barrier_destroy(&start); pthread_barrier_destroy(&stop);
    free(directions); free(packed); free(halves); free(packed_half); free(masks); free(per_row); free(packed_integers); free(planes);
    return 0;
}
