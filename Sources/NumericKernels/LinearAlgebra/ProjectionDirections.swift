internal import CProjectionKernels

/// A few fixed directions (`m x d`, `m` small: the hyperplane normals of random-projection
/// hashing) prepared for projecting many rows onto them.
///
/// One ``project(_:into:sumsOfSquares:)`` call gives, for each row, its dot product with every
/// direction and its own sum of squares (what a rounding-safe sign decision needs), in the
/// rows' units. On x86-64 CPUs with AVX2 and FMA a kernel (`CProjectionKernels`) computes both
/// in one pass over each row, with the directions packed once, here (its AVX-512 build where the
/// CPU has AVX-512, with the same projections bit for bit but for the shifted reads below);
/// elsewhere a sum-of-squares pass and one `cblas_sgemm` do. With a dozen directions the GEMM spends much of its time
/// packing the batch: at d = 2048 and 256 rows the kernel, norm included, measured 1.45–1.5x
/// the bare GEMM without it (rows from memory or from cache; see `Benchmarks/KERNELS.md`).
///
/// Both paths compute single-precision dot products, so each value is within `γ_n Σ|x_k p_k|`
/// of the exact one (`γ_n = n u / (1 - n u)`, `u = 2^-24`); ``project(_:into:sumsOfSquares:)``
/// returns the `n` of the path it took: `d` for BLAS, whose summation order is unknown, and
/// `ceil(d / 8) + 3` for the kernel, which accumulates eight interleaved partial sums with one
/// rounding per fused multiply-add and then adds the eight lanes in three steps. The two paths
/// may differ from each other in the last bits. The AVX-512 build reads a batch of four rows or
/// more by the rows' cache lines (`b4b_project_rows_f32_wide`): rows that start 16 or 48 bytes past
/// a line, as a large Swift array's elements do, are read from four floats earlier against a
/// copy of the directions shifted by as much, one block deeper (`ceil((d + 4) / 8) + 3`), and
/// their values may then differ in the last bits from the AVX2 build's.
///
/// Sign directions (every entry +1 or -1) are also kept as bits (3 KiB for 12 directions at
/// d = 2048, against 96 KiB of floats), and on CPUs with AVX-512 a lone row is projected from the
/// bits (``ProjectionPath/signKernel``): its time is then the row's arithmetic, not the
/// directions' trip from L2.
///
/// For a lone row's first pass there are also screening copies, whose values come with their own
/// rigorous bounds: half-precision directions (``screen(_:into:sumOfSquares:)``, AVX2) and, on CPUs
/// with AVX-512 VNNI, 16-bit integer directions against the row rounded to integers, summed
/// exactly (``screenWithIntegers(_:into:bound:sumOfSquares:)``).
public struct ProjectionDirections: Sendable {
    /// Number of directions `m`.
    public let count: Int
    /// Length of each direction (the rows' dimension `d`).
    public let dimension: Int
    // `m x d`, row-major: the BLAS path's operand.
    private let directions: Matrix
    // The kernel's layout (b4b_projection_pack), 64-byte aligned; empty when the kernel cannot
    // run here.
    private let packed: AlignedBuffer<Float>
    // The same preceded by B4B_ROW_SHIFT zero coordinates (b4b_projection_pack_shifted), for
    // batches whose rows start 16 or 48 bytes past a cache line (b4b_project_rows_f32_wide);
    // empty unless the AVX-512 kernel runs here.
    private let packedShifted: AlignedBuffer<Float>
    // Screening copies: direction c times 2^e_c (largest magnitude in [1, 2)), rounded to half
    // precision, in the kernel's layout (b4b_projection_pack_half); empty when screening cannot
    // run here.
    private let packedHalf: AlignedBuffer<UInt16>
    // 2^-e_c: takes a screened value back to the directions' units (exactly, in double).
    private let halfUnscale: [Double]
    // Sign directions as bit masks (b4b_sign_pack); empty unless every entry is ±1 and the sign
    // kernel runs here.
    private let signMasks: AlignedBuffer<UInt16>
    // Integer copies for the integer screening of lone rows (b4b_integer_pack), and 2^-e_c per
    // direction (from a copy's units back to the directions'); empty when it cannot run here.
    private let packedIntegers: AlignedBuffer<Int16>
    private let integerUnscale: [Double]

