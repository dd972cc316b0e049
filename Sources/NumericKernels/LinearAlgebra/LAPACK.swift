import CBLASShim

/// Least-squares method for ``leastSquares(_:_:method:)``.
public enum LeastSquaresMethod: Sendable, Equatable {
    /// Householder QR (`sgels`); requires full column rank (or full row rank when
    /// underdetermined, giving the minimum-norm solution). Fastest.
    case qr
    /// Divide-and-conquer SVD (`sgelsd`): the minimum-norm solution for any rank.
    /// Singular values below `relativeCondition * largest` are treated as zero
    /// (negative: machine precision).
    case svd(relativeCondition: Float = -1)
}

/// The solution of `min ||A X - B||` with diagnostics.
public struct LeastSquaresSolution: Sendable {
    /// The `n x nrhs` solution (minimum-norm when the system is underdetermined or rank deficient).
    public let solution: Matrix
    /// Effective rank of `A` (reported by the SVD method; `min(m, n)` for QR).
    public let rank: Int
}

/// Solves `min ||A X - B||_F` for `A: m x n`, `B: m x nrhs` (one LAPACK call).
///
/// - Throws: ``LinearAlgebraError`` when an input is not finite, when QR meets a
///   rank-deficient `A`, or when the SVD does not converge.
/// - Complexity: O(m n min(m, n)) plus O(m n nrhs).
public func leastSquares(_ a: Matrix, _ b: Matrix, method: LeastSquaresMethod = .qr) throws -> LeastSquaresSolution {
    precondition(a.rows == b.rows, "leastSquares: A has \(a.rows) rows, B has \(b.rows)")
    let (m, n, nrhs) = (a.rows, a.columns, b.columns)
    let routine = method == .qr ? "sgels" : "sgelsd"
    guard a.elements.allFinite, b.elements.allFinite else { throw LinearAlgebraError(.nonFiniteInput, routine: routine) }
    if n == 0 || nrhs == 0 { return LeastSquaresSolution(solution: Matrix(rows: n, columns: nrhs), rank: 0) }
    if m == 0 { return LeastSquaresSolution(solution: Matrix(rows: n, columns: nrhs), rank: 0) }

    // LAPACK overwrites B with the solution, so B needs max(m, n) rows.
    let ldbRows = max(m, n)
    var work = [Float](repeating: 0, count: ldbRows * nrhs)
    for i in 0..<m {
        for j in 0..<nrhs { work[i * nrhs + j] = b.elements[i * nrhs + j] }
    }
    var aCopy = a.elements
    var rank = min(m, n)
    let info: Int32
    switch method {
    case .qr:
        info = LAPACKE_sgels(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "N")), Int32(m), Int32(n), Int32(nrhs),
                             &aCopy, Int32(n), &work, Int32(nrhs))
        if info > 0 { throw LinearAlgebraError(.rankDeficient, routine: routine, info: Int(info)) }
        // sgels only stops on an exactly zero diagonal of R (or L); rounding hides an exact
        // rank deficiency, so also refuse a triangular factor that is numerically singular.
        if info == 0 {
            let diagonal = (0..<min(m, n)).map { abs(aCopy[$0 * n + $0]) }
            let largest = diagonal.max() ?? 0
            if let i = diagonal.firstIndex(where: { $0 <= largest * Float(max(m, n)) * Float.ulpOfOne }) {
                throw LinearAlgebraError(.rankDeficient, routine: routine, info: i + 1)
            }
        }
    case .svd(let rcond):
        var singular = [Float](repeating: 0, count: min(m, n))
        var r: Int32 = 0
        info = LAPACKE_sgelsd(LAPACK_ROW_MAJOR, Int32(m), Int32(n), Int32(nrhs),
                              &aCopy, Int32(n), &work, Int32(nrhs), &singular, rcond, &r)
        if info > 0 { throw LinearAlgebraError(.noConvergence, routine: routine, info: Int(info)) }
        rank = Int(r)
    }
    if info < 0 { throw LinearAlgebraError(.illegalArgument, routine: routine, info: Int(info)) }
    let solution = Matrix(rows: n, columns: nrhs, elements: Array(work[0 ..< n * nrhs]))
    return LeastSquaresSolution(solution: solution, rank: rank)
}

/// Solves `A X = B` for symmetric positive-definite `A: n x n` by Cholesky (`sposv`),
/// e.g. the ridge normal equations `(XᵀX + λI) W = XᵀY`. Only the upper triangle of `A` is read.
///
/// - Throws: ``LinearAlgebraError`` (`.notPositiveDefinite` with the failing minor,
///   `.nonFiniteInput`).
/// - Complexity: O(n³/3 + n² nrhs).
public func solvePositiveDefinite(_ a: Matrix, _ b: Matrix) throws -> Matrix {
    precondition(a.rows == a.columns, "solvePositiveDefinite: A is \(a.rows) x \(a.columns), not square")
    precondition(b.rows == a.rows, "solvePositiveDefinite: A is \(a.rows) x \(a.rows) but B has \(b.rows) rows")
    guard a.elements.allFinite, b.elements.allFinite else { throw LinearAlgebraError(.nonFiniteInput, routine: "sposv") }
    let (n, nrhs) = (a.rows, b.columns)
    if n == 0 || nrhs == 0 { return Matrix(rows: n, columns: nrhs) }
    var aCopy = a.elements
    var x = b.elements
    let info = LAPACKE_sposv(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "U")), Int32(n), Int32(nrhs),
                             &aCopy, Int32(n), &x, Int32(nrhs))
    if info > 0 { throw LinearAlgebraError(.notPositiveDefinite, routine: "sposv", info: Int(info)) }
    if info < 0 { throw LinearAlgebraError(.illegalArgument, routine: "sposv", info: Int(info)) }
    return Matrix(rows: n, columns: nrhs, elements: x)
}

