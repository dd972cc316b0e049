#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed JSON document, as the gateway's wire types read it.
///
/// A small recursive-descent parser (RFC 8259) written for the request bodies the gateway
/// sees: arrays made only of numbers are kept as one `[Double]` (``numbers(_:)``) instead of
/// an array of boxed values, so a `16 x 384` batch of floats parses without per-element
/// allocations. Numbers are converted with the C library's `strtod` (correctly rounded).
/// Stricter than RFC 8259 where leniency would hide a client's mistake: an object naming one
/// member twice and a leading UTF-8 byte-order mark are refused.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    /// A non-empty array whose elements are all numbers.
    case numbers([Double])
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses a complete document.
    /// - Parameter maxValues: the most values the document may hold outside arrays of numbers
    ///   (each array, object, string, boolean, null and lone number counts one; the numbers of
    ///   an all-number array are stored compactly and do not count). A body of millions of tiny
    ///   values would otherwise take some 30 times its size in memory before its size could be
    ///   judged; requests bound it by what they may hold.
    /// - Throws: ``JSONParseError`` naming the byte offset of the problem
    ///   (``JSONParseError/valueBudgetExceeded`` when `maxValues` is passed).
    /// - Complexity: O(n) in the document's length; nesting deeper than 64 levels is refused.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxValues: Int = .max) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxValues: maxValues)
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            throw parser.error("a byte-order mark is not allowed")
        }
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.position == bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    /// Parses a complete document held in an array.
    public static func parse(_ bytes: [UInt8], maxValues: Int = .max) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, maxValues: maxValues) }
    }

    /// The member `key` of an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// A short name of the value's JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .numbers, .array: "an array"
        case .object: "an object"
        }
    }
}

/// A body that is not valid JSON.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    /// Byte offset of the problem.
    public let offset: Int
    /// What is wrong there.
    public let message: String
    /// The document holds more values than the parse allowed (it may be valid JSON).
    public let valueBudgetExceeded: Bool

    public init(offset: Int, message: String, valueBudgetExceeded: Bool = false) {
        self.offset = offset
        self.message = message
        self.valueBudgetExceeded = valueBudgetExceeded
    }

    public var description: String {
        valueBudgetExceeded ? "\(message) (at byte \(offset))" : "invalid JSON at byte \(offset): \(message)"
    }
}

struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    /// Values left to the document (see ``JSONValue/parse(_:maxValues:)``).
    var valuesLeft: Int
    let maxValues: Int

    init(bytes: UnsafeRawBufferPointer, maxValues: Int = .max) {
        self.bytes = bytes
        self.maxValues = maxValues
        self.valuesLeft = maxValues
    }

    func error(_ message: String) -> JSONParseError { JSONParseError(offset: position, message: message) }

    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipSpace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: StaticString) throws {
        let n = literal.utf8CodeUnitCount
        guard position + n <= bytes.count else { throw error("unexpected end of data") }
        let ok = literal.withUTF8Buffer { lit in
            (0..<n).allSatisfy { bytes[position + $0] == lit[$0] }
        }
        guard ok else { throw error("invalid literal") }
        position += n
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 64 else { throw error("nesting deeper than 64 levels") }
        guard valuesLeft > 0 else {
            throw JSONParseError(offset: position, message: "the document holds more than \(maxValues) values (arrays of numbers aside)", valueBudgetExceeded: true)
        }
        valuesLeft -= 1
        guard let c = peek else { throw error("unexpected end of data") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character '\(Unicode.Scalar(c))'")
        }
    }

    mutating func object(depth: Int) throws -> JSONValue {
        position += 1
        var members: [String: JSONValue] = [:]
        skipSpace()
        if peek == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let keyStart = position
            let key = try string()
            guard members[key] == nil else {
                position = keyStart
                throw error("duplicate key '\(key)'")
            }
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipSpace()
            members[key] = try value(depth: depth + 1)
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(members)
            default: throw error("expected ',' or '}'")
            }
        }
    }

    mutating func array(depth: Int) throws -> JSONValue {
        position += 1
        skipSpace()
        if peek == UInt8(ascii: "]") { position += 1; return .array([]) }
        // Fast path: an array of numbers only.
        if let c = peek, c == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) {
            var numbers: [Double] = []
            numbers.reserveCapacity(64)
            while true {
                skipSpace()
                guard let c = peek else { throw error("unexpected end of data") }
                guard c == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else {
                    // A mixed array: continue generically with what was read so far (each
                    // number now a value of its own, counted as such).
                    guard numbers.count <= valuesLeft else {
                        throw JSONParseError(offset: position, message: "the document holds more than \(maxValues) values (arrays of numbers aside)", valueBudgetExceeded: true)
                    }
                    valuesLeft -= numbers.count
                    var elements = numbers.map { JSONValue.number($0) }
                    return try arrayTail(&elements, depth: depth)
                }
                numbers.append(try number())
                skipSpace()
                switch peek {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return .numbers(numbers)
                default: throw error("expected ',' or ']'")
                }
            }
        }
        var elements: [JSONValue] = []
        return try arrayTail(&elements, depth: depth)
    }

    mutating func arrayTail(_ elements: inout [JSONValue], depth: Int) throws -> JSONValue {
        while true {
            skipSpace()
            elements.append(try value(depth: depth + 1))
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(elements)
            default: throw error("expected ',' or ']'")
            }
        }
    }

    /// Validates the RFC 8259 number grammar, then converts with `strtod`.
    mutating func number() throws -> Double {
        let start = position
        func digits() -> Int {
            let s = position
            while let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { position += 1 }
            return position - s
        }
        if peek == UInt8(ascii: "-") { position += 1 }
        guard let first = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw error("invalid number") }
        if first == UInt8(ascii: "0") { position += 1 } else { _ = digits() }
        if peek == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw error("invalid number: no digits after '.'") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            position += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw error("invalid number: no digits in the exponent") }
        }
        let length = position - start
        guard length <= 400 else { throw error("number too long") }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { text in
            for i in 0..<length { text[i] = CChar(bitPattern: bytes[start + i]) }
            text[length] = 0
            return strtod(text.baseAddress!, nil)
        }
    }

    /// Whether the eight bytes of `w` may include `"`, `\` or a byte below 0x20: never false
    /// when one does (a false positive only costs a byte-by-byte look).
    @inline(__always)
    static func mayHoldSpecialByte(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (0x22 &* ones), backslash = w ^ (0x5C &* ones)
        // (x - 0x01..) & ~x & 0x80.. is non-zero exactly when some byte of x is zero (bytes
        // above the first zero byte may be flagged too); with 0x20.. it flags bytes below 0x20.
        let special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((w &- 0x20 &* ones) & ~w)
        return special & highs != 0
    }

    mutating func string() throws -> String {
        position += 1
        let start = position
        // Fast path: no escapes (a base64 vector is one long run of plain characters).
        let count = bytes.count
        var control: Int? = nil
        var i = position
        // Eight bytes at a time until a word may hold a quote, a backslash or a control
        // character (a word with none of them is skipped whole; a flagged word, which may be a
        // false alarm, is re-read byte by byte below).
        if let base = bytes.baseAddress {
            while i &+ 8 <= count {
                let w = UInt64(littleEndian: (base + i).loadUnaligned(as: UInt64.self))
                if Self.mayHoldSpecialByte(w) { break }
                i &+= 8
            }
        }
        while i < count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { break }
            if c < 0x20, control == nil { control = i }
            i += 1
        }
        if let control {
            position = control
            throw error("control character in a string")
        }
        position = i
        guard let stop = peek else { throw error("unterminated string") }
        if stop == UInt8(ascii: "\"") {
            let s = try decodeUTF8(start, position)
            position += 1
            return s
        }
        var utf8 = Array(UnsafeRawBufferPointer(rebasing: bytes[start ..< position]))
        while true {
            guard let c = peek else { throw error("unterminated string") }
            position += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let s = String(validating: utf8, as: UTF8.self) else {
                    // Escapes change lengths: find the bad byte in the source text itself.
                    position = Self.firstInvalidUTF8(bytes, from: start, to: position - 1) ?? position - 1
                    throw error("string is not valid UTF-8")
                }
                return s
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw error("unterminated escape") }
                position += 1
                switch e {
                case UInt8(ascii: "\""): utf8.append(0x22)
                case UInt8(ascii: "\\"): utf8.append(0x5C)
                case UInt8(ascii: "/"): utf8.append(0x2F)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard peek == UInt8(ascii: "\\") else { throw error("unpaired surrogate") }
                        position += 1
                        guard peek == UInt8(ascii: "u") else { throw error("unpaired surrogate") }
                        position += 1
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    utf8.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw error("invalid escape")
                }
            default:
                guard c >= 0x20 else {
                    position -= 1
                    throw error("control character in a string")
                }
                utf8.append(c)
            }
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("unterminated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
            position += 1
        }
        return v
    }

    mutating func decodeUTF8(_ from: Int, _ to: Int) throws -> String {
        guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[from ..< to]), as: UTF8.self) else {
            position = Self.firstInvalidUTF8(bytes, from: from, to: to) ?? to
            throw error("string is not valid UTF-8")
        }
        return s
    }

    /// The offset of the first byte in `from..<to` that starts an invalid UTF-8 sequence (nil
    /// when there is none). Backslash escapes are plain ASCII, so the raw text can be checked.
    static func firstInvalidUTF8(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        var iterator = UnsafeRawBufferPointer(rebasing: bytes[from ..< to]).makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = from
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }
}

/// Builds a JSON document byte by byte (the gateway's responses).
public struct JSONWriter: Sendable {
    /// The document so far (UTF-8).
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// Appends raw JSON text (the caller guarantees it is valid).
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends raw JSON text (the caller guarantees it is valid).
    public mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// Appends a quoted, escaped string.
    public mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(c >> 4)], hex[Int(c & 15)]])
            default: bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends an integer.
    public mutating func integer(_ v: Int) { bytes.append(contentsOf: String(v).utf8) }

    /// Appends a finite number in its shortest round-trip form (non-finite values become 0).
    public mutating func number(_ v: Double) {
        bytes.append(contentsOf: (v.isFinite ? "\(v)" : "0").utf8)
    }

    /// Appends a float array in shortest round-trip form (`[0.25,-1.0]`).
    public mutating func floats(_ values: UnsafeBufferPointer<Float>) {
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: v.description.utf8)
        }
        bytes.append(UInt8(ascii: "]"))
    }
}