    /// Per direction `c`, the factor of the integer screening's error bound:
    /// ``screenWithIntegers(_:into:bound:sumOfSquares:)`` gives `v_c` and a bound `β` (about
    /// `‖x‖ / 65536` for a row `x`) with `|v_c - x · p_c| <= β integerScreeningScales[c]`. It is
    /// `65536 ‖p_c - 2^-e_c P_c‖ + 0.5 ‖p_c‖₁ + 65536 ‖p_c‖ (2^-24 + 2^-52)`, rounded up (`P_c`
    /// the 16-bit copy of direction `c`, scaled by `2^e_c`): for Gaussian directions at d = 2048 a
    /// bound of about `3e-4 ‖x‖ ‖p_c‖`. Empty when integer screening cannot run here.
    public let integerScreeningScales: [Double]
    // The path the public calls take: the widest kernel this CPU runs, or BLAS when there is no
    // kernel (or nothing to pack). Chosen once, here.
    private let path: ProjectionPath

    /// Per direction `c`, a bound on a screened projection's error relative to the row's norm:
    /// ``screen(_:into:sumOfSquares:)`` gives `v_c` with `|v_c - x · p_c| <= ‖x‖ screeningErrors[c]`.
    /// It is `γ_{n+2} ‖p̃_c‖ + ‖p̃_c - p_c‖` (`p̃_c` the half-precision copy, `n = ceil(d / 8) + 3`
    /// the screening sum's depth, two more roundings of slack), rounded up. About `2.3e-4 ‖p_c‖`
    /// for Gaussian directions. Empty when screening cannot run here.
    public let screeningErrors: [Double]

    /// Rounding depth `n` of ``project(_:onto:)``: its value is within `γ_n Σ|x_k p_k|` of the exact one.
    public let singleDirectionTerms: Int

    /// Prepares the rows of `directions` (`m x d`) as the directions.
    public init(_ directions: Matrix) {
        self.count = directions.rows
        self.path = ProjectionPath.wideKernel.isAvailable ? .wideKernel : ProjectionPath.kernel.isAvailable ? .kernel : .blas
        self.dimension = directions.columns
        self.directions = directions
        let (m, d) = (directions.rows, directions.columns)
        singleDirectionTerms = ProjectionPath.kernel.isAvailable ? ((d + 7) / 8 + 3) / 4 + 5 : d
        (packedIntegers, integerUnscale, integerScreeningScales) = Self.integerCopies(directions)
        guard ProjectionPath.kernel.isAvailable, m > 0, d > 0 else {
            (packed, packedHalf, halfUnscale, screeningErrors) = (AlignedBuffer(), AlignedBuffer(), [], [])
            (signMasks, packedShifted) = (AlignedBuffer(), AlignedBuffer())
            return
        }
        if ProjectionPath.signKernel.isAvailable, directions.elements.allSatisfy({ $0 == 1 || $0 == -1 }) {
            signMasks = AlignedBuffer(count: b4b_sign_masks_count(m, d)) { buffer in
                let packed = directions.withUnsafeBufferPointer { source in
                    b4b_sign_pack(source.baseAddress, m, d, d, buffer.baseAddress)
                }
                precondition(packed == 1, "every entry was checked to be +1 or -1")
            }
        } else {
            signMasks = AlignedBuffer()
        }
        // Aligned to cache lines: with 16-byte-aligned directions a third of the batch kernel's
        // inner-loop loads straddle two lines; aligning them took 6-10 % off the kernel's time
        // (paired rounds, rows in L2 and from a 16 MiB pool).
        self.packed = AlignedBuffer(count: b4b_projection_packed_count(m, d)) { buffer in
            directions.withUnsafeBufferPointer { source in
                b4b_projection_pack(source.baseAddress, m, d, d, buffer.baseAddress)
            }
        }
        if ProjectionPath.wideKernel.isAvailable {
            packedShifted = AlignedBuffer(count: b4b_projection_packed_count(m, d + Int(B4B_ROW_SHIFT))) { buffer in
                directions.withUnsafeBufferPointer { source in
                    b4b_projection_pack_shifted(source.baseAddress, m, d, d, buffer.baseAddress)
                }
            }
        } else {
            packedShifted = AlignedBuffer()
        }
        if let screening = Self.halfPrecisionCopies(directions) {
            packedHalf = AlignedBuffer(count: b4b_projection_packed_count(m, d)) { buffer in
                screening.halves.withUnsafeBufferPointer { source in
                    b4b_projection_pack_half(source.baseAddress, m, d, d, buffer.baseAddress)
                }
            }
            (halfUnscale, screeningErrors) = (screening.unscale, screening.errors)
        } else {
            (packedHalf, halfUnscale, screeningErrors) = (AlignedBuffer(), [], [])
        }
    }