/// Eigen-decomposition of a symmetric matrix (`ssyevd`, upper triangle read).
public struct SymmetricEigenDecomposition: Sendable {
    /// Eigenvalues in ascending order.
    public let values: [Float]
    /// `n x n` matrix whose column `j` is the unit eigenvector of `values[j]`.
    public let vectors: Matrix

    /// Computes the decomposition of `a` (n x n, symmetric).
    /// - Throws: ``LinearAlgebraError`` on non-finite input or non-convergence.
    /// - Complexity: O(n³).
    public init(_ a: Matrix) throws {
        precondition(a.rows == a.columns, "SymmetricEigenDecomposition: \(a.rows) x \(a.columns) is not square")
        guard a.elements.allFinite else { throw LinearAlgebraError(.nonFiniteInput, routine: "ssyevd") }
        let n = a.rows
        var v = a.elements
        var w = [Float](repeating: 0, count: n)
        if n > 0 {
            // Workspace sized here in integers (ssyevd's documented minimum for eigenvectors):
            // LAPACKE's own workspace query returns the size as a float, which rounds
            // 1 + 6n + 2n² down for n above about 2900 and makes ssyevd reject it.
            var work = [Float](repeating: 0, count: 1 + 6 * n + 2 * n * n)
            var iwork = [Int32](repeating: 0, count: 3 + 5 * n)
            let info = LAPACKE_ssyevd_work(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "U")),
                                           Int32(n), &v, Int32(n), &w, &work, Int32(work.count), &iwork, Int32(iwork.count))
            if info > 0 { throw LinearAlgebraError(.noConvergence, routine: "ssyevd", info: Int(info)) }
            if info < 0 { throw LinearAlgebraError(.illegalArgument, routine: "ssyevd", info: Int(info)) }
        }
        values = w
        vectors = Matrix(rows: n, columns: n, elements: v)
    }
}

/// The orthonormal factor `Q` of the thin QR decomposition `A = Q R` (`sgeqrf` + `sorgqr`),
/// with columns signed so that `diag(R) >= 0`. For `A` with i.i.d. Gaussian entries
/// this makes `Q` Haar-distributed (a uniformly random orthogonal matrix).
///
/// - Precondition: `a.rows >= a.columns`.
/// - Throws: ``LinearAlgebraError`` on non-finite input.
/// - Complexity: O(m n²).
public func orthonormalFactor(_ a: Matrix) throws -> Matrix {
    let (m, n) = (a.rows, a.columns)
    precondition(m >= n, "orthonormalFactor: need rows >= columns, got \(m) x \(n)")
    guard a.elements.allFinite else { throw LinearAlgebraError(.nonFiniteInput, routine: "sgeqrf") }
    if n == 0 { return Matrix(rows: m, columns: 0) }
    var q = a.elements
    var tau = [Float](repeating: 0, count: n)
    var info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, Int32(m), Int32(n), &q, Int32(n), &tau)
    if info != 0 { throw LinearAlgebraError(.illegalArgument, routine: "sgeqrf", info: Int(info)) }
    let signs = (0..<n).map { q[$0 * n + $0] < 0 ? Float(-1) : Float(1) }
    info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, Int32(m), Int32(n), Int32(n), &q, Int32(n), &tau)
    if info != 0 { throw LinearAlgebraError(.illegalArgument, routine: "sorgqr", info: Int(info)) }
    for i in 0..<m {
        for j in 0..<n where signs[j] < 0 { q[i * n + j] = -q[i * n + j] }
    }
    return Matrix(rows: m, columns: n, elements: q)
}

/// A uniformly random (Haar-distributed) `n x n` orthogonal matrix from `generator`.
///
/// The QR factorisation of an i.i.d. Gaussian matrix, with the columns of `Q` signed by
/// `diag(R)`, is Haar-distributed, and so is its transpose. The Gaussian buffer is therefore
/// factorised in LAPACK's native column-major layout as it stands, which skips the two
/// full-matrix transpositions a row-major LAPACKE call makes; the row-major result is `Qᵀ`.
///
/// - Complexity: O(n³) (`sgeqrf` + `sorgqr`), plus `n²` Gaussian samples.
public func randomOrthogonal(dimension n: Int, using generator: inout RandomGenerator) -> Matrix {
    precondition(n >= 0, "randomOrthogonal: dimension must be non-negative, got \(n)")
    if n == 0 { return Matrix(rows: 0, columns: 0) }
    var q = Matrix.gaussian(rows: n, columns: n, using: &generator)
    q.withUnsafeMutableBufferPointer { a in
        var tau = [Float](repeating: 0, count: n)
        // A Gaussian matrix is finite and has full rank with probability 1, and every argument
        // is valid by construction, so LAPACK has nothing to report here.
        var info = LAPACKE_sgeqrf(LAPACK_COL_MAJOR, Int32(n), Int32(n), a.baseAddress, Int32(n), &tau)
        precondition(info == 0, "sgeqrf failed with info \(info)")
        // Column j of the column-major factor is row j of our row-major view.
        let signs = (0..<n).map { a[$0 * n + $0] < 0 ? Float(-1) : Float(1) }
        info = LAPACKE_sorgqr(LAPACK_COL_MAJOR, Int32(n), Int32(n), Int32(n), a.baseAddress, Int32(n), &tau)
        precondition(info == 0, "sorgqr failed with info \(info)")
        for j in 0..<n where signs[j] < 0 {
            for i in 0..<n { a[j * n + i] = -a[j * n + i] }
        }
    }
    return q
}
