// CProjectionKernels: an AVX2 + FMA kernel, and an AVX-512 build of it, for the random-projection
// hashing of NumericKernels' `ProjectionDirections` (one pass per row: a few dot products and the
// row's sum of squares; with AVX-512, lone rows may walk the directions from either end); and an
// AVX-512 kernel for a lone row against sign directions (±1 entries, packed as bits: SignKernel.c).
//
// The only state kept is per thread: a flag (`b4b_lone_row_turn`) saying which way that thread's
// next lone row walks, and the integer screening's scale hint (`b4b_integer_screen_row`): hints
// for speed that no bucket decision depends on (values move within their bounds).
//
// No stable API: used only by the NumericKernels target, which keeps the portable path (a norm
// pass and one `cblas_sgemm`) and takes it whenever `b4b_project_rows_f32` reports that it did
// nothing. The two paths sum in different orders; both stay within the rounding bound that the
// bucket decision of `RandomProjectionLSH` allows for, so bucket ids do not depend on the path.

#ifndef CPROJECTIONKERNELS_H
#define CPROJECTIONKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU (and operating system) can run the kernels (AVX2, FMA and F16C: every CPU with
/// AVX2 has F16C), else 0. The CPU is queried once; later calls read the cached answer. Always 0 on
/// non-x86 targets.
int b4b_projection_available(void);

/// The widest kernel this CPU can run: 0 none; 1 the AVX2 + FMA + F16C kernel; 2 its AVX-512
/// build as well (AVX-512 F and DQ), which gives bit for bit the same projections (and a lone
/// row's sum of squares; rows in groups have theirs added in 16 lanes, not eight, so they may
/// differ in the last bits, within the same bound). The `_at` entry
/// points take a level (for tests and measurements); the others run the widest.
int b4b_projection_level(void);

/// Floats needed by `b4b_projection_pack` for `m` directions of length `d`:
/// `ceil(m / 6) * 6 * ceil(d / 8) * 8`.
size_t b4b_projection_packed_count(size_t m, size_t d);

/// Copies `m` directions of length `d` (row `c` at `directions + c * ld`) into the kernel's
/// layout: groups of six directions; within a group, for each block of eight coordinates, the
/// eight values of direction 0, then of direction 1, ..., 5. Missing directions and coordinates
/// (past `m`, past `d`) are zero. `packed` holds `b4b_projection_packed_count(m, d)` floats.
void b4b_projection_pack(const float *directions, size_t m, size_t d, size_t ld, float *packed);

/// Zero coordinates `b4b_projection_pack_shifted` puts before each direction: the distance, in
/// floats, from a 32-byte boundary to a row that starts 16 bytes past one.
#define B4B_ROW_SHIFT 4

/// `b4b_projection_pack` of the directions preceded by `B4B_ROW_SHIFT` zero coordinates (length
/// `d + B4B_ROW_SHIFT`): `b4b_projection_packed_count(m, d + B4B_ROW_SHIFT)` floats, for
/// `b4b_project_rows_f32_wide`.
void b4b_projection_pack_shifted(const float *directions, size_t m, size_t d, size_t ld, float *packed);

/// `b4b_projection_pack` for directions given as IEEE half-precision bit patterns (binary16):
/// the same layout, `b4b_projection_packed_count(m, d)` values of 2 bytes.
void b4b_projection_pack_half(const uint16_t *directions, size_t m, size_t d, size_t ld, uint16_t *packed);

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

/// `b4b_project_rows_f32` with the AVX-512 kernel, reading the rows by their cache lines:
/// `packed` from `b4b_projection_pack`, `packed_shifted` (or NULL) from
/// `b4b_projection_pack_shifted` for the same directions. When every row starts at the same
/// place in its line (`ldx` a multiple of 16, four rows or more) and that is 16 or 48 bytes past the
/// line's start (as a large Swift array's elements are), the rows are read from `B4B_ROW_SHIFT`
/// floats earlier against `packed_shifted` (the lanes before the row masked off, never read),
/// so that no 32-byte load straddles two lines; and where the rows start 32 or 48 bytes past a
/// line, the first slice of coordinates is cut short so that the later ones start on lines. The
/// lanes then hold other coordinates than with `b4b_project_rows_f32`, so the values may
/// differ from it in the last bits. Rows anywhere give correct values; only the speed depends on
/// where they start.
///
/// Returns the rounding depth `n` of the values written (each within `γ_n Σ |a_k b_k|`):
/// `ceil((d + B4B_ROW_SHIFT) / 8) + 3` when the rows were read shifted, else `ceil(d / 8) + 3`;
/// 0, writing nothing, when the CPU lacks AVX-512 F or DQ.
int b4b_project_rows_f32_wide(const float *x, size_t rows, size_t d, size_t ldx,
                              const float *packed, const float *packed_shifted, size_t m,
                              float *projections, size_t ldp, float *sums_of_squares);

