// CProjectionKernels: an AVX2 + FMA kernel for the random-projection hashing of NumericKernels'
// `ProjectionDirections` (one pass per row: a few dot products and the row's sum of squares).
//
// No stable API: used only by the NumericKernels target, which keeps the portable path (a norm
// pass and one `cblas_sgemm`) and takes it whenever `b4b_project_rows_f32` reports that it did
// nothing. The two paths sum in different orders; both stay within the rounding bound that the
// bucket decision of `RandomProjectionLSH` allows for, so bucket ids do not depend on the path.

#ifndef CPROJECTIONKERNELS_H
#define CPROJECTIONKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU (and operating system) can run the kernel (AVX2 and FMA), else 0. The CPU is
/// queried once; later calls read the cached answer. Always 0 on non-x86 targets.
int b4b_projection_available(void);

/// Floats needed by `b4b_projection_pack` for `m` directions of length `d`:
/// `ceil(m / 6) * 6 * ceil(d / 8) * 8`.
size_t b4b_projection_packed_count(size_t m, size_t d);

/// Copies `m` directions of length `d` (row `c` at `directions + c * ld`) into the kernel's
/// layout: groups of six directions; within a group, for each block of eight coordinates, the
/// eight values of direction 0, then of direction 1, ..., 5. Missing directions and coordinates
/// (past `m`, past `d`) are zero. `packed` holds `b4b_projection_packed_count(m, d)` floats.
void b4b_projection_pack(const float *directions, size_t m, size_t d, size_t ld, float *packed);

/// For each of `rows` rows of `x` (row `i` at `x + i * ldx`, `d` floats, any 4-byte alignment):
///   `projections[i * ldp + c] = x_i · direction_c` for `c < m`, and
///   `sums_of_squares[i] = x_i · x_i`,
/// each a single-precision dot product summed in an unspecified order (its error is within
/// `γ_d Σ |a_k b_k|`, as for any order). `packed` comes from `b4b_projection_pack(.., m, d, ..)`.
/// A NaN or infinity in a row makes that row's sum of squares non-finite.
///
/// Returns 1 when done; returns 0, writing nothing, when the CPU lacks AVX2 or FMA.
int b4b_project_rows_f32(const float *x, size_t rows, size_t d, size_t ldx,
                         const float *packed, size_t m,
                         float *projections, size_t ldp, float *sums_of_squares);

#ifdef __cplusplus
}
#endif

#endif  // CPROJECTIONKERNELS_H
