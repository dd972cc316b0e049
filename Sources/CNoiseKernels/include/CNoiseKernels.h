// CNoiseKernels: an AVX2 version of RandomGenerator's Float Gaussian fills (NumericKernels), and
// its AVX-512 build.
//
// No stable API: used only by the NumericKernels target, which keeps the portable Swift reference
// implementation (RandomGenerator.swift, VectorMath.swift, Xoshiro256Lanes.swift) and falls back
// to it whenever these functions report that they did nothing. The results are bit-identical to
// the Swift code: same constants, same operations in the same order, no FMA.

#ifndef CNOISEKERNELS_H
#define CNOISEKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU (and operating system) can run the AVX2 kernels, else 0. The CPU is queried
/// once; later calls read the cached answer. Always 0 on non-x86 targets.
int b4b_noise_avx2_available(void);

/// The widest kernel this CPU can run: 0 none; 1 AVX2; 2 the AVX-512 build as well (AVX-512 F
/// and DQ: sixteen lanes, two blocks per register), bit-identical to the AVX2 kernel and the
/// Swift code. `b4b_noise_gaussian_f32` runs the widest.
int b4b_noise_level(void);

/// The Float Gaussian fill of NumericKernels' `RandomGenerator`, on eight xoshiro256+ lanes.
///
/// `state` holds the 32 state words of the eight lanes as `_Xoshiro256PlusX8` stores them: word
/// s0 of lanes 0...7, then s1, s2 and s3 of lanes 0...7 (256 bytes, any 8-byte alignment). The
/// fill takes ceil(count / 16) generator steps and writes the advanced state back.
/// `buffer` holds `count` floats, any 4-byte alignment (it may be NULL when `count` is 0).
///
/// With `source` not NULL: `buffer[i] = source[i] + scale * z[i]` (`addGaussian`; `mean` is
/// ignored). `source` holds `count` floats, any 4-byte alignment, and is either `buffer` itself
/// (noise added in place) or memory that does not overlap it. With `source` NULL:
/// `buffer[i] = scale * z[i] + mean` (`fillGaussian(_:mean:standardDeviation:)`). `z` is the
/// documented standard normal stream of `RandomGenerator` (16 values per step, Box-Muller,
/// `_gaussianBlock` in VectorMath.swift).
///
/// Returns 1 when done; returns 0, touching neither `state` nor `buffer`, when the CPU has no
/// AVX2 (the caller then runs the Swift implementation).
int b4b_noise_gaussian_f32(uint64_t *state, float *buffer, const float *source, size_t count, float mean,
                           float scale);

/// `b4b_noise_gaussian_f32` with the kernel of `level` (1 or 2, see `b4b_noise_level`); returns 0,
/// touching nothing, when this CPU cannot run that level. For tests and measurements.
int b4b_noise_gaussian_f32_at(int level, uint64_t *state, float *buffer, const float *source, size_t count,
                              float mean, float scale);

#ifdef __cplusplus
}
#endif

#endif  // CNOISEKERNELS_H