    /// The integer copies of `directions` in the integer kernel's layout, their scales back and
    /// their error factors (see ``integerScreeningScales``); empty when the kernel cannot run here
    /// or a direction holds a non-finite value.
    private static func integerCopies(_ directions: Matrix) -> (AlignedBuffer<Int16>, [Double], [Double]) {
        let (m, d) = (directions.rows, directions.columns)
        guard b4b_integer_screening_available() != 0, m > 0, d > 0 else { return (AlignedBuffer(), [], []) }
        var unscale = [Double](repeating: 0, count: m), scales = [Double](repeating: 0, count: m)
        var packed = false
        let buffer = AlignedBuffer<Int16>(count: b4b_integer_packed_count(m, d)) { target in
            directions.withUnsafeBufferPointer { source in
                unscale.withUnsafeMutableBufferPointer { u in
                    scales.withUnsafeMutableBufferPointer { e in
                        packed = b4b_integer_pack(source.baseAddress, m, d, d, target.baseAddress, u.baseAddress, e.baseAddress) == 1
                    }
                }
            }
            // A failed pack wrote nothing: zero the buffer so that it is initialized, then drop it.
            if !packed { target.initialize(repeating: 0) }
        }
        return packed ? (buffer, unscale, scales) : (AlignedBuffer(), [], [])
    }

    /// The half-precision copies of `directions` (bit patterns, `m x d`), their scales back and
    /// their error bounds (see ``screeningErrors``); nil when a direction holds a non-finite value.
    private static func halfPrecisionCopies(_ directions: Matrix) -> (halves: [UInt16], unscale: [Double], errors: [Double])? {
        let (m, d) = (directions.rows, directions.columns)
        var halves = [UInt16](repeating: 0, count: m * d)
        var unscale = [Double](repeating: 1, count: m)
        var errors = [Double](repeating: 0, count: m)
        let nu = Double((d + 7) / 8 + 3 + 2) * Double(Float.ulpOfOne) / 2
        let gamma = nu / (1 - nu)
        for c in 0..<m {
            let row = Array(directions.row(c))
            var largest: Float = 0
            for v in row {
                guard v.isFinite else { return nil }
                largest = max(largest, abs(v))
            }
            // 2^e with the largest magnitude scaled into [1, 2): a power of two, so scaling
            // and unscaling are exact, and half precision's range holds every value.
            let e = largest > 0 ? -Int(largest.exponent) : 0
            let scale = Double(sign: .plus, exponent: e, significand: 1)
            unscale[c] = Double(sign: .plus, exponent: -e, significand: 1)
            var copyNorm = 0.0, residual = 0.0
            for k in 0..<d {
                let half = Float16(Float(Double(row[k]) * scale))
                halves[c * d + k] = half.bitPattern
                let copy = Double(Float(half)) * unscale[c]
                copyNorm += copy * copy
                residual += (copy - Double(row[k])) * (copy - Double(row[k]))
            }
            // Double sums of d squares are within d 2^-53 of exact: rounded up well beyond that.
            let up = 1 + 1e-9
            errors[c] = (gamma * (copyNorm * up).squareRoot() + (residual * up).squareRoot()) * up
        }
        return (halves, unscale, errors)
    }

