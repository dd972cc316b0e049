#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NumericKernels

/// Reading and writing NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
///
/// Readers memory-map the file and convert the data straight into the result, so a large
/// embedding matrix is held once in memory (plus the mapping, which the kernel pages in and
/// out on demand). Every problem with the file is thrown as an ``NPYError`` naming the file;
/// no input can make the reader trap.
///
/// Supported data: little-endian (`<`, or `|` for one-byte types), C order.
/// - Matrices: 2-D `<f4` (read as is) or `<f8` (rounded to the nearest `Float`; values beyond
///   `Float`'s range become ±infinity and NaN stays NaN — no error is raised for them).
/// - Labels: 1-D integers `|i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8` and booleans `|b1`.
///
/// Files are written as NumPy's own `np.save` writes them: version 1.0 (2.0 if the header would
/// not fit in 65535 bytes), header padded with spaces and a newline so the data starts at a
/// multiple of 64 bytes.
///
/// A mapped file that another process truncates *while* it is being read raises `SIGBUS`;
/// that is inherent to memory mapping and outside what the reader can detect.
public enum NPY {
    /// A float matrix from a 2-D `.npy` file of dtype `<f4` or `<f8` in C order.
    ///
    /// 1-D arrays are rejected (a vector is not silently read as one row): reshape with
    /// `arr.reshape(1, -1)` first.
    public static func readMatrix(_ path: String) throws -> Matrix {
        try MappedFile.withContents(of: path) { bytes in
            let layout = try floatMatrixLayout(bytes, path: path)
            var matrix = Matrix(uninitializedRows: layout.rows, columns: layout.columns)
            matrix.withUnsafeMutableBufferPointer { copyElements(layout, from: 0, into: $0) }
            return matrix
        }
    }

    /// Streams a 2-D float `.npy` file (`<f4` or `<f8`) through `body` in blocks of at most
    /// `blockRows` rows, without loading the whole file: the file is memory-mapped and each
    /// block converted on its own, so a file of several GB costs one block of memory. `body`
    /// gets the index of the block's first row and the block (`rows x columns`).
    /// - Returns: the file's shape.
    /// - Throws: ``NPYError`` for a missing or malformed file (before `body` runs), and
    ///   whatever `body` throws.
    @discardableResult
    public static func forEachRowBlock(
        _ path: String, blockRows: Int, _ body: (_ firstRow: Int, _ block: Matrix) throws -> Void
    ) throws -> (rows: Int, columns: Int) {
        precondition(blockRows >= 1, "forEachRowBlock: blockRows must be at least 1")
        return try MappedFile.withContents(of: path) { bytes in
            let layout = try floatMatrixLayout(bytes, path: path)
            for start in stride(from: 0, to: layout.rows, by: blockRows) {
                var block = Matrix(uninitializedRows: min(blockRows, layout.rows - start), columns: layout.columns)
                block.withUnsafeMutableBufferPointer { copyElements(layout, from: start * layout.columns, into: $0) }
                try body(start, block)
            }
            return (layout.rows, layout.columns)
        }
    }

    /// Where a float matrix's elements are in a mapped `.npy` file.
    private struct FloatMatrixLayout {
        let kind: FloatKind
        let rows: Int
        let columns: Int
        let data: UnsafeRawBufferPointer
    }

    /// Checks that the file holds a 2-D C-order `<f4`/`<f8` array and locates its data.
    private static func floatMatrixLayout(_ bytes: UnsafeRawBufferPointer, path: String) throws -> FloatMatrixLayout {
        let header = try parseHeader(bytes, path: path)
        try requireCOrder(header, path: path)
        guard let kind = FloatKind(descr: header.descr) else {
            throw NPYError(path: path, message: "\(dtypeProblem(header.descr)) for a float matrix (expected '<f4' or '<f8')")
        }
        guard header.shape.count == 2 else {
            throw NPYError(path: path, message: "expected a 2-D array for a matrix, found shape \(header.shapeText) (\(header.shape.count)-D)")
        }
        let data = try dataBytes(bytes, header: header, itemSize: kind.size, path: path)
        return FloatMatrixLayout(kind: kind, rows: header.shape[0], columns: header.shape[1], data: data)
    }

