// Compares two builds of the hashing projection kernel (Sources/CProjectionKernels), A and B,
// in turns: on a shared machine whose speed drifts by tens of percent from minute to minute, two
// kernels timed one after the other in separate runs cannot be told apart by a few percent;
// timed in alternation, round by round, their per-round ratio can.
//
//   bash Benchmarks/kernels/pair.sh A.c B.c /tmp/projection_pair   # builds A and B into one binary
//   /tmp/projection_pair POOL_ROWS BATCH D ROWS ROUNDS THREADS [float|half|wide] [B_DIRECTIONS_OFFSET] [B_ROWS_OFFSET] [A_ROWS_OFFSET]
//
// THREADS callers each walk their own pool of POOL_ROWS generated rows (BATCH rows per call,
// ROWS rows per caller per round), sharing the packed directions, as in projection_harness.c.
// Each round times A once and B once (the order flips every round; one untimed round first)
// from the start of the callers to the end of the last one. Prints the median and best time
// per row of each and the median and quartiles of B's time over A's in the same round.
// `half` times the screening pass for lone rows (`b4b_screen_row_f16`; BATCH is then 1); `wide`
// the entry point the engine's AVX-512 path takes for batches (`b4b_project_rows_f32_wide`, which
// reads rows by their cache lines against a shifted copy of the directions as well; both builds
// must have it). The offsets (bytes, default 0) move B's packed directions and B's pool, and A's
// pool, away from the 64-byte boundary: `pair.sh K.c K.c OUT` then `OUT ... float 16 16` measures
// what 16-byte-aligned operands cost the same kernel, and `pair.sh OLD.c NEW.c OUT` then
// `OUT ... float 0 48 48` compares two kernels on rows 48 bytes past a line (a Swift array's). Before the rounds it checks that A and B give
// the same projections and sums of squares for one batch and prints the largest difference.
// No assertions: a measurement tool.

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The two builds' entry points (pair.sh renames `b4b_` to `va_` and `vb_`).
#define DECLARE_BUILD(P)                                                                            \
    size_t P##_projection_packed_count(size_t m, size_t d);                                         \
    void P##_projection_pack(const float *directions, size_t m, size_t d, size_t ld, float *packed); \
    void P##_projection_pack_half(const uint16_t *directions, size_t m, size_t d, size_t ld, uint16_t *packed); \
    int P##_project_rows_f32(const float *x, size_t rows, size_t d, size_t ldx, const float *packed, size_t m, \
                             float *projections, size_t ldp, float *sums_of_squares);               \
    int P##_screen_row_f16(const float *x, size_t d, const uint16_t *packed, size_t m, float *projections, \
                           float *sum_of_squares);                                                  \
    void P##_projection_pack_shifted(const float *directions, size_t m, size_t d, size_t ld, float *packed); \
    int P##_project_rows_f32_wide(const float *x, size_t rows, size_t d, size_t ldx, const float *packed, \
                                  const float *packed_shifted, size_t m, float *projections, size_t ldp, \
                                  float *sums_of_squares);
DECLARE_BUILD(va)
DECLARE_BUILD(vb)
#undef DECLARE_BUILD

enum { M = 12 };  // directions: the default 12 hash bits
enum { ROW_SHIFT = 4 };  // B4B_ROW_SHIFT: zero coordinates before each shifted direction

/// One build: its kernel over `batch` rows at `x` with its packed directions.
struct build {
    int (*rows)(const float *, size_t, size_t, size_t, const float *, size_t, float *, size_t, float *);
    int (*screen)(const float *, size_t, const uint16_t *, size_t, float *, float *);
    int (*wide)(const float *, size_t, size_t, size_t, const float *, const float *, size_t, float *, size_t, float *);
    const void *packed;
    const float *shifted;  // `wide` only
    float *pool[64];  // per caller
};

