import CBLASShim

/// General matrix multiply on row-major views: `C = alpha * op(A) * op(B) + beta * C`.
///
/// One call to OpenBLAS `cblas_sgemm`. `op(X)` is `X` or its transpose; shapes must
/// satisfy `op(A): m x k`, `op(B): k x n`, `C: m x n` (checked; a mismatch is a
/// programmer error and traps with the shapes in the message). `C` must not overlap
/// `A` or `B`. With `beta == 0` the previous contents of `C` are ignored (NaN included).
///
/// - Complexity: `2 * m * n * k` floating-point operations.
@inlinable
public func gemm(
    _ a: MatrixView, _ transA: Transpose = .none,
    _ b: MatrixView, _ transB: Transpose = .none,
    into c: MutableMatrixView,
    alpha: Float = 1, beta: Float = 0
) {
    let (m, k) = a.shape(transA)
    let (kb, n) = b.shape(transB)
    precondition(k == kb, "gemm: op(A) is \(m) x \(k) but op(B) is \(kb) x \(n)")
    precondition(c.rows == m && c.columns == n, "gemm: result is \(c.rows) x \(c.columns), expected \(m) x \(n)")
    guard m > 0, n > 0 else { return }
    if k == 0 {
        // BLAS leaves C scaled by beta; make the empty-sum case explicit.
        if beta == 0 { c.fill(0) } else { for i in 0..<m { for j in 0..<n { c[i, j] *= beta } } }
        return
    }
    cblas_sgemm(
        CblasRowMajor, transA.cblas, transB.cblas,
        blasint(m), blasint(n), blasint(k),
        alpha, a.start, blasint(a.rowStride),
        b.start, blasint(b.rowStride),
        beta, c.start, blasint(c.rowStride))
}

extension Matrix {
    /// `a * b` as a new matrix (one GEMM).
    public static func product(_ a: Matrix, _ b: Matrix) -> Matrix {
        product(a, .none, b, .none)
    }

    /// `op(a) * b` as a new matrix (one GEMM).
    public static func product(_ a: Matrix, _ transA: Transpose, _ b: Matrix) -> Matrix {
        product(a, transA, b, .none)
    }

    /// `op(a) * op(b)` as a new matrix (one GEMM).
    public static func product(_ a: Matrix, _ transA: Transpose, _ b: Matrix, _ transB: Transpose) -> Matrix {
        let m = transA == .none ? a.rows : a.columns
        let n = transB == .none ? b.columns : b.rows
        var c = Matrix(rows: m, columns: n)
        a.withView { av in
            b.withView { bv in
                c.withMutableView { gemm(av, transA, bv, transB, into: $0) }
            }
        }
        return c
    }
}

/// Matrix-vector multiply `y = alpha * op(A) x + beta * y` (one `cblas_sgemv`), for the
/// one-row case where a GEMM call costs far more than its arithmetic.
///
/// `x` and `y` are contiguous; shapes are checked (`op(A): m x n`, `x: n`, `y: m`).
/// - Complexity: `2 m n` floating-point operations.
@inlinable
public func gemv(
    _ a: MatrixView, _ transA: Transpose = .none,
    _ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>,
    alpha: Float = 1, beta: Float = 0
) {
    let (m, n) = a.shape(transA)
    precondition(x.count == n, "gemv: op(A) is \(m) x \(n) but x has \(x.count) elements")
    precondition(y.count == m, "gemv: op(A) is \(m) x \(n) but y has \(y.count) elements")
    guard m > 0 else { return }
    guard n > 0 else {
        for i in 0..<m { y[i] = beta == 0 ? 0 : beta * y[i] }
        return
    }
    cblas_sgemv(CblasRowMajor, transA.cblas, blasint(a.rows), blasint(a.columns), alpha,
                a.start, blasint(a.rowStride), x.baseAddress, 1, beta, y.baseAddress, 1)
}

extension Matrix {
    /// The Gram matrix `xᵀ x` (`columns x columns`, symmetric), plus `beta` times `onto` when
    /// given: one `cblas_ssyrk` (half the arithmetic of the equivalent GEMM, which computes
    /// both triangles), then the upper triangle mirrored into the lower one.
    /// - Precondition: `onto`, when given, is `x.columns x x.columns` and symmetric.
    /// - Complexity: `n d²` floating-point operations for `x: n x d`.
    public static func gram(_ x: Matrix, adding onto: Matrix? = nil) -> Matrix {
        let d = x.columns
        var g = onto ?? Matrix(rows: d, columns: d)
        precondition(g.rows == d && g.columns == d, "gram: onto is \(g.rows) x \(g.columns), expected \(d) x \(d)")
        guard d > 0 else { return g }
        if x.rows > 0 {
            x.withView { xv in
                g.withMutableView { gv in
                    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, blasint(d), blasint(x.rows),
                                1, xv.start, blasint(xv.rowStride), onto == nil ? 0 : 1, gv.start, blasint(gv.rowStride))
                }
            }
        }
        g.withUnsafeMutableBufferPointer { buffer in
            for i in 0 ..< d {
                for j in 0 ..< i { buffer[i * d + j] = buffer[j * d + i] }
            }
        }
        return g
    }
}
