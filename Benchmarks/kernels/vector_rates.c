// Issue rates of the vector instructions a projection kernel could be built on: how long one
// instruction takes when twelve independent accumulators keep the ports busy (no loads, no
// dependence between consecutive instructions beyond each accumulator's own chain).
//
//   cc -O2 Benchmarks/kernels/vector_rates.c -o /tmp/vector_rates && /tmp/vector_rates [MILLIONS]
//
// MILLIONS: instructions timed per kind, in millions (default 120). Kinds this CPU cannot run
// are reported as such and not timed. Products per 512-bit instruction: float multiply-add 16,
// half-precision multiply-add 32, 16-bit integer pairs (vpdpwssd) 32, 8-bit (vpdpbusd) 64,
// bfloat16 pairs (vdpbf16ps) 32. For CPUs with AVX2 but no AVX-512 (and as a reference on
// those with both) two 256-bit kinds follow: the float multiply-add (8 products) and the
// 16-bit integer pair product without VNNI, `vpmaddwd` then `vpaddd` into the accumulator
// (16 products per pair of instructions, timed per pair). Benchmarks/KERNELS.md ("Cheaper
// arithmetic, counted"; "Lone rows screened with 16-bit integers on AVX2") says what these
// figures mean for the hashing kernel.

#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))

#include <immintrin.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// Twelve accumulators, each its own chain; the empty asm statements hide their values from the
// compiler, so it can neither merge the chains nor drop them.
#define B4B_TWELVE(T, INIT, STEP)                                                                      \
    do {                                                                                               \
        T a0 = INIT, a1 = INIT, a2 = INIT, a3 = INIT, a4 = INIT, a5 = INIT;                            \
        T a6 = INIT, a7 = INIT, a8 = INIT, a9 = INIT, a10 = INIT, a11 = INIT;                          \
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));             \
        __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));           \
        const double t0 = seconds();                                                                   \
        for (long i = 0; i < steps; i++) {                                                             \
            a0 = STEP(a0); a1 = STEP(a1); a2 = STEP(a2); a3 = STEP(a3); a4 = STEP(a4); a5 = STEP(a5);   \
            a6 = STEP(a6); a7 = STEP(a7); a8 = STEP(a8); a9 = STEP(a9); a10 = STEP(a10); a11 = STEP(a11); \
            __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));         \
            __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));       \
        }                                                                                              \
        elapsed = seconds() - t0;                                                                      \
    } while (0)

// One timing function per instruction, compiled for the features it needs: `x` (of type `XT`,
// `XINIT`) is both multiplied operands, and `STEP(a)` advances accumulator `a` (of type `T`, from
// `ZERO`) by one instruction.
#define B4B_RATE(NAME, FEATURES, T, ZERO, XT, XINIT, STEP)                                             \
    __attribute__((target(FEATURES))) static double NAME(long steps) {                                 \
        double elapsed;                                                                                \
        const XT x = XINIT;                                                                            \
        B4B_TWELVE(T, ZERO, STEP);                                                                     \
        return elapsed;                                                                                \
    }

#define FLOAT_FMA(a) _mm512_fmadd_ps(x, x, a)
#define HALF_FMA(a) _mm512_fmadd_ph(x, x, a)
#define INT16_PAIRS(a) _mm512_dpwssd_epi32(a, x, x)
#define INT8_QUADS(a) _mm512_dpbusd_epi32(a, x, x)
#define BF16_PAIRS(a) _mm512_dpbf16_ps(a, x, x)
#define FLOAT_FMA_AVX2(a) _mm256_fmadd_ps(x, x, a)
B4B_RATE(float_fma, "avx512f", __m512, _mm512_setzero_ps(), __m512, _mm512_set1_ps(1e-3f), FLOAT_FMA)
B4B_RATE(half_fma, "avx512f,avx512fp16", __m512h, _mm512_setzero_ph(), __m512h, _mm512_set1_ph((_Float16)1e-3f), HALF_FMA)
B4B_RATE(int16_pairs, "avx512f,avx512vnni", __m512i, _mm512_setzero_si512(), __m512i, _mm512_set1_epi16(3), INT16_PAIRS)
B4B_RATE(int8_quads, "avx512f,avx512vnni", __m512i, _mm512_setzero_si512(), __m512i, _mm512_set1_epi8(3), INT8_QUADS)
B4B_RATE(bf16_pairs, "avx512f,avx512bf16", __m512, _mm512_setzero_ps(), __m512bh,
         _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f)), BF16_PAIRS)
B4B_RATE(float_fma_avx2, "avx2,fma", __m256, _mm256_setzero_ps(), __m256, _mm256_set1_ps(1e-3f), FLOAT_FMA_AVX2)
#undef FLOAT_FMA
#undef HALF_FMA
#undef INT16_PAIRS
#undef INT8_QUADS
#undef BF16_PAIRS
#undef FLOAT_FMA_AVX2
#undef B4B_RATE

/// `vpmaddwd` then `vpaddd`, per accumulator: the product does not read the accumulator, so the
/// multiplied operand is hidden from the compiler at every step (or it would compute the product
/// once, outside the loop); hence not `B4B_RATE`, whose operand is a constant.
__attribute__((target("avx2"))) static double int16_pairs_avx2(long steps) {
    double elapsed;
    __m256i x = _mm256_set1_epi16(3);
#define INT16_PAIRS_AVX2(a) ({ __asm__ volatile("" : "+v"(x)); _mm256_add_epi32(a, _mm256_madd_epi16(x, x)); })
    B4B_TWELVE(__m256i, _mm256_setzero_si256(), INT16_PAIRS_AVX2);
#undef INT16_PAIRS_AVX2
    return elapsed;
}

#undef B4B_TWELVE

int main(int argc, char **argv) {
    const long millions = argc > 1 ? atol(argv[1]) : 120;
    if (millions < 1) {
        fprintf(stderr, "usage: vector_rates [MILLIONS >= 1]\n");
        return 2;
    }
    const long steps = millions * 1000000 / 12;
    const double count = 12.0 * (double)steps;
    __builtin_cpu_init();
    struct {
        const char *name;
        int products;
        int available;
        double (*run)(long);
    } kinds[] = {
        {"vfmadd231ps (float)", 16, __builtin_cpu_supports("avx512f"), float_fma},
        {"vfmadd231ph (half)", 32, __builtin_cpu_supports("avx512fp16"), half_fma},
        {"vpdpwssd (16-bit pairs)", 32, __builtin_cpu_supports("avx512vnni"), int16_pairs},
        {"vpdpbusd (8-bit quads)", 64, __builtin_cpu_supports("avx512vnni"), int8_quads},
        {"vdpbf16ps (bfloat16 pairs)", 32, __builtin_cpu_supports("avx512bf16"), bf16_pairs},
        {"vfmadd231ps (float, 256)", 8, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), float_fma_avx2},
        {"vpmaddwd+vpaddd (256)", 16, __builtin_cpu_supports("avx2"), int16_pairs_avx2},
    };
    printf("%-28s %10s %14s\n", "instruction (512-bit unless said)", "ns each", "products/ns");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (!kinds[k].available) {
            printf("%-28s %10s\n", kinds[k].name, "n/a");
            continue;
        }
        const double ns = 1e9 * kinds[k].run(steps) / count;
        printf("%-28s %10.3f %14.1f\n", kinds[k].name, ns, kinds[k].products / ns);
    }
    return 0;
}

#else

int main(void) {
    printf("vector_rates: x86-64 only\n");
    return 0;
}

#endif
