import CBLASShim

/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable {
    /// Use the operand as stored.
    case none
    /// Use the operand's transpose.
    case transpose

    @usableFromInline
    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

extension MatrixView {
    /// Rows and columns of `op(self)`.
    @inlinable
    func shape(_ t: Transpose) -> (rows: Int, columns: Int) {
        t == .none ? (rows, columns) : (columns, rows)
    }
}