/// `b4b_project_rows_f32` with the kernel of `level` (1 or 2, see `b4b_projection_level`); returns
/// 0, writing nothing, when this CPU cannot run that level.
int b4b_project_rows_f32_at(int level, const float *x, size_t rows, size_t d, size_t ldx,
                            const float *packed, size_t m,
                            float *projections, size_t ldp, float *sums_of_squares);

/// One row `x` (`d` floats) against `m` float directions packed by `b4b_projection_pack`, as
/// `b4b_project_rows_f32` with one row, but walking the packed directions from their far end
/// (the last groups first, each from its last block of coordinates to its first) with the
/// AVX-512 kernel. The sums then run in another order: each value is within the same bound,
/// `γ_{ceil(d/8)+3} Σ |a_k b_k|`, and may differ from `b4b_project_rows_f32`'s in the last bits.
///
/// What it is for: a lone row's directions (96 KiB for 12 directions at d = 2048) do not fit in
/// L1, and a walk leaves the last part it read there. A row walked the other way from the
/// previous one on the same core starts with that part (`b4b_lone_row_turn`).
///
/// Returns 1 when done; 0, writing nothing, when the CPU lacks AVX-512 F or DQ.
int b4b_project_row_f32_descending(const float *x, size_t d, const float *packed, size_t m,
                                   float *projections, float *sum_of_squares);

/// The sign decisions of `m` projections against their thresholds, as bits (bit `c % 64` of word
/// `c / 64`; `(m + 63) / 64` words each): with `distance = (double)projections[c] - thresholds[c]`
/// and `tolerance = bound * scales[c] + slack[c]` (a product, then a sum, both in double),
///   `signs` has bit c set when `distance > 0`, and
///   `uncertain` has bit c set unless `tolerance < |distance| < infinity` (a NaN is uncertain):
/// the bits too close to their threshold to trust, which the caller decides otherwise. The same
/// bits on every CPU (the AVX-512 form computes the same doubles).
void b4b_threshold_bits(const float *projections, const double *thresholds, const double *scales,
                        const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain);

/// `b4b_threshold_bits` with the form of `level` (0: portable, 2: AVX-512; 1 runs the portable
/// form); returns 0, writing nothing, when this CPU cannot run that level.
int b4b_threshold_bits_at(int level, const float *projections, const double *thresholds, const double *scales,
                          const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain);

/// `b4b_threshold_bits` for a batch's rows, each with the bound its sum of squares gives: row `r`'s
/// `m` projections start at `projections + r * ldp`, its bound is
/// `gamma * sqrt((double)sums_of_squares[r] * inflation)` (a product, then a correctly rounded
/// square root, then a product: the row's norm bound times the rounding factor, as the caller
/// computes it), and its bits go to `signs + r * words` and `uncertain + r * words`
/// (`words = (m + 63) / 64`). Rows are decided in order and the first whose sum of squares is
/// not finite (a NaN or an infinity in the row, or squares that overflowed) stops the call,
/// writing nothing for it. Returns the number of rows decided: `rows` unless one stopped it.
/// What it is for: one call per batch instead of one per row, with the per-direction data
/// loaded once. The same bits as `b4b_threshold_bits` row by row, on every CPU.
size_t b4b_threshold_bits_rows(const float *projections, size_t ldp, size_t rows, const float *sums_of_squares,
                               double gamma, double inflation, const double *thresholds, const double *scales,
                               const double *slack, size_t m, uint64_t *signs, uint64_t *uncertain);