    /// Whether the directions are sign directions (every entry ±1) held as bits for the sign
    /// kernel, which then projects lone rows (only where the CPU runs it).
    public var hasSignKernel: Bool { !signMasks.isEmpty }

    /// Projects `rows` (`B x d`): `projections[i, c] = rows[i] · direction[c]` and
    /// `sumsOfSquares[i] = rows[i] · rows[i]`, on the fastest path this machine has (for a lone
    /// row against sign directions, ``ProjectionPath/signKernel``).
    ///
    /// With the AVX-512 kernel, lone rows walk the directions forwards and backwards in turn on
    /// each thread (``ProjectionPath/wideKernelDescending``): the part of the directions the
    /// previous lone row read last is still in L1, and the next one reads it first (0.71 µs
    /// against 0.89–0.95 µs per lone row at d = 2048 with 12 directions, on a 2-core Intel Xeon).
    /// So the same lone row may get projections that differ in the last bits from one call to
    /// the next; each is within the returned bound.
    ///
    /// A NaN or infinity in a row makes its sum of squares non-finite (so does a finite row
    /// whose squares overflow, beyond about 1.8e19 in magnitude).
    /// - Precondition: `rows.columns == dimension`, `projections` is `B x count`,
    ///   `sumsOfSquares.count == B`.
    /// - Returns: `n` such that every value written (projection or sum of squares) is within
    ///   `γ_n` times the sum of its terms' magnitudes of the exact value.
    @discardableResult
    public func project(_ rows: MatrixView, into projections: MutableMatrixView, sumsOfSquares: UnsafeMutableBufferPointer<Float>) -> Int {
        let chosen = packed.isEmpty ? .blas : rows.rows == 1 ? loneRowPath : path
        return project(rows, into: projections, sumsOfSquares: sumsOfSquares, path: chosen)!
    }

    /// The path of a lone row: the sign kernel for sign directions; with the AVX-512 kernel, its
    /// two walks in turn on the calling thread (`b4b_lone_row_turn`); else the batches' path.
    private var loneRowPath: ProjectionPath {
        if hasSignKernel { return .signKernel }
        if path == .wideKernel { return b4b_lone_row_turn() != 0 ? .wideKernelDescending : .wideKernel }
        return path
    }

