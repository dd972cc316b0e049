/// A dense, row-major matrix of `Float`: the engine's batch type.
///
/// A batch of `B` representations of dimension `d` is a `B x d` matrix, one
/// representation per row. Storage is one contiguous array of `rows * columns`
/// elements, row `i` occupying `elements[i * columns ..< (i + 1) * columns]`.
///
/// `Matrix` is a value type with copy-on-write storage: copies and row slices
/// (``rows(_:)``) share memory until one of them is mutated.
public struct Matrix: Sendable, Equatable {
    /// Number of rows (representations in a batch).
    public private(set) var rows: Int
    /// Number of columns (the representation dimension).
    public private(set) var columns: Int
    /// Row-major elements; `elements.count == rows * columns` always holds.
    public var elements: [Float] { storage }
    @usableFromInline var storage: [Float]

    /// A `rows x columns` matrix with every element equal to `value`.
    /// - Precondition: `rows` and `columns` are non-negative and `rows * columns` elements fit
    ///   in memory (a product beyond `Int.max` traps).
    public init(rows: Int, columns: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && columns >= 0, "Matrix shape must be non-negative, got \(rows) x \(columns)")
        self.rows = rows
        self.columns = columns
        self.storage = [Float](repeating: value, count: rows * columns)
    }

    /// A matrix over existing row-major elements.
    /// - Precondition: `rows` and `columns` are non-negative and `elements.count == rows * columns`.
    public init(rows: Int, columns: Int, elements: [Float]) {
        precondition(rows >= 0 && columns >= 0, "Matrix shape must be non-negative, got \(rows) x \(columns)")
        precondition(
            elements.count == rows * columns,
            "Matrix \(rows) x \(columns) needs \(rows * columns) elements, got \(elements.count)")
        self.rows = rows
        self.columns = columns
        self.storage = elements
    }

    /// A matrix from nested rows, all of the same length.
    public init(_ rowArrays: [[Float]]) {
        let columns = rowArrays.first?.count ?? 0
        for (i, row) in rowArrays.enumerated() {
            precondition(row.count == columns, "Row \(i) has \(row.count) elements, expected \(columns)")
        }
        self.init(rows: rowArrays.count, columns: columns, elements: rowArrays.flatMap { $0 })
    }

    /// A matrix whose elements are produced by `body(row, column)`.
    public init(rows: Int, columns: Int, _ body: (Int, Int) throws -> Float) rethrows {
        var elements = [Float]()
        elements.reserveCapacity(rows * columns)
        for i in 0..<rows {
            for j in 0..<columns { elements.append(try body(i, j)) }
        }
        self.init(rows: rows, columns: columns, elements: elements)
    }

    /// The `n x n` identity.
    public static func identity(_ n: Int) -> Matrix {
        var m = Matrix(rows: n, columns: n)
        for i in 0..<n { m[i, i] = 1 }
        return m
    }

    /// Whether the matrix has no elements.
    public var isEmpty: Bool { elements.isEmpty }

    /// Element at (`row`, `column`). Bounds are checked.
    @inlinable
    public subscript(row: Int, column: Int) -> Float {
        get {
            precondition(row >= 0 && row < rows && column >= 0 && column < columns, "Index (\(row), \(column)) outside \(rows) x \(columns)")
            return elements[row * columns + column]
        }
        set {
            precondition(row >= 0 && row < rows && column >= 0 && column < columns, "Index (\(row), \(column)) outside \(rows) x \(columns)")
            storage[row * columns + column] = newValue
        }
    }

    /// Row `i` as a slice of the storage (no copy).
    public func row(_ i: Int) -> ArraySlice<Float> {
        precondition(i >= 0 && i < rows, "Row \(i) outside 0..<\(rows)")
        return elements[i * columns ..< (i + 1) * columns]
    }

    /// Rows `range` as a slice sharing this matrix's storage (no copy).
    public func rows(_ range: Range<Int>) -> MatrixSlice {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "Rows \(range) outside 0..<\(rows)")
        return MatrixSlice(base: self, rowRange: range)
    }

    /// The transpose, as a new matrix.
    /// - Complexity: O(rows * columns).
    public func transposed() -> Matrix {
        var t = Matrix(rows: columns, columns: rows)
        elements.withUnsafeBufferPointer { src in
            t.storage.withUnsafeMutableBufferPointer { dst in
                for i in 0..<rows {
                    for j in 0..<columns { dst[j * rows + i] = src[i * columns + j] }
                }
            }
        }
        return t
    }

    /// Calls `body` with a read-only view of the whole matrix.
    @inlinable
    public func withView<R>(_ body: (MatrixView) throws -> R) rethrows -> R {
        try elements.withUnsafeBufferPointer { buffer in
            try body(MatrixView(start: buffer.baseAddress, rows: rows, columns: columns, rowStride: max(columns, 1)))
        }
    }

    /// Calls `body` with a mutable view of the whole matrix.
    @inlinable
    public mutating func withMutableView<R>(_ body: (MutableMatrixView) throws -> R) rethrows -> R {
        let (rows, columns) = (self.rows, self.columns)
        return try storage.withUnsafeMutableBufferPointer { buffer in
            try body(MutableMatrixView(start: buffer.baseAddress, rows: rows, columns: columns, rowStride: max(columns, 1)))
        }
    }

    /// Calls `body` with the contiguous row-major storage, mutable.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer(body)
    }

    /// Calls `body` with the contiguous row-major storage.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try elements.withUnsafeBufferPointer(body)
    }

    /// A copy of the view's elements as an owning matrix.
    public init(_ view: MatrixView) {
        self.init(uninitializedRows: view.rows, columns: view.columns)
        withMutableView { $0.copy(from: view) }
    }

    /// A matrix whose elements are unspecified (not zeroed): scratch space for a hot path
    /// that writes every element before reading any. Skipping the zero fill saves a full
    /// pass over memory per batch.
    public init(uninitializedRows rows: Int, columns: Int) {
        precondition(rows >= 0 && columns >= 0, "Matrix shape must be non-negative, got \(rows) x \(columns)")
        self.rows = rows
        self.columns = columns
        // Float is a trivial type: any bit pattern is a valid value, so leaving the storage
        // as the allocator returned it is memory-safe.
        self.storage = [Float](unsafeUninitializedCapacity: rows * columns) { _, count in count = rows * columns }
    }
}

/// Consecutive rows of a ``Matrix`` that share its storage: slicing copies nothing.
public struct MatrixSlice: Sendable {
    /// The matrix the rows belong to.
    public let base: Matrix
    /// The rows of `base` this slice covers.
    public let rowRange: Range<Int>

    /// Number of rows in the slice.
    public var rows: Int { rowRange.count }
    /// Number of columns (same as the base).
    public var columns: Int { base.columns }

    /// Calls `body` with a read-only view of the slice.
    @inlinable
    public func withView<R>(_ body: (MatrixView) throws -> R) rethrows -> R {
        try base.withView { try body($0.rows(rowRange)) }
    }

    /// The slice's rows as an owning matrix (copies).
    public func copy() -> Matrix { withView { Matrix($0) } }
}