    /// Converts `destination.count` elements starting at element `first` into Float.
    private static func copyElements(_ layout: FloatMatrixLayout, from first: Int, into destination: UnsafeMutableBufferPointer<Float>) {
        let data = layout.data
        switch layout.kind {
        case .float32:
            #if _endian(little)
            let source = UnsafeRawBufferPointer(rebasing: data[4 * first ..< 4 * (first + destination.count)])
            UnsafeMutableRawBufferPointer(destination).copyMemory(from: source)
            #else
            for i in 0..<destination.count {
                destination[i] = Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * (first + i), as: UInt32.self)))
            }
            #endif
        case .float64:
            for i in 0..<destination.count {
                let bits = UInt64(littleEndian: data.loadUnaligned(fromByteOffset: 8 * (first + i), as: UInt64.self))
                destination[i] = Float(Double(bitPattern: bits))
            }
        }
    }

    /// Integer labels from a 1-D `.npy` file of any little-endian integer (or bool) dtype.
    ///
    /// `<u8` values above `Int.max` are an error.
    public static func readLabels(_ path: String) throws -> [Int] {
        try MappedFile.withContents(of: path) { bytes in
            let header = try parseHeader(bytes, path: path)
            try requireCOrder(header, path: path)
            guard let kind = IntegerKind(descr: header.descr) else {
                throw NPYError(path: path, message: "\(dtypeProblem(header.descr)) for labels (expected an integer type such as '<i8', '<i4' or '|u1')")
            }
            guard header.shape.count == 1 else {
                throw NPYError(path: path, message: "expected a 1-D array of labels, found shape \(header.shapeText) (\(header.shape.count)-D)")
            }
            let count = header.shape[0]
            let data = try dataBytes(bytes, header: header, itemSize: kind.size, path: path)
            var badIndex: Int?
            let labels = [Int](unsafeUninitializedCapacity: count) { destination, initialized in
                for i in 0..<count {
                    guard let value = kind.load(data, index: i) else { badIndex = i; break }
                    destination[i] = value
                    initialized = i + 1
                }
            }
            if let badIndex {
                throw NPYError(path: path, message: "the label at index \(badIndex) (dtype '\(header.descr)') is beyond Int's range: it does not fit in Int")
            }
            return labels
        }
    }

    /// The parsed header, without reading (or checking) the data.
    public static func header(_ path: String) throws -> NPYHeader {
        try MappedFile.withContents(of: path) { try parseHeader($0, path: path) }
    }

    /// Writes `matrix` as a `<f4`, C-order `.npy` file.
    ///
    /// Atomic: the file is written to a temporary file in the same directory and renamed over
    /// `path`, so a failure leaves any previous file intact and no partial file behind.
    public static func write(_ matrix: Matrix, to path: String) throws {
        let header = headerBytes(descr: "<f4", shape: [matrix.rows, matrix.columns])
        try writeAtomically(path: path) { sink in
            try sink.write(header)
            try matrix.withUnsafeBufferPointer { elements in
                #if _endian(little)
                try sink.write(UnsafeRawBufferPointer(elements))
                #else
                try sink.writeConverted(count: elements.count, itemSize: 4) { i, out in
                    out.storeBytes(of: elements[i].bitPattern.littleEndian, toByteOffset: 0, as: UInt32.self)
                }
                #endif
            }
        }
    }

    /// Writes a `rows x columns` `<f4` `.npy` file whose rows are produced in blocks: `produce`
    /// calls `append` with consecutive blocks (any number of rows each) until `rows` rows are
    /// written. Atomic like ``write(_:to:)``: nothing appears at `path` unless every row was
    /// appended and `produce` returned without throwing. With `creatingNew` the rows go straight
    /// into `path`, which must not exist yet (a staging path the caller moves into place
    /// itself): it is created, and removed again on failure, with no second temporary file.
    /// - Throws: ``NPYError`` if the blocks do not add up to `rows` rows of `columns` columns,
    ///   or the file cannot be written; whatever `produce` throws.
    public static func writeMatrix(
        to path: String, rows: Int, columns: Int, creatingNew: Bool = false,
        _ produce: (_ append: (MatrixView) throws -> Void) throws -> Void
    ) throws {
        let header = headerBytes(descr: "<f4", shape: [rows, columns])
        try writeAtomically(path: path, creatingNew: creatingNew) { sink in
            try sink.write(header)
            var written = 0
            try produce { block in
                guard block.columns == columns else {
                    throw NPYError(path: path, message: "a block has \(block.columns) columns, the file has \(columns)")
                }
                guard written + block.rows <= rows else {
                    throw NPYError(path: path, message: "more than the declared \(rows) rows were appended")
                }
                #if _endian(little)
                if block.isContiguous, let start = block.start {
                    try sink.write(UnsafeRawBufferPointer(start: start, count: 4 * block.rows * columns))
                } else {
                    for i in 0..<block.rows { try sink.write(UnsafeRawBufferPointer(block.row(i))) }
                }
                #else
                for i in 0..<block.rows {
                    let row = block.row(i)
                    try sink.writeConverted(count: columns, itemSize: 4) { k, out in
                        out.storeBytes(of: row[k].bitPattern.littleEndian, toByteOffset: 0, as: UInt32.self)
                    }
                }
                #endif
                written += block.rows
            }
            guard written == rows else {
                throw NPYError(path: path, message: "only \(written) of the declared \(rows) rows were appended")
            }
        }
    }

    /// Writes `labels` as a 1-D `<i8` `.npy` file, atomically (see ``write(_:to:)``).
    public static func write(labels: [Int], to path: String) throws {
        let header = headerBytes(descr: "<i8", shape: [labels.count])
        try writeAtomically(path: path) { sink in
            try sink.write(header)
            try labels.withUnsafeBufferPointer { values in
                #if _endian(little) && _pointerBitWidth(_64)
                try sink.write(UnsafeRawBufferPointer(values))
                #else
                try sink.writeConverted(count: values.count, itemSize: 8) { i, out in
                    out.storeBytes(of: Int64(values[i]).littleEndian, toByteOffset: 0, as: Int64.self)
                }
                #endif
            }
        }
    }
}