    /// ``project(_:into:sumsOfSquares:)`` on a chosen path (for tests and measurements).
    /// - Returns: the `n` of the rounding bound, as the public call; `nil`, writing nothing,
    ///   when `path` cannot run on this machine (or, for ``ProjectionPath/signKernel``, on these
    ///   directions: see ``hasSignKernel``).
    package func project(_ rows: MatrixView, into projections: MutableMatrixView,
                         sumsOfSquares: UnsafeMutableBufferPointer<Float>, path: ProjectionPath) -> Int? {
        let (b, m, d) = (rows.rows, count, dimension)
        precondition(rows.columns == d, "rows have \(rows.columns) columns, the directions \(d)")
        precondition(projections.rows == b && projections.columns == m,
                     "projections are \(projections.rows) x \(projections.columns), expected \(b) x \(m)")
        precondition(sumsOfSquares.count == b, "\(sumsOfSquares.count) sums of squares for \(b) rows")
        guard path.isAvailable else { return nil }
        let terms = switch path {
        case .blas: d
        case .kernel, .wideKernel, .wideKernelDescending: (d + 7) / 8 + 3
        case .signKernel: 3 * ((d + 15) / 16 + 4) + 1
        }
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
                b4b_project_rows_f32_at(path.kernelLevel, rows.start, b, d, rows.rowStride, p.baseAddress, m,
                                        projections.start, projections.rowStride, sumsOfSquares.baseAddress)
            }
            return done != 0 ? terms : nil
        case .wideKernel:
            // Rows read by their cache lines: with rows 16 or 48 bytes past a line (a large Swift
            // array's), from the shifted copy, one more block deep (see b4b_project_rows_f32_wide).
            let depth = packed.withUnsafeBufferPointer { p in
                packedShifted.withUnsafeBufferPointer { q in
                    b4b_project_rows_f32_wide(rows.start, b, d, rows.rowStride, p.baseAddress, q.isEmpty ? nil : q.baseAddress, m,
                                              projections.start, projections.rowStride, sumsOfSquares.baseAddress)
                }
            }
            return depth != 0 ? Int(depth) : nil
        case .wideKernelDescending:
            packed.withUnsafeBufferPointer { p in
                for i in 0..<b {
                    let done = b4b_project_row_f32_descending(rows.start! + i * rows.rowStride, d, p.baseAddress, m,
                                                              projections.start! + i * projections.rowStride,
                                                              sumsOfSquares.baseAddress! + i)
                    precondition(done == 1, "the AVX-512 kernel was available when the directions were packed")
                }
            }
            return terms
        case .signKernel:
            guard hasSignKernel else { return nil }
            signMasks.withUnsafeBufferPointer { masks in
                for i in 0..<b {
                    let done = b4b_sign_row_f32(rows.start! + i * rows.rowStride, d, masks.baseAddress, m,
                                                projections.start! + i * projections.rowStride, sumsOfSquares.baseAddress! + i)
                    precondition(done == 1, "the sign kernel was available when the directions were packed")
                }
            }
            return terms
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

extension ProjectionDirections {
    /// Whether ``screen(_:into:sumOfSquares:)`` can run on this machine.
    public var canScreen: Bool { !packedHalf.isEmpty }

    /// Whether screening is the faster first pass for a lone row here: with the AVX2 kernel,
    /// where it halves the directions' bytes from L2 (on a 2-core AMD EPYC, Zen 3, a lone row
    /// took 0.84–1.0 µs screened against 1.21–1.37 µs in floats, rows in cache), but not with
    /// the AVX-512 build, whose widening of halves to floats takes the same two ports as its
    /// multiply-adds (on a 2-core Intel Xeon with AVX-512: 1.09–1.22 µs screened against
    /// 0.89–0.95 µs in floats, rows in L2; equal from memory).
    public var screensLoneRowsFaster: Bool { canScreen && path == .kernel }

    /// Screening projections of one row: `projections[c]` approximates `row · direction[c]`
    /// (in the directions' units) from half-precision copies of the directions, within
    /// `‖row‖ screeningErrors[c]` of the exact value; `sumOfSquares` is the row's, in single
    /// precision (within `γ_{ceil(d/8)+3}` relative). For one row this reads half the bytes of
    /// ``project(_:into:sumsOfSquares:)``; values too close to a decision to trust are then
    /// recomputed with ``project(_:onto:)``. A NaN or infinity in the row makes the sum of
    /// squares non-finite.
    /// - Precondition: `row.count == dimension`, `projections.count == count`.
    /// - Returns: false, writing nothing, when screening cannot run here (``canScreen``).
    public func screen(_ row: UnsafeBufferPointer<Float>, into projections: UnsafeMutableBufferPointer<Double>,
                       sumOfSquares: inout Float) -> Bool {
        screen(row, into: projections, sumOfSquares: &sumOfSquares,
               path: path)
    }

