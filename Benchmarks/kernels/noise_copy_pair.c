// Noising rows into output memory two ways, timed in turns within each round: a copy of the row
// then the in-place add (`memcpy`, then `b4b_noise_gaussian_f32` with the output as its own
// source), against the one-pass noised copy (the row as the kernel's source). Prints the median
// and quartiles over rounds of the one-pass time over the copy-then-add time.
//
//   clang -O2 -I Sources/CNoiseKernels/include Benchmarks/kernels/noise_copy_pair.c \
//       Sources/CNoiseKernels/NoiseKernels.c -lm -o /tmp/noise_copy_pair
//   /tmp/noise_copy_pair BATCH CALLS [D] [POOL_ROWS] [ROUNDS]
//
// Each call noises BATCH rows of D floats (default 2048), taken in turn from a pool of POOL_ROWS
// rows (default 2048: 16 MiB at d = 2048, more than a core's caches, as in the benchmark), into
// a BATCH x D output block; CALLS calls per version per round, ROUNDS rounds (default 31).

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CNoiseKernels.h"

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int ascending(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s BATCH CALLS [D] [POOL_ROWS] [ROUNDS]\n", argv[0]);
        return 2;
    }
    const long batch = atol(argv[1]), calls = atol(argv[2]);
    const long d = argc > 3 ? atol(argv[3]) : 2048, poolRows = argc > 4 ? atol(argv[4]) : 2048;
    const int rounds = argc > 5 ? atoi(argv[5]) : 31;
    if (batch < 1 || calls < 1 || d < 1 || poolRows < batch || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "need BATCH, CALLS, D >= 1, POOL_ROWS >= BATCH, 1 <= ROUNDS <= 1000\n");
        return 2;
    }
    if (!b4b_noise_avx2_available()) {
        fprintf(stderr, "this CPU has no AVX2: the kernel does not run here\n");
        return 1;
    }
    const size_t rowBytes = (size_t)d * sizeof(float);
    float *pool = aligned_alloc(64, (size_t)poolRows * rowBytes + 64);
    float *out = aligned_alloc(64, (size_t)batch * rowBytes + 64);
    double *ratios = malloc((size_t)rounds * sizeof(double));
    if (!pool || !out || !ratios) return 1;
    for (size_t i = 0; i < (size_t)poolRows * (size_t)d; i++) pool[i] = (float)(i % 977) * 1e-3f;
    memset(out, 0, (size_t)batch * rowBytes);
    uint64_t state[32];
    for (int i = 0; i < 32; i++) state[i] = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);

    size_t call = 0;
    for (int round = 0; round < rounds; round++) {
        double time[2];
        for (int version = 0; version < 2; version++) {
            const double start = seconds();
            for (long c = 0; c < calls; c++, call++) {
                const size_t first = (call * (size_t)batch) % (size_t)(poolRows - batch + 1);
                for (long i = 0; i < batch; i++) {
                    const float *row = pool + (first + (size_t)i) * (size_t)d;
                    float *target = out + (size_t)i * (size_t)d;
                    if (version == 0) {
                        memcpy(target, row, rowBytes);
                        b4b_noise_gaussian_f32(state, target, target, (size_t)d, 0, 0.1f);
                    } else {
                        b4b_noise_gaussian_f32(state, target, row, (size_t)d, 0, 0.1f);
                    }
                }
            }
            time[version] = seconds() - start;
        }
        ratios[round] = time[1] / time[0];
    }
    qsort(ratios, (size_t)rounds, sizeof(double), ascending);
    printf("batch %ld, d %ld, %ld-row pool: one pass / copy then add = %.3f (quartiles %.3f %.3f, %d rounds)\n",
           batch, d, poolRows, ratios[rounds / 2], ratios[rounds / 4], ratios[(3 * rounds) / 4], rounds);
    free(pool), free(out), free(ratios);
    return 0;
}
