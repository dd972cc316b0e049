internal import CProjectionKernels

/// A few fixed directions (`m x d`, `m` small: the hyperplane normals of random-projection
/// hashing) prepared for projecting many rows onto them.
///
/// One ``project(_:into:sumsOfSquares:)`` call gives, for each row, its dot product with every
/// direction and its own sum of squares (what a rounding-safe sign decision needs), in the
/// rows' units. On x86-64 CPUs with AVX2 and FMA a kernel (`CProjectionKernels`) computes both
/// in one pass over each row, with the directions packed once, here; elsewhere a sum-of-squares
/// pass and one `cblas_sgemm` do. With a dozen directions the GEMM spends much of its time
/// packing the batch: at d = 2048 and 256 rows the kernel, norm included, measured 1.45–1.5x
/// the bare GEMM without it (rows from memory or from cache; see the README's benchmark section).
///
/// Both paths compute single-precision dot products, so each value is within `γ_n Σ|x_k p_k|`
/// of the exact one (`γ_n = n u / (1 - n u)`, `u = 2^-24`); ``project(_:into:sumsOfSquares:)``
/// returns the `n` of the path it took: `d` for BLAS, whose summation order is unknown, and
/// `ceil(d / 8) + 3` for the kernel, which accumulates eight interleaved partial sums with one
/// rounding per fused multiply-add and then adds the eight lanes in three steps. The two paths
/// may differ from each other in the last bits.
public struct ProjectionDirections: Sendable {
    /// Number of directions `m`.
    public let count: Int
    /// Length of each direction (the rows' dimension `d`).
    public let dimension: Int
    // `m x d`, row-major: the BLAS path's operand.
    private let directions: Matrix
    // The kernel's layout (b4b_projection_pack); empty when the kernel cannot run here.
    private let packed: [Float]

    /// Prepares the rows of `directions` (`m x d`) as the directions.
    public init(_ directions: Matrix) {
        self.count = directions.rows
        self.dimension = directions.columns
        self.directions = directions
        guard ProjectionPath.kernel.isAvailable, directions.rows > 0, directions.columns > 0 else {
            self.packed = []
            return
        }
        let (m, d) = (directions.rows, directions.columns)
        self.packed = [Float](unsafeUninitializedCapacity: b4b_projection_packed_count(m, d)) { buffer, initialized in
            directions.withUnsafeBufferPointer { source in
                b4b_projection_pack(source.baseAddress, m, d, d, buffer.baseAddress)
            }
            initialized = buffer.count
        }
    }

    /// Projects `rows` (`B x d`): `projections[i, c] = rows[i] · direction[c]` and
    /// `sumsOfSquares[i] = rows[i] · rows[i]`, on the fastest path this machine has.
    ///
    /// A NaN or infinity in a row makes its sum of squares non-finite (so does a finite row
    /// whose squares overflow, beyond about 1.8e19 in magnitude).
    /// - Precondition: `rows.columns == dimension`, `projections` is `B x count`,
    ///   `sumsOfSquares.count == B`.
    /// - Returns: `n` such that every value written (projection or sum of squares) is within
    ///   `γ_n` times the sum of its terms' magnitudes of the exact value.
    @discardableResult
    public func project(_ rows: MatrixView, into projections: MutableMatrixView, sumsOfSquares: UnsafeMutableBufferPointer<Float>) -> Int {
        let path: ProjectionPath = packed.isEmpty ? .blas : .kernel
        return project(rows, into: projections, sumsOfSquares: sumsOfSquares, path: path)!
    }

    /// ``project(_:into:sumsOfSquares:)`` on a chosen path (for tests and measurements).
    /// - Returns: the `n` of the rounding bound, as the public call; `nil`, writing nothing,
    ///   when `path` cannot run on this machine.
    package func project(_ rows: MatrixView, into projections: MutableMatrixView,
                         sumsOfSquares: UnsafeMutableBufferPointer<Float>, path: ProjectionPath) -> Int? {
        let (b, m, d) = (rows.rows, count, dimension)
        precondition(rows.columns == d, "rows have \(rows.columns) columns, the directions \(d)")
        precondition(projections.rows == b && projections.columns == m,
                     "projections are \(projections.rows) x \(projections.columns), expected \(b) x \(m)")
        precondition(sumsOfSquares.count == b, "\(sumsOfSquares.count) sums of squares for \(b) rows")
        guard path.isAvailable else { return nil }
        let terms = path == .kernel ? (d + 7) / 8 + 3 : d
        guard b > 0 else { return terms }
        if m == 0 || d == 0 {
            // Nothing to pack: empty dot products are 0, whatever the path.
            for i in 0..<b {
                sumsOfSquares[i] = sumOfSquares(rows.row(i))
                for c in 0..<m { projections[i, c] = 0 }
            }
            return d
        }
        switch path {
        case .kernel:
            let done = packed.withUnsafeBufferPointer { p in
                b4b_project_rows_f32(rows.start, b, d, rows.rowStride, p.baseAddress, m,
                                     projections.start, projections.rowStride, sumsOfSquares.baseAddress)
            }
            return done != 0 ? terms : nil
        case .blas:
            for i in 0..<b { sumsOfSquares[i] = sumOfSquares(rows.row(i)) }
            directions.withView { p in
                if b == 1 {
                    // One row: a GEMV into a contiguous scratch, then the (possibly strided) output.
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: m) { y in
                        gemv(p, .none, rows.row(0), into: y)
                        for c in 0..<m { projections[0, c] = y[c] }
                    }
                } else {
                    // P Xᵀ (m x B), then transposed into place: with the batch as the long
                    // dimension OpenBLAS is markedly faster than computing X Pᵀ directly.
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: m * b) { scratch in
                        gemm(p, .none, rows, .transpose, into: MutableMatrixView(scratch, rows: m, columns: b))
                        for i in 0..<b { for c in 0..<m { projections[i, c] = scratch[c * b + i] } }
                    }
                }
            }
            return terms
        }
    }
}

/// How ``ProjectionDirections`` computes: named for tests and measurements; the public
/// ``ProjectionDirections/project(_:into:sumsOfSquares:)`` chooses by itself.
package enum ProjectionPath: Sendable, CaseIterable {
    /// A sum-of-squares pass and one `cblas_sgemm` (one `cblas_sgemv` for a single row): every platform.
    case blas
    /// The one-pass AVX2 + FMA kernel (`CProjectionKernels`): x86-64 CPUs with both extensions.
    case kernel

    /// Whether this path can run on this machine (the CPU is queried once per process).
    package var isAvailable: Bool {
        switch self {
        case .blas: true
        case .kernel: b4b_projection_available() != 0
        }
    }
}