// MARK: - Header

private let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

extension NPY {
    enum FloatKind {
        case float32, float64
        var size: Int { self == .float32 ? 4 : 8 }

        init?(descr: String) {
            switch descr {
            case "<f4": self = .float32
            case "<f8": self = .float64
            default: return nil
            }
        }
    }

    /// Whether a header's dtype is one ``readMatrix(_:)`` reads (`<f4` or `<f8`), so a caller can
    /// name a wrong dtype before doing other work with the file.
    public static func holdsFloats(_ header: NPYHeader) -> Bool { FloatKind(descr: header.descr) != nil }

    enum IntegerKind {
        case int8, uint8, bool, int16, uint16, int32, uint32, int64, uint64

        init?(descr: String) {
            switch descr {
            case "|i1", "<i1", ">i1": self = .int8
            case "|u1", "<u1", ">u1": self = .uint8
            case "|b1", "<b1", ">b1": self = .bool
            case "<i2": self = .int16
            case "<u2": self = .uint16
            case "<i4": self = .int32
            case "<u4": self = .uint32
            case "<i8": self = .int64
            case "<u8": self = .uint64
            default: return nil
            }
        }

        var size: Int {
            switch self {
            case .int8, .uint8, .bool: return 1
            case .int16, .uint16: return 2
            case .int32, .uint32: return 4
            case .int64, .uint64: return 8
            }
        }