/// `b4b_threshold_bits_rows` with the form of `level` (0: portable, 2: AVX-512; 1 runs the
/// portable form); returns `(size_t)-1`, writing nothing, when this CPU cannot run that level.
size_t b4b_threshold_bits_rows_at(int level, const float *projections, size_t ldp, size_t rows,
                                  const float *sums_of_squares, double gamma, double inflation,
                                  const double *thresholds, const double *scales, const double *slack, size_t m,
                                  uint64_t *signs, uint64_t *uncertain);

/// Alternately 1 and 0 on each thread, starting with 1 (a per-thread flag, flipped by each call):
/// which way the calling thread's next lone row should walk the directions (1: descending, with
/// `b4b_project_row_f32_descending`), so that consecutive lone rows on a thread walk back and
/// forth. Only a hint for speed: either way gives values within the same bound.
int b4b_lone_row_turn(void);

/// One row `x` (`d` floats) against `m` half-precision directions packed by
/// `b4b_projection_pack_half`: `projections[c] = x · direction_c` for `c < m` and
/// `*sum_of_squares = x · x`, summed in single precision exactly as `b4b_project_rows_f32` sums
/// (the halves are widened exactly), so each is within `γ_{ceil(d/8)+3} Σ |a_k b_k|` of the exact
/// dot product with the half-precision directions. Half the bytes of the float directions: for
/// a lone row, whose directions stream from L2, this is the faster pass.
///
/// Returns 1 when done; 0, writing nothing, when the CPU lacks the extensions.
int b4b_screen_row_f16(const float *x, size_t d, const uint16_t *packed, size_t m,
                       float *projections, float *sum_of_squares);

/// `b4b_screen_row_f16` with the kernel of `level` (as `b4b_project_rows_f32_at`).
int b4b_screen_row_f16_at(int level, const float *x, size_t d, const uint16_t *packed, size_t m,
                          float *projections, float *sum_of_squares);

/// `uint16_t` masks needed by `b4b_sign_pack` for `m` directions of length `d`:
/// `ceil(m / 12) * 12 * ceil(d / 16)`.
size_t b4b_sign_masks_count(size_t m, size_t d);

/// Packs `m` sign directions of length `d` (row `c` at `directions + c * ld`, every entry exactly
/// +1 or -1) as bit masks for `b4b_sign_row_f32`: groups of twelve directions; within a group,
/// for each block of sixteen coordinates, direction 0's 16 bits, then direction 1's, ..., 11's
/// (bit `l` set when coordinate `16 b + l` is +1; missing directions and coordinates have no
/// bits). `masks` holds `b4b_sign_masks_count(m, d)` values. Returns 1 when packed; 0, writing
/// nothing, when some entry is not ±1.
int b4b_sign_pack(const float *directions, size_t m, size_t d, size_t ld, uint16_t *masks);

/// One row `x` (`d` floats, any 4-byte alignment) against `m` sign directions packed by
/// `b4b_sign_pack`: `projections[c] = x · direction_c` and `*sum_of_squares = x · x`.
/// Each projection is `2 P - S` rounded once (`P` the float sum of the row's values at the
/// direction's +1 entries, `S` of all of them, each summed lane by lane in 16 lanes and then
/// across lanes in four pairwise steps), so it is within `γ_n Σ|x_k| = γ_n Σ|x_k p_k|` of the exact
/// dot product for `n = 3 (ceil(d/16) + 4) + 1`. The sum of squares is summed in the same order.
/// A NaN or infinity in the row makes the sum of squares non-finite.
///
/// Returns 1 when done; 0, writing nothing, when the CPU lacks AVX-512 F and DQ
/// (`b4b_projection_level() < 2`).
int b4b_sign_row_f32(const float *x, size_t d, const uint16_t *masks, size_t m,
                     float *projections, float *sum_of_squares);

/// `*result = x · p` over `d` floats (both contiguous) in single precision, within
/// `γ_n Σ |x_k p_k|` of the exact value for `n = ceil(ceil(d/8)/4) + 5`.
///
/// Returns 1 when done; 0, writing nothing, when the CPU lacks the extensions.
int b4b_dot_f32(const float *x, const float *p, size_t d, float *result);

/// `b4b_threshold_bits` for projections given in double precision (`distance = projections[c] -
/// thresholds[c]`, the rest as there): the decision of the integer screening pass.
void b4b_threshold_bits_f64(const double *projections, const double *thresholds, const double *scales,
                            const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain);