    /// ``screen(_:into:sumOfSquares:)`` with the kernel of `path` (for tests and measurements);
    /// false, writing nothing, when that kernel cannot run here (or `path` is ``ProjectionPath/blas``
    /// or ``ProjectionPath/signKernel``, which do not screen).
    package func screen(_ row: UnsafeBufferPointer<Float>, into projections: UnsafeMutableBufferPointer<Double>,
                        sumOfSquares: inout Float, path: ProjectionPath) -> Bool {
        precondition(row.count == dimension, "row has \(row.count) values, the directions \(dimension)")
        precondition(projections.count == count, "\(projections.count) projections for \(count) directions")
        guard canScreen, path == .kernel || path == .wideKernel, path.isAvailable else { return false }
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { scaled in
            let done = packedHalf.withUnsafeBufferPointer { p in
                b4b_screen_row_f16_at(path.kernelLevel, row.baseAddress, dimension, p.baseAddress, count,
                                      scaled.baseAddress, &sumOfSquares)
            }
            guard done != 0 else { return false }
            for c in 0..<count { projections[c] = Double(scaled[c]) * halfUnscale[c] }
            return true
        }
    }

    /// Whether ``screenWithIntegers(_:into:bound:sumOfSquares:)`` can run on these directions
    /// here: the CPU runs the integer kernel (``integerScreeningRuns``) and every value is finite.
    public var canScreenWithIntegers: Bool { !packedIntegers.isEmpty }

    /// Whether this CPU runs the integer screening kernel (x86-64 with AVX-512 F, BW, DQ and VNNI).
    package static var integerScreeningRuns: Bool { b4b_integer_screening_available() != 0 }

    /// Whether integer screening is the faster first pass for a lone row: where it runs, and when
    /// the float directions are over 48 KiB (more than an L1 holds, so a lone row in floats waits
    /// for their trip from L2). On a 2-core Intel Xeon with 12 directions, lone rows in L2, float
    /// kernel walking back and forth against integer screening (medians of 3 alternated runs, ns):
    /// d = 384 (18 KiB of floats) 126–162 against 148–193; d = 512 to 1024 within each other's
    /// spread; d = 1536 610–732 against 427–447; d = 2048 749–852 against 506–631.
    public var screensWithIntegersFaster: Bool {
        canScreenWithIntegers && count * dimension * MemoryLayout<Float>.size > 48 * 1024
    }

    /// Screening projections of one row from 16-bit integer copies of the row and of the
    /// directions, summed exactly: `projections[c]` approximates `row · direction[c]` (in the
    /// directions' units) within `bound * integerScreeningScales[c]`, where `bound` (written here,
    /// about `‖row‖ / 65536`) reflects the row's rounding to integers; `sumOfSquares` is the row's,
    /// in single precision, in some order. Half the bytes of the float directions, and twice the
    /// products per instruction (AVX-512 VNNI): the lone-row pass where it runs. Values too close
    /// to a decision to trust are then recomputed with ``project(_:onto:)``.
    ///
    /// When the sum of squares is not finite (a NaN or infinity in the row, or values beyond
    /// about 1.8e19), `bound` is infinite and `projections` is not written: the caller takes
    /// another path. Consecutive calls on a thread walk the directions in turn forwards and
    /// backwards (`b4b_lone_row_turn`, as ``project(_:into:sumsOfSquares:)`` does for lone rows),
    /// and each starts from the previous row's scale (lowered by 3 %): when it suits the row, as it
    /// does for rows of about the same norm, one pass over the row measures it and sums, else a
    /// second pass sums at the row's own scale. So the same row may get values (and a bound) that
    /// differ from one call to the next; the bound holds for each.
    /// - Precondition: `row.count == dimension`, `projections.count == count`.
    /// - Returns: false, writing nothing, when integer screening cannot run here (``canScreenWithIntegers``).
    public func screenWithIntegers(_ row: UnsafeBufferPointer<Float>, into projections: UnsafeMutableBufferPointer<Double>,
                                   bound: inout Double, sumOfSquares: inout Float) -> Bool {
        screenWithIntegers(row, into: projections, bound: &bound, sumOfSquares: &sumOfSquares, descending: b4b_lone_row_turn() != 0,
                           scaleHint: -1)
    }

