// Times the hashing projection kernel (Sources/CProjectionKernels) alone, outside Swift, to see
// what the kernel costs with its rows in cache and with its rows coming from memory.
//
//   clang -O2 -I Sources/CProjectionKernels/include Benchmarks/kernels/projection_harness.c \
//       Sources/CProjectionKernels/ProjectionKernels.c -o /tmp/projection_harness
//   /tmp/projection_harness POOL_ROWS BATCH [DIMENSION] [ROWS_PER_REPETITION] [REPETITIONS]
//
// The kernel projects BATCH rows per call onto 12 directions (and sums their squares), walking
// through a pool of POOL_ROWS rows: a pool larger than the caches (e.g. 16384 rows at d = 2048,
// 128 MiB) puts the rows in DRAM, one of a few MiB keeps them in cache. Prints the best time per
// row over the repetitions (default 15 repetitions of 200 000 rows) and the useful GFLOP/s
// (2 d 13 per row: 12 projections and the sum of squares). No assertions: a measurement tool.

#include <stdio.h>
#include <stdlib.h>
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

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s POOL_ROWS BATCH [DIMENSION] [ROWS_PER_REPETITION] [REPETITIONS]\n", argv[0]);
        return 2;
    }
    const size_t pool = argument(argc, argv, 1, 0, "POOL_ROWS");
    const size_t batch = argument(argc, argv, 2, 0, "BATCH");
    const size_t d = argument(argc, argv, 3, 2048, "DIMENSION");
    const size_t rows_per_repetition = argument(argc, argv, 4, 200000, "ROWS_PER_REPETITION");
    const size_t repetitions = argument(argc, argv, 5, 15, "REPETITIONS");
    const size_t m = 12;
    if (batch > pool) {
        fprintf(stderr, "BATCH (%zu) must not exceed POOL_ROWS (%zu)\n", batch, pool);
        return 2;
    }
    if (!b4b_projection_available()) {
        printf("this CPU lacks AVX2 or FMA: the kernel does not run here\n");
        return 0;
    }

    float *x = malloc(pool * d * sizeof(float));
    float *directions = malloc(m * d * sizeof(float));
    float *packed = malloc(b4b_projection_packed_count(m, d) * sizeof(float));
    float *projections = malloc(batch * m * sizeof(float));
    float *squares = malloc(batch * sizeof(float));
    if (!x || !directions || !packed || !projections || !squares) {
        fprintf(stderr, "out of memory for a pool of %zu rows of %zu floats\n", pool, d);
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < pool * d; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (size_t i = 0; i < m * d; i++) directions[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    b4b_projection_pack(directions, m, d, d, packed);

    double best = 1e30, checksum = 0;
    for (size_t r = 0; r < repetitions; r++) {
        size_t done = 0, offset = 0;
        const double start = seconds();
        while (done < rows_per_repetition) {
            b4b_project_rows_f32(x + offset * d, batch, d, d, packed, m, projections, m, squares);
            checksum += squares[0];
            done += batch;
            offset += batch;
            if (offset + batch > pool) offset = 0;
        }
        const double per_row = (seconds() - start) / (double)done * 1e9;
        if (per_row < best) best = per_row;
    }
    printf("d %zu, pool %zu rows (%.1f MiB), batch %zu: %.0f ns per row, %.1f GFLOP/s (checksum %g)\n",
           d, pool, (double)(pool * d * sizeof(float)) / (1 << 20), batch, best,
           2.0 * (double)d * 13 / best, checksum);
    free(x); free(directions); free(packed); free(projections); free(squares);
    return 0;
}