/// `b4b_threshold_bits_f64` with the form of `level` (as `b4b_threshold_bits_at`).
int b4b_threshold_bits_f64_at(int level, const double *projections, const double *thresholds, const double *scales,
                              const double *slack, double bound, size_t m, uint64_t *signs, uint64_t *uncertain);

// MARK: Integer screening of a lone row (IntegerKernel.c)

/// 1 when this CPU can run `b4b_integer_screen_row` (AVX-512 F, BW, DQ and VNNI), else 0
/// (always 0 on non-x86 targets). The CPU is queried once.
int b4b_integer_screening_available(void);

/// 16-bit values needed by `b4b_integer_pack` for `m` directions of length `d`:
/// `ceil(m / 12) * 12 * ceil(d / 32) * 32`.
size_t b4b_integer_packed_count(size_t m, size_t d);

/// Integer copies of `m` float directions of length `d` (row `c` at `directions + c * ld`) for
/// `b4b_integer_screen_row`: `P_c = round(p_c 2^e_c)` (to nearest, in double), with the largest
/// `e_c` that keeps every `|P_ck| <= 32767` and the norm of the integers each 32-bit lane of the
/// kernel meets at most 32766 (so that the kernel's 32-bit sums cannot overflow). Packed in
/// groups of twelve directions; within a group, for each block of 32 coordinates, direction 0's
/// 32 values, then direction 1's, ..., 11's, each block's values in the order the kernel converts
/// a row's block (value `8 l + 4 h + e` is coordinate `16 h + 4 l + e`); missing directions and
/// coordinates are 0. `packed` holds `b4b_integer_packed_count(m, d)` values (64-byte aligned
/// for speed). Writes `unscale[c] = 2^-e_c` and `error_scales[c]`, rounded up:
///   `65536 ‖p_c - 2^-e_c P_c‖ + 0.5 ‖p_c‖_1 + 65536 ‖p_c‖ (2^-24 + 2^-52)`,
/// so that a screened projection `v_c` of a row with bound `β` (`b4b_integer_screen_row`) is
/// within `β error_scales[c]` of the exact `x · p_c`.
/// Returns 1 when packed; 0, writing nothing, when a value is not finite, `m` or `d` is 0, or
/// `d` is beyond 4e9.
int b4b_integer_pack(const float *directions, size_t m, size_t d, size_t ld, int16_t *packed,
                     double *unscale, double *error_scales);

/// Screens one row `x` (`d` floats) against `m` directions packed by `b4b_integer_pack`: writes
/// its sum of squares (`x · x` in single precision, in some order) to `*sum_of_squares`; when that
/// is not finite (a NaN or infinity in the row, or squares beyond the float range), writes
/// `*bound = INFINITY` and nothing else. Otherwise, with a scale `s` chosen for the row (a float
/// with `s ‖x‖ < 65536 - 0.51 sqrt(d)` and `s max|x_k| < 32767`, at most 2^100), each coordinate
/// becomes the integer `X_k = round(x_k s)` (products and rounding to nearest even), the sums
/// `X · P_c` are exact, and `projections[c] = (X · P_c) unscale[c] / s` (in double);
/// `*bound = (1 / s) (1 + 2^-50)`. Then `|projections[c] - x · p_c| <= *bound * error_scales[c]`.
/// `descending` walks the coordinates from the last block to the first (same values: the sums
/// are exact), so that consecutive lone rows can walk back and forth (`b4b_lone_row_turn`).
///
/// `hint` is a scale to try, which saves a pass over the row when it stands: it stands when it is
/// within the row's constraints above and at least half the largest scale they allow, and it is
/// then `s`; else `s` is the largest allowed. 0: no hint (two passes over the row); a negative
/// value: this thread's hint, the previous lone row's largest scale lowered by 3 % (a per-thread
/// value that each call sets: rows of about the same norm, as normalized representations are,
/// then take one pass). The values and the bound depend on `s`; the bound holds for any.
///
/// Returns 1 when done; 0, writing nothing, when the CPU lacks the extensions.
int b4b_integer_screen_row(const float *x, size_t d, const int16_t *packed, const double *unscale, size_t m,
                           int descending, float hint, double *projections, double *bound, float *sum_of_squares);

#ifdef __cplusplus
}
#endif

#endif  // CPROJECTIONKERNELS_H