    /// ``screenWithIntegers(_:into:bound:sumOfSquares:)`` walking the directions the way
    /// `descending` says, trying the scale `scaleHint` first (0: none, two passes; negative:
    /// this thread's hint, as the public call), for tests.
    package func screenWithIntegers(_ row: UnsafeBufferPointer<Float>, into projections: UnsafeMutableBufferPointer<Double>,
                                    bound: inout Double, sumOfSquares: inout Float, descending: Bool, scaleHint: Float = 0) -> Bool {
        precondition(row.count == dimension, "row has \(row.count) values, the directions \(dimension)")
        precondition(projections.count == count, "\(projections.count) projections for \(count) directions")
        guard canScreenWithIntegers else { return false }
        let done = packedIntegers.withUnsafeBufferPointer { p in
            integerUnscale.withUnsafeBufferPointer { u in
                b4b_integer_screen_row(row.baseAddress, dimension, p.baseAddress, u.baseAddress, count, descending ? 1 : 0,
                                       scaleHint, projections.baseAddress, &bound, &sumOfSquares)
            }
        }
        return done != 0
    }

    /// `row · direction[c]` in single precision, within `γ_n Σ|x_k p_k|` of the exact value for
    /// `n =` ``singleDirectionTerms``.
    /// - Precondition: `row.count == dimension`, `0 <= c < count`.
    public func project(_ row: UnsafeBufferPointer<Float>, onto c: Int) -> Float {
        precondition(row.count == dimension, "row has \(row.count) values, the directions \(dimension)")
        precondition((0..<count).contains(c), "direction \(c) of \(count)")
        return directions.withUnsafeBufferPointer { all in
            let direction = UnsafeBufferPointer(rebasing: all[c * dimension ..< (c + 1) * dimension])
            var value: Float = 0
            if b4b_dot_f32(row.baseAddress, direction.baseAddress, dimension, &value) != 0 { return value }
            for k in 0..<dimension { value += row[k] * direction[k] }
            return value
        }
    }
}

/// How ``ProjectionDirections`` computes: named for tests and measurements; the public
/// ``ProjectionDirections/project(_:into:sumsOfSquares:)`` chooses by itself.
package enum ProjectionPath: Sendable, CaseIterable {
    /// A sum-of-squares pass and one `cblas_sgemm` (one `cblas_sgemv` for a single row): every platform.
    case blas
    /// The one-pass AVX2 + FMA kernel (`CProjectionKernels`): x86-64 CPUs with AVX2, FMA and F16C
    /// (every AVX2 CPU has F16C; the screening pass of a lone row needs it).
    case kernel
    /// The same kernel built for AVX-512 (F and DQ): two directions per 16-lane multiply-add and
    /// a row group's accumulators in registers over the whole row; projections bit for bit those of
    /// ``kernel`` (the sums of squares of rows in groups are added in 16 lanes, within the same bound).
    case wideKernel
    /// The AVX-512 kernel one row at a time, walking the directions from their far end (the
    /// last coordinates first: `b4b_project_row_f32_descending`). Same rounding depth as
    /// ``wideKernel``, values not bit for bit its. The public call takes it for every other lone
    /// row on a thread, so that a lone row starts with the directions the previous one left in L1.
    case wideKernelDescending
    /// One row at a time against sign directions held as bits (`b4b_sign_row_f32`, AVX-512 F and
    /// DQ): one masked add per direction and 16 coordinates. Only for directions whose entries
    /// are all ±1 (``ProjectionDirections/hasSignKernel``); rounding depth `3 (ceil(d/16) + 4) + 1`.
    case signKernel

    /// Whether this path can run on this machine (the CPU is queried once per process).
    package var isAvailable: Bool {
        switch self {
        case .blas: true
        case .kernel, .wideKernel, .wideKernelDescending, .signKernel: b4b_projection_level() >= kernelLevel
        }
    }

    /// The kernel level of `CProjectionKernels` (`b4b_projection_level`) this path runs.
    var kernelLevel: Int32 {
        switch self {
        case .blas: 0
        case .kernel: 1
        case .wideKernel, .wideKernelDescending, .signKernel: 2
        }
    }
}
