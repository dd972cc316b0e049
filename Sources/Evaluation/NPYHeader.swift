/// The header of a NumPy `.npy` file: format version, dtype, memory order and shape.
///
/// Produced by ``NPY/header(_:)`` without reading the array data.
public struct NPYHeader: Sendable, Equatable {
    /// Major format version: 1 (2-byte header length), 2 (4-byte) or 3 (4-byte, UTF-8 header).
    /// Minor versions other than 0 are rejected, so the major version identifies the format.
    public let version: Int
    /// The dtype descriptor as written, e.g. `"<f4"`, `"|u1"`. Structured dtypes (a list in the
    /// header) are reported as their Python text; no reader in ``NPY`` accepts them.
    public let descr: String
    /// Whether the data is stored column-major (Fortran order).
    public let fortranOrder: Bool
    /// The array's dimensions; `[]` for a scalar.
    public let shape: [Int]
    /// Byte offset of the first data byte from the start of the file.
    public let dataOffset: Int

    public init(version: Int, descr: String, fortranOrder: Bool, shape: [Int], dataOffset: Int) {
        self.version = version
        self.descr = descr
        self.fortranOrder = fortranOrder
        self.shape = shape
        self.dataOffset = dataOffset
    }

    /// The number of elements, or `nil` when the product of the dimensions overflows `Int`.
    public var elementCount: Int? {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// The shape as Python prints it: `(3, 4)`, `(5,)`, `()`.
    var shapeText: String { NPYHeader.pythonTuple(shape) }

    static func pythonTuple(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}

// MARK: - Header dictionary parsing

/// A value in the Python-literal subset `.npy` headers use.
enum PythonLiteral: Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case dict([(String, PythonLiteral)])

    static func == (lhs: PythonLiteral, rhs: PythonLiteral) -> Bool {
        switch (lhs, rhs) {
        case let (.string(a), .string(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.boolean(a), .boolean(b)): return a == b
        case (.none, .none): return true
        case let (.tuple(a), .tuple(b)), let (.list(a), .list(b)): return a == b
        case let (.dict(a), .dict(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// Python-like text, for error messages and structured dtype descriptors.
    var text: String {
        switch self {
        case .string(let s): return "'\(s)'"
        case .integer(let i): return String(i)
        case .boolean(let b): return b ? "True" : "False"
        case .none: return "None"
        case .tuple(let items): return items.count == 1 ? "(\(items[0].text),)" : "(" + items.map(\.text).joined(separator: ", ") + ")"
        case .list(let items): return "[" + items.map(\.text).joined(separator: ", ") + "]"
        case .dict(let pairs): return "{" + pairs.map { "'\($0.0)': \($0.1.text)" }.joined(separator: ", ") + "}"
        }
    }
}

/// A recursive-descent parser for the Python literal subset in `.npy` headers. Bounded
/// nesting depth, so hostile input cannot exhaust the stack.
struct PythonLiteralParser {
    struct Failure: Error { let message: String }

    private let bytes: [UInt8]
    private let decode: ([UInt8]) -> String?
    private var index = 0
    private static let maximumDepth = 32

    /// - Parameter decode: turns the bytes of a string literal into text (Latin-1 or UTF-8).
    init(bytes: [UInt8], decode: @escaping ([UInt8]) -> String?) {
        self.bytes = bytes
        self.decode = decode
    }

    /// Parses the whole input as one literal, allowing surrounding whitespace.
    mutating func parseAll() throws(Failure) -> PythonLiteral {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if index < bytes.count { throw Failure(message: "unexpected \(describe(bytes[index])) after the dictionary") }
        return value
    }

    private func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))' at offset \(index)" : "byte 0x\(String(byte, radix: 16)) at offset \(index)"
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        skipWhitespace()
        guard index < bytes.count else { throw Failure(message: "unexpected end, expected '\(Character(Unicode.Scalar(byte)))'") }
        guard bytes[index] == byte else { throw Failure(message: "unexpected \(describe(bytes[index])), expected '\(Character(Unicode.Scalar(byte)))'") }
        index += 1
    }

    /// Consumes `byte` (after whitespace) if it is next.
    private mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        if index < bytes.count, bytes[index] == byte { index += 1; return true }
        return false
    }

    private mutating func parseValue(depth: Int) throws(Failure) -> PythonLiteral {
        guard depth < Self.maximumDepth else { throw Failure(message: "nesting deeper than \(Self.maximumDepth) levels") }
        skipWhitespace()
        guard index < bytes.count else { throw Failure(message: "unexpected end, expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var pairs: [(String, PythonLiteral)] = []
            while true {
                if consume(UInt8(ascii: "}")) { break }
                guard case .string(let key) = try parseValue(depth: depth + 1) else {
                    throw Failure(message: "dictionary keys must be strings")
                }
                try expect(UInt8(ascii: ":"))
                let value = try parseValue(depth: depth + 1)
                if pairs.contains(where: { $0.0 == key }) { throw Failure(message: "duplicate key '\(key)'") }
                pairs.append((key, value))
                if consume(UInt8(ascii: ",")) { continue }
                try expect(UInt8(ascii: "}"))
                break
            }
            return .dict(pairs)
        case UInt8(ascii: "("), UInt8(ascii: "["):
            let isTuple = bytes[index] == UInt8(ascii: "(")
            let close = isTuple ? UInt8(ascii: ")") : UInt8(ascii: "]")
            index += 1
            var items: [PythonLiteral] = []
            var sawComma = false
            while true {
                if consume(close) { break }
                items.append(try parseValue(depth: depth + 1))
                if consume(UInt8(ascii: ",")) { sawComma = true; continue }
                try expect(close)
                break
            }
            // `(x)` is just `x` in Python; `(x,)` is a one-element tuple.
            if isTuple, items.count == 1, !sawComma { return items[0] }
            return isTuple ? .tuple(items) : .list(items)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            let quote = bytes[index]
            index += 1
            let start = index
            while index < bytes.count, bytes[index] != quote {
                if bytes[index] == UInt8(ascii: "\\") { throw Failure(message: "escape sequences in strings are not supported") }
                if bytes[index] == 0x0A { throw Failure(message: "unterminated string (newline before the closing quote)") }
                index += 1
            }
            guard index < bytes.count else { throw Failure(message: "unterminated string") }
            let raw = Array(bytes[start..<index])
            index += 1
            guard let text = decode(raw) else { throw Failure(message: "string is not valid text") }
            return .string(text)
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            var negative = false
            if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                negative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var value = 0
            var digits = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                let digit = Int(bytes[index] - UInt8(ascii: "0"))
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (next, o2) = times10.addingReportingOverflow(digit)
                if o1 || o2 { throw Failure(message: "integer too large for a 64-bit Int") }
                value = next
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw Failure(message: "sign without digits") }
            // Python 2 era headers may carry a long suffix: `(3L, 4L)`.
            if index < bytes.count, bytes[index] == UInt8(ascii: "L") { index += 1 }
            return .integer(negative ? -value : value)
        default:
            let start = index
            while index < bytes.count, isIdentifierByte(bytes[index]) { index += 1 }
            let word = String(decoding: bytes[start..<index], as: UTF8.self)
            switch word {
            case "True": return .boolean(true)
            case "False": return .boolean(false)
            case "None": return .none
            case "": throw Failure(message: "unexpected \(describe(bytes[index]))")
            default: throw Failure(message: "unexpected name '\(word)'")
            }
        }
    }

    private func isIdentifierByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
    }
}
