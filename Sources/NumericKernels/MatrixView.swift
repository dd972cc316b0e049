/// A borrowed, read-only view of a row-major `Float` matrix, possibly strided.
///
/// Element (i, j) lives at `start[i * rowStride + j]`, with `rowStride >= columns`.
/// A view does not own its memory: it is valid only inside the closure that handed
/// it out (``Matrix/withView(_:)``) or while the caller keeps the memory alive
/// (``init(start:rows:columns:rowStride:)`` over the caller's own buffer, e.g. an
/// inference pipeline's output tensor). Sub-views (``rows(_:)``, ``columns(_:)``) copy nothing.
public struct MatrixView {
    /// Address of element (0, 0); may be nil only when the view is empty.
    public let start: UnsafePointer<Float>?
    /// Number of rows.
    public let rows: Int
    /// Number of columns.
    public let columns: Int
    /// Distance in elements between the starts of consecutive rows (the BLAS leading dimension).
    public let rowStride: Int

    /// A view over caller-owned memory.
    /// - Precondition: `rowStride >= columns`; `start` is non-nil unless the view is empty.
    @inlinable
    public init(start: UnsafePointer<Float>?, rows: Int, columns: Int, rowStride: Int) {
        precondition(rows >= 0 && columns >= 0, "View shape must be non-negative, got \(rows) x \(columns)")
        precondition(rowStride >= max(columns, 1), "Row stride \(rowStride) is smaller than the \(columns) columns")
        precondition(start != nil || rows * columns == 0, "A non-empty view needs a base address")
        self.start = start
        self.rows = rows
        self.columns = columns
        self.rowStride = rowStride
    }

    /// A dense view over a caller-owned buffer of `rows * columns` elements.
    @inlinable
    public init(_ buffer: UnsafeBufferPointer<Float>, rows: Int, columns: Int) {
        precondition(buffer.count == rows * columns, "Buffer of \(buffer.count) elements cannot be \(rows) x \(columns)")
        self.init(start: buffer.baseAddress, rows: rows, columns: columns, rowStride: max(columns, 1))
    }

    /// Whether the rows are adjacent in memory (`rowStride == columns`).
    @inlinable
    public var isContiguous: Bool { rowStride == columns || rows <= 1 }

    /// Element (i, j). Bounds are checked.
    @inlinable
    public subscript(row: Int, column: Int) -> Float {
        precondition(row >= 0 && row < rows && column >= 0 && column < columns, "Index (\(row), \(column)) outside \(rows) x \(columns)")
        return start.unsafelyUnwrapped[row * rowStride + column]
    }

    /// Row `i` as a buffer of `columns` elements.
    @inlinable
    public func row(_ i: Int) -> UnsafeBufferPointer<Float> {
        precondition(i >= 0 && i < rows, "Row \(i) outside 0..<\(rows)")
        return UnsafeBufferPointer(start: start.map { $0 + i * rowStride }, count: columns)
    }

    /// Rows `range` (no copy).
    @inlinable
    public func rows(_ range: Range<Int>) -> MatrixView {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "Rows \(range) outside 0..<\(rows)")
        let base = range.isEmpty ? start : start.map { $0 + range.lowerBound * rowStride }
        return MatrixView(start: base, rows: range.count, columns: columns, rowStride: rowStride)
    }

    /// Columns `range` (no copy; the result is strided).
    @inlinable
    public func columns(_ range: Range<Int>) -> MatrixView {
        precondition(range.lowerBound >= 0 && range.upperBound <= columns, "Columns \(range) outside 0..<\(columns)")
        return MatrixView(start: start.map { $0 + range.lowerBound }, rows: rows, columns: range.count, rowStride: rowStride)
    }
}

/// A borrowed, mutable view of a row-major `Float` matrix; see ``MatrixView`` for layout and lifetime.
public struct MutableMatrixView {
    /// Address of element (0, 0); may be nil only when the view is empty.
    public let start: UnsafeMutablePointer<Float>?
    /// Number of rows.
    public let rows: Int
    /// Number of columns.
    public let columns: Int
    /// Distance in elements between the starts of consecutive rows.
    public let rowStride: Int

    /// A mutable view over caller-owned memory.
    @inlinable
    public init(start: UnsafeMutablePointer<Float>?, rows: Int, columns: Int, rowStride: Int) {
        precondition(rows >= 0 && columns >= 0, "View shape must be non-negative, got \(rows) x \(columns)")
        precondition(rowStride >= max(columns, 1), "Row stride \(rowStride) is smaller than the \(columns) columns")
        precondition(start != nil || rows * columns == 0, "A non-empty view needs a base address")
        self.start = start
        self.rows = rows
        self.columns = columns
        self.rowStride = rowStride
    }

    /// A dense mutable view over a caller-owned buffer of `rows * columns` elements.
    @inlinable
    public init(_ buffer: UnsafeMutableBufferPointer<Float>, rows: Int, columns: Int) {
        precondition(buffer.count == rows * columns, "Buffer of \(buffer.count) elements cannot be \(rows) x \(columns)")
        self.init(start: buffer.baseAddress, rows: rows, columns: columns, rowStride: max(columns, 1))
    }

    /// The same memory, read-only.
    @inlinable
    public var readOnly: MatrixView {
        MatrixView(start: start.map { UnsafePointer($0) }, rows: rows, columns: columns, rowStride: rowStride)
    }

    /// Element (i, j). Bounds are checked.
    @inlinable
    public subscript(row: Int, column: Int) -> Float {
        get { readOnly[row, column] }
        nonmutating set {
            precondition(row >= 0 && row < rows && column >= 0 && column < columns, "Index (\(row), \(column)) outside \(rows) x \(columns)")
            start.unsafelyUnwrapped[row * rowStride + column] = newValue
        }
    }

    /// Row `i` as a mutable buffer of `columns` elements.
    @inlinable
    public func row(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(i >= 0 && i < rows, "Row \(i) outside 0..<\(rows)")
        return UnsafeMutableBufferPointer(start: start.map { $0 + i * rowStride }, count: columns)
    }

    /// Rows `range` (no copy).
    @inlinable
    public func rows(_ range: Range<Int>) -> MutableMatrixView {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "Rows \(range) outside 0..<\(rows)")
        let base = range.isEmpty ? start : start.map { $0 + range.lowerBound * rowStride }
        return MutableMatrixView(start: base, rows: range.count, columns: columns, rowStride: rowStride)
    }

    /// Columns `range` (no copy; the result is strided).
    @inlinable
    public func columns(_ range: Range<Int>) -> MutableMatrixView {
        precondition(range.lowerBound >= 0 && range.upperBound <= columns, "Columns \(range) outside 0..<\(columns)")
        return MutableMatrixView(start: start.map { $0 + range.lowerBound }, rows: rows, columns: range.count, rowStride: rowStride)
    }

    /// Copies `source` (same shape) into this view.
    @inlinable
    public func copy(from source: MatrixView) {
        precondition(source.rows == rows && source.columns == columns, "Copy of \(source.rows) x \(source.columns) into \(rows) x \(columns)")
        guard rows > 0, columns > 0 else { return }
        for i in 0..<rows {
            row(i).baseAddress.unsafelyUnwrapped.update(from: source.row(i).baseAddress.unsafelyUnwrapped, count: columns)
        }
    }

    /// Sets every element to `value`.
    @inlinable
    public func fill(_ value: Float) {
        for i in 0..<rows { row(i).update(repeating: value) }
    }
}