static size_t pool_rows, batch, d, rows_per_round;
static int half, wide;
static struct build builds[2];
static const struct build *volatile running;
static volatile int finished;
static pthread_barrier_t start, stop;

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int ascending(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t argument(int argc, char **argv, int i, size_t fallback, int zero_allowed, const char *name) {
    if (argc <= i) return fallback;
    char *end = NULL;
    const long long v = strtoll(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || v < 0 || (v == 0 && !zero_allowed)) {
        fprintf(stderr, "%s must be a %s integer, got '%s'\n", name, zero_allowed ? "non-negative" : "positive", argv[i]);
        exit(2);
    }
    return (size_t)v;
}

/// Runs `b`'s kernel over one batch of caller `c`'s pool starting at row `first`.
static void project(const struct build *b, size_t c, size_t first, float *projections, float *squares) {
    const float *x = b->pool[c] + first * d;
    if (half) b->screen(x, d, (const uint16_t *)b->packed, M, projections, squares);
    else if (wide) b->wide(x, batch, d, d, (const float *)b->packed, b->shifted, M, projections, M, squares);
    else b->rows(x, batch, d, d, (const float *)b->packed, M, projections, M, squares);
}

struct caller {
    size_t index;
    double checksum;
};

static void *run_caller(void *argument) {
    struct caller *me = argument;
    float *projections = malloc(batch * M * sizeof(float)), *squares = malloc(batch * sizeof(float));
    for (;;) {
        pthread_barrier_wait(&start);
        if (finished) break;
        const struct build *b = running;
        for (size_t done = 0, call = 0; done < rows_per_round; done += batch, call++) {
            project(b, me->index, (call * batch) % (pool_rows - batch + 1), projections, squares);
            me->checksum += projections[0];
        }
        pthread_barrier_wait(&stop);
    }
    free(projections);
    free(squares);
    return NULL;
}

/// The larger of `worst` and |a - b|.
static double larger_gap(double worst, float a, float b) {
    const double gap = (double)a > (double)b ? (double)a - (double)b : (double)b - (double)a;
    return gap > worst ? gap : worst;
}

/// `bytes` rounded up to the 64-byte multiple aligned_alloc needs.
static void *aligned(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s POOL_ROWS BATCH D ROWS ROUNDS THREADS [float|half|wide] [B_DIRECTIONS_OFFSET] [B_ROWS_OFFSET] [A_ROWS_OFFSET]\n", argv[0]);
        return 2;
    }
    pool_rows = argument(argc, argv, 1, 0, 0, "POOL_ROWS");
    batch = argument(argc, argv, 2, 0, 0, "BATCH");
    d = argument(argc, argv, 3, 0, 0, "D");
    rows_per_round = argument(argc, argv, 4, 0, 0, "ROWS");
    const size_t rounds = argument(argc, argv, 5, 0, 0, "ROUNDS");
    const size_t threads = argument(argc, argv, 6, 0, 0, "THREADS");
    half = argc > 7 && strcmp(argv[7], "half") == 0;
    wide = argc > 7 && strcmp(argv[7], "wide") == 0;
    if (argc > 7 && !half && !wide && strcmp(argv[7], "float") != 0) {
        fprintf(stderr, "the kernel must be 'float', 'half' or 'wide', got '%s'\n", argv[7]);
        return 2;
    }
    const size_t directions_offset = argument(argc, argv, 8, 0, 1, "B_DIRECTIONS_OFFSET");
    const size_t rows_offset = argument(argc, argv, 9, 0, 1, "B_ROWS_OFFSET");
    const size_t a_rows_offset = argument(argc, argv, 10, 0, 1, "A_ROWS_OFFSET");
    if (half) batch = 1;
    if (batch > pool_rows || threads > 64 || directions_offset % 4 || rows_offset % 4 || a_rows_offset % 4) {
        fprintf(stderr, "need BATCH <= POOL_ROWS, THREADS <= 64 and offsets that are multiples of 4 bytes\n");
        return 2;
    }

    // Directions and rows: fixed pseudo-random values in [-1, 1] (exact in half precision too).
    srand(12345);
    float *directions = malloc((size_t)M * d * sizeof(float));
    uint16_t *halves = malloc((size_t)M * d * sizeof(uint16_t));
    for (size_t i = 0; i < (size_t)M * d; i++) {
        const int k = rand() % 2049 - 1024;  // k / 1024: exact in both precisions
        directions[i] = (float)k / 1024.0f;
        _Float16 h = (_Float16)directions[i];
        memcpy(&halves[i], &h, sizeof h);
    }
    builds[0].rows = va_project_rows_f32, builds[0].screen = va_screen_row_f16, builds[0].wide = va_project_rows_f32_wide;
    builds[1].rows = vb_project_rows_f32, builds[1].screen = vb_screen_row_f16, builds[1].wide = vb_project_rows_f32_wide;
    const size_t count[2] = {va_projection_packed_count(M, d), vb_projection_packed_count(M, d)};
    for (int v = 0; v < 2; v++) {
        const size_t offset = v ? directions_offset : 0;
        char *p = (char *)aligned(count[v] * sizeof(float) + offset) + offset;
        if (half) (v ? vb_projection_pack_half : va_projection_pack_half)(halves, M, d, d, (uint16_t *)p);
        else (v ? vb_projection_pack : va_projection_pack)(directions, M, d, d, (float *)p);
        builds[v].packed = p;
        if (wide) {
            float *q = aligned((v ? vb_projection_packed_count : va_projection_packed_count)(M, d + ROW_SHIFT) * sizeof(float));
            (v ? vb_projection_pack_shifted : va_projection_pack_shifted)(directions, M, d, d, q);
            builds[v].shifted = q;
        }
    }
    for (size_t c = 0; c < threads; c++) {
        float *a = (float *)((char *)aligned(pool_rows * d * sizeof(float) + a_rows_offset) + a_rows_offset);
        float *b = (float *)((char *)aligned(pool_rows * d * sizeof(float) + rows_offset) + rows_offset);
        for (size_t i = 0; i < pool_rows * d; i++) a[i] = b[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
        builds[0].pool[c] = a, builds[1].pool[c] = b;
    }

    if (wide) {
        float *p = malloc(batch * M * sizeof(float)), *q = malloc(batch * sizeof(float));
        const int runs = va_project_rows_f32_wide(builds[0].pool[0], batch, d, d, builds[0].packed, builds[0].shifted, M, p, M, q);
        free(p), free(q);
        if (!runs) {
            printf("the wide entry point needs AVX-512 F and DQ, which this CPU lacks: nothing timed\n");
            return 0;
        }
    }

    // Agreement of the two builds on one batch.
    {
        float *pa = malloc(batch * M * sizeof(float)), *pb = malloc(batch * M * sizeof(float));
        float *sa = malloc(batch * sizeof(float)), *sb = malloc(batch * sizeof(float));
        project(&builds[0], 0, 0, pa, sa);
        project(&builds[1], 0, 0, pb, sb);
        double worst = 0;
        for (size_t i = 0; i < batch * M; i++) worst = larger_gap(worst, pa[i], pb[i]);
        for (size_t i = 0; i < batch; i++) worst = larger_gap(worst, sa[i], sb[i]);
        printf("largest difference between A and B on one batch: %g\n", worst);
        free(pa), free(pb), free(sa), free(sb);
    }

    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&stop, NULL, (unsigned)threads + 1);
    pthread_t *ids = calloc(threads, sizeof *ids);
    struct caller *callers = calloc(threads, sizeof *callers);
    for (size_t c = 0; c < threads; c++) {
        callers[c].index = c;
        pthread_create(&ids[c], NULL, run_caller, &callers[c]);
    }
    double *time[2] = {malloc(rounds * sizeof(double)), malloc(rounds * sizeof(double))};
    double *ratio = malloc(rounds * sizeof(double));
    for (size_t r = 0; r <= rounds; r++)
        for (int turn = 0; turn < 2; turn++) {
            const int v = (int)(r % 2) ^ turn;
            running = &builds[v];
            const double began = seconds();
            pthread_barrier_wait(&start);
            pthread_barrier_wait(&stop);
            if (r > 0) time[v][r - 1] = (seconds() - began) / (double)(rows_per_round * threads) * 1e9;
        }
    finished = 1;
    pthread_barrier_wait(&start);
    double checksum = 0;
    for (size_t c = 0; c < threads; c++) {
        pthread_join(ids[c], NULL);
        checksum += callers[c].checksum;
    }

    for (size_t r = 0; r < rounds; r++) ratio[r] = time[1][r] / time[0][r];
    qsort(time[0], rounds, sizeof(double), ascending);
    qsort(time[1], rounds, sizeof(double), ascending);
    qsort(ratio, rounds, sizeof(double), ascending);
    printf("%s kernel, d %zu, pool %zu rows per caller, batch %zu, %zu caller%s, %zu rounds: "
           "A median %.0f ns per row (best %.0f), B median %.0f (best %.0f); B / A in the same round: "
           "median %.3f, quartiles %.3f and %.3f (checksum %g)\n",
           half ? "half" : wide ? "wide" : "float", d, pool_rows, batch, threads, threads == 1 ? "" : "s", rounds,
           time[0][rounds / 2], time[0][0], time[1][rounds / 2], time[1][0],
           ratio[rounds / 2], ratio[rounds / 4], ratio[(3 * rounds) / 4], checksum);
    return 0;
}