        /// Element `index` of `data`, or `nil` when it does not fit in `Int`.
        func load(_ data: UnsafeRawBufferPointer, index: Int) -> Int? {
            let offset = index * size
            switch self {
            case .int8: return Int(data.loadUnaligned(fromByteOffset: offset, as: Int8.self))
            case .uint8: return Int(data.loadUnaligned(fromByteOffset: offset, as: UInt8.self))
            case .bool: return data.loadUnaligned(fromByteOffset: offset, as: UInt8.self) == 0 ? 0 : 1
            case .int16: return Int(Int16(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
            case .uint16: return Int(UInt16(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
            case .int32: return Int(Int32(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
            case .uint32: return Int(exactly: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            case .int64: return Int(exactly: Int64(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
            case .uint64: return Int(exactly: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            }
        }
    }

    /// Why `descr` is not readable, phrased for the user.
    static func dtypeProblem(_ descr: String) -> String {
        if descr.hasPrefix(">") { return "unsupported dtype '\(descr)': big-endian data is not supported; convert with arr.astype(arr.dtype.newbyteorder('<'))" }
        if descr.contains("O") { return "unsupported dtype '\(descr)': object arrays are not supported" }
        if descr.hasPrefix("[") || descr.hasPrefix("(") { return "unsupported dtype \(descr): structured arrays are not supported" }
        return "unsupported dtype '\(descr)'"
    }

    static func requireCOrder(_ header: NPYHeader, path: String) throws {
        if header.fortranOrder {
            throw NPYError(path: path, message: "Fortran-order arrays are not supported; save with numpy.ascontiguousarray")
        }
    }

    /// The data section, checked to hold exactly `shape.product * itemSize` bytes.
    static func dataBytes(_ bytes: UnsafeRawBufferPointer, header: NPYHeader, itemSize: Int, path: String) throws -> UnsafeRawBufferPointer {
        guard let count = header.elementCount else {
            throw NPYError(path: path, message: "shape \(header.shapeText) has more elements than fit in a 64-bit Int")
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow else {
            throw NPYError(path: path, message: "shape \(header.shapeText) needs more bytes than fit in a 64-bit Int")
        }
        let available = bytes.count - header.dataOffset
        if available < expected {
            throw NPYError(path: path, message: "truncated data: shape \(header.shapeText) of '\(header.descr)' needs \(expected) bytes, found \(available)")
        }
        if available > expected {
            throw NPYError(path: path, message: "trailing data: shape \(header.shapeText) of '\(header.descr)' needs \(expected) bytes, found \(available)")
        }
        return UnsafeRawBufferPointer(rebasing: bytes[header.dataOffset ..< header.dataOffset + expected])
    }

    static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> NPYHeader {
        func fail(_ message: String) -> NPYError { NPYError(path: path, message: message) }
        guard bytes.count >= 10 else {
            throw fail("file too short to be an .npy file (\(bytes.count) bytes, the smallest header takes 10)")
        }
        guard bytes.prefix(6).elementsEqual(magic) else {
            throw fail("bad magic: not an .npy file (expected \\x93NUMPY at the start)")
        }
        let (major, minor) = (Int(bytes[6]), Int(bytes[7]))
        guard (1...3).contains(major), minor == 0 else {
            throw fail("unsupported .npy format version \(major).\(minor) (supported: 1.0, 2.0, 3.0)")
        }
        let headerLength: Int
        let prefixLength: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            prefixLength = 10
        } else {
            guard bytes.count >= 12 else {
                throw fail("file too short to be an .npy file (\(bytes.count) bytes, a version \(major) header takes 12)")
            }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            prefixLength = 12
        }
        let dataOffset = prefixLength + headerLength
        guard dataOffset <= bytes.count else {
            throw fail("header length \(headerLength) goes beyond the end of the file (\(bytes.count) bytes)")
        }
        let text = Array(bytes[prefixLength ..< dataOffset])
        let decode: ([UInt8]) -> String?
        if major == 3 {
            decode = { String(validating: $0, as: UTF8.self) }
        } else {
            // Versions 1 and 2 store the header as Latin-1.
            decode = { String(String.UnicodeScalarView($0.map { Unicode.Scalar($0) })) }
        }
        var parser = PythonLiteralParser(bytes: text, decode: decode)
        let dictionary: PythonLiteral
        do {
            dictionary = try parser.parseAll()
        } catch {
            throw fail("malformed header: \(error.message)")
        }
        guard case .dict(let pairs) = dictionary else {
            throw fail("malformed header: expected a dictionary, found \(dictionary.text)")
        }
        for (key, _) in pairs where !["descr", "fortran_order", "shape"].contains(key) {
            throw fail("malformed header: unexpected key '\(key)'")
        }
        func value(_ key: String) throws -> PythonLiteral {
            guard let value = pairs.first(where: { $0.0 == key })?.1 else {
                throw fail("malformed header: missing key '\(key)'")
            }
            return value
        }
        let descr: String
        switch try value("descr") {
        case .string(let s): descr = s
        case let other: descr = other.text
        }
        guard case .boolean(let fortranOrder) = try value("fortran_order") else {
            throw fail("malformed header: 'fortran_order' must be True or False, found \(try value("fortran_order").text)")
        }
        let shapeValue = try value("shape")
        guard case .tuple(let items) = shapeValue else {
            throw fail("malformed header: 'shape' must be a tuple of integers, found \(shapeValue.text)")
        }
        var shape: [Int] = []
        for item in items {
            guard case .integer(let dimension) = item, dimension >= 0 else {
                throw fail("malformed header: bad shape \(shapeValue.text): dimensions must be non-negative integers")
            }
            shape.append(dimension)
        }
        return NPYHeader(version: major, descr: descr, fortranOrder: fortranOrder, shape: shape, dataOffset: dataOffset)
    }

    /// The magic, version, length and padded dictionary, as `np.save` writes them.
    static func headerBytes(descr: String, shape: [Int]) -> [UInt8] {
        let dictionary = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(NPYHeader.pythonTuple(shape)), }"
        var text = Array(dictionary.utf8)
        var prefixLength = 10
        var version: UInt8 = 1
        func pad() -> Int { (64 - (prefixLength + text.count + 1) % 64) % 64 }
        if text.count + 1 + pad() > Int(UInt16.max) {
            prefixLength = 12
            version = 2
        }
        text += [UInt8](repeating: 0x20, count: pad()) + [0x0A]
        var bytes = magic + [version, 0]
        let length = text.count
        bytes += (0..<(prefixLength - 8)).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
        return bytes + text
    }
}

// MARK: - File access

/// `write(2)`, out of reach of `FileSink.write`'s name.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

private func systemError(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// A read-only memory mapping of a whole file, alive for the duration of a closure.
private enum MappedFile {
    static func withContents<R>(of path: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        // Non-blocking, so that opening a FIFO returns at once (no writer needed) and is
        // then refused as not a regular file instead of waiting forever; reads of a regular
        // file do not block either way.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            let problem = code == ENOENT ? "file not found" : "cannot open file for reading"
            throw NPYError(path: path, message: "\(problem): \(systemError(code))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw NPYError(path: path, message: "cannot read file: \(systemError(errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "is a directory" : "is not a regular file"
            throw NPYError(path: path, message: "cannot read file: \(kind)")
        }
        let size = Int(info.st_size)
        guard size > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              address != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw NPYError(path: path, message: "cannot map file into memory: \(systemError(errno))")
        }
        defer { munmap(address, size) }
        return try body(UnsafeRawBufferPointer(start: address, count: size))
    }
}

/// An open temporary file being written.
private struct FileSink {
    let fd: Int32
    let path: String

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            guard let base = buffer.baseAddress else { return }
            let written = systemWrite(fd, base + offset, min(buffer.count - offset, 1 << 30))
            if written < 0 {
                if errno == EINTR { continue }
                throw NPYError(path: path, message: "cannot write file: \(systemError(errno))")
            }
            offset += written
        }
    }

    /// Writes `count` items of `itemSize` bytes, produced by `fill` in chunks.
    func writeConverted(count: Int, itemSize: Int, _ fill: (Int, UnsafeMutableRawPointer) -> Void) throws {
        let chunkItems = 1 << 14
        var chunk = [UInt8](repeating: 0, count: chunkItems * itemSize)
        var start = 0
        while start < count {
            let n = min(chunkItems, count - start)
            chunk.withUnsafeMutableBytes { out in
                for k in 0..<n { fill(start + k, out.baseAddress! + k * itemSize) }
            }
            try chunk.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0.prefix(n * itemSize))) }
            start += n
        }
    }
}

extension NPY {
    /// Writes through `body` into a fresh temporary file beside `path`, then renames it over
    /// `path` (or, `creatingNew`, into `path` itself, created exclusively). On any failure the
    /// file written is removed.
    fileprivate static func writeAtomically(path: String, creatingNew: Bool = false, _ body: (FileSink) throws -> Void) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty else { throw NPYError(path: path, message: "cannot write: the path names a directory, not a file") }
        let directoryPrefix = slash == nil ? "" : (directory.isEmpty ? "/" : directory + "/")

        var fd: Int32 = -1
        var temporary = ""
        if creatingNew {
            temporary = path
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw NPYError(path: path, message: "cannot create file: \(systemError(errno))") }
        } else {
            for _ in 0..<16 {
                temporary = directoryPrefix + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
                fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                if fd >= 0 || errno != EEXIST { break }
            }
            guard fd >= 0 else {
                throw NPYError(path: path, message: "cannot create a temporary file in directory '\(directory)': \(systemError(errno))")
            }
        }
        var committed = false
        defer { if !committed { unlink(temporary) } }
        do {
            defer { close(fd) }
            try body(FileSink(fd: fd, path: path))
            guard fsync(fd) == 0 else { throw NPYError(path: path, message: "cannot flush file: \(systemError(errno))") }
        }
        guard creatingNew || rename(temporary, path) == 0 else {
            throw NPYError(path: path, message: "cannot move the finished file into place: \(systemError(errno))")
        }
        committed = true
    }
}
