import Foundation

/// A key of a configuration's JSON object, by its name.
struct ConfigurationKey: CodingKey, Hashable {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Strict reading of configuration JSON: every object refuses keys it does not know (a
/// misspelt key would otherwise leave its setting at the default without a word), and a choice
/// among named kinds (a cost, a hasher, a transform) is written either as its bare name,
/// `"shuffle"`, or as an object whose one key is the name and whose value holds the kind's
/// parameters, `{"pad": {"count": 32}}`; parameters left out keep their defaults.
///
/// Errors are `DecodingError`s whose path and message ``DefenseConfiguration/decode(from:)``
/// reports, so a file's reader learns where the problem is and what was expected there.
public enum ConfigurationJSON {
    /// Line and column (both from 1; the column counts bytes) of byte `offset` (from 0) of `data`.
    static func lineAndColumn(ofByte offset: Int, in data: Data) -> (line: Int, column: Int) {
        var (line, column) = (1, 1)
        for byte in data.prefix(max(0, offset)) {
            if byte == UInt8(ascii: "\n") { (line, column) = (line + 1, 1) } else { column += 1 }
        }
        return (line, column)
    }

    /// The object `decoder` stands at, after checking that each of its keys is one of `known`.
    static func object(_ decoder: any Decoder, known: [String]) throws -> KeyedDecodingContainer<ConfigurationKey> {
        let c = try decoder.container(keyedBy: ConfigurationKey.self)
        if let unknown = c.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            let expected = known.isEmpty ? "no keys are allowed here" : "known keys: \(known.joined(separator: ", "))"
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath + [ConfigurationKey(unknown)],
                debugDescription: "unknown key '\(unknown)' (\(expected))"))
        }
        return c
    }

    /// The kind named at `decoder` (one of `names`) and the decoder of its parameters: nil when
    /// the kind is written as its bare name.
    static func choice(_ decoder: any Decoder, among names: [String]) throws -> (name: String, parameters: (any Decoder)?) {
        let expected = "one of \(names.map { "'\($0)'" }.joined(separator: ", ")), as a name or as an object with that name as its only key"
        func fail(_ got: String) -> DecodingError {
            .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected \(expected); got \(got)"))
        }
        if let single = try? decoder.singleValueContainer(), let name = try? single.decode(String.self) {
            guard names.contains(name) else { throw fail("'\(name)'") }
            return (name, nil)
        }
        let c: KeyedDecodingContainer<ConfigurationKey>
        do { c = try decoder.container(keyedBy: ConfigurationKey.self) } catch { throw fail("a value of another type") }
        let keys = c.allKeys.map(\.stringValue).sorted()
        guard keys.count == 1, let name = keys.first else {
            throw fail(keys.isEmpty ? "an empty object" : "the keys \(keys.map { "'\($0)'" }.joined(separator: ", "))")
        }
        guard names.contains(name) else { throw fail("'\(name)'") }
        return (name, try c.superDecoder(forKey: ConfigurationKey(name)))
    }

    /// The parameters of a kind with one unnamed value (`exponential`, `fitted`), as this engine
    /// wrote them before it wrote them directly: `{"_0": {...}}` is read as `{...}`.
    static func unwrappingPositional(_ decoder: any Decoder) throws -> any Decoder {
        guard let c = try? decoder.container(keyedBy: ConfigurationKey.self),
              c.allKeys.map(\.stringValue) == ["_0"] else { return decoder }
        return try c.superDecoder(forKey: ConfigurationKey("_0"))
    }

    /// Refuses parameters for a kind that takes none (an empty object is accepted).
    static func noParameters(_ decoder: (any Decoder)?) throws {
        if let decoder { _ = try object(decoder, known: []) }
    }
}

extension KeyedDecodingContainer where K == ConfigurationKey {
    /// The value at `key`, or `fallback` when the key is absent; `null` is refused (leaving
    /// the key out is how a default is asked for).
    func value<T: Decodable>(_ key: String, or fallback: T) throws -> T {
        contains(ConfigurationKey(key)) ? try value(key) : fallback
    }

    /// The value at `key`, which must be present and not `null`. A number that does not fit
    /// `T` (a fraction for an integer, a value beyond the type's range) is reported at its
    /// path rather than as invalid JSON.
    func value<T: Decodable>(_ key: String) throws -> T {
        let k = ConfigurationKey(key)
        if contains(k), try decodeNil(forKey: k) {
            throw DecodingError.valueNotFound(T.self, .init(
                codingPath: codingPath + [k], debugDescription: "null is not a value here; leave the key out to keep its default"))
        }
        // Foundation reports such a number with an error of its own, not a DecodingError.
        do { return try decode(T.self, forKey: k) } catch {
            guard let problem = ConfigurationJSON.numberProblem(T.self, in: self, at: k) else { throw error }
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [k], debugDescription: problem))
        }
    }
}

extension ConfigurationJSON {
    /// Why the number at `key` does not fit `T`, when `T` is a number type and the value is a
    /// number; nil otherwise.
    static func numberProblem<T, K: CodingKey>(_ type: T.Type, in c: KeyedDecodingContainer<K>, at key: K) -> String? {
        let isInteger = T.self is any FixedWidthInteger.Type
        guard isInteger || T.self == Float.self || T.self == Double.self, c.contains(key) else { return nil }
        guard let number = try? c.decode(Double.self, forKey: key) else {
            // Foundation's reader refuses numbers beyond Double as well: report what was expected.
            return (try? c.decode(String.self, forKey: key)) == nil && (try? c.decode(Bool.self, forKey: key)) == nil
                ? "expected \(isInteger ? "an integer" : "a number") in the range of \(T.self)" : nil
        }
        if isInteger {
            return number.rounded() == number
                ? "\(number) is out of range for an integer (\(T.self))" : "expected an integer, got \(number)"
        }
        return "\(number) is out of the range of \(T.self) (largest magnitude \(Float.greatestFiniteMagnitude))"
    }

    /// The path (`calibration.centre[7]`) and value of the first number in the document, in
    /// document order of objects' sorted keys, whose magnitude exceeds float32's range; nil
    /// when there is none or the document is not valid JSON.
    static func firstNumberBeyondFloat(_ data: Data) -> (path: String, value: Double)? {
        guard let root = try? JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed) else { return nil }
        func search(_ value: Any, _ path: String) -> (String, Double)? {
            switch value {
            case let object as [String: Any]:
                for key in object.keys.sorted() {
                    if let found = search(object[key]!, path.isEmpty ? key : "\(path).\(key)") { return found }
                }
            case let array as [Any]:
                for (i, element) in array.enumerated() {
                    if let found = search(element, "\(path)[\(i)]") { return found }
                }
            case let number as NSNumber:  // booleans too: 0 or 1, never beyond the range
                let v = number.doubleValue
                if !v.isFinite || abs(v) > Double(Float.greatestFiniteMagnitude) { return (path.isEmpty ? "json" : path, v) }
            default:
                break
            }
            return nil
        }
        return search(root, "")
    }

    /// Refuses a document in which an object states a key twice (JSON readers keep one of
    /// the two without a word), naming the key and where it is, e.g. `cost.exponential.alpha`.
    /// The document must be valid JSON; keys are compared after their escapes are decoded.
    public static func checkDuplicateKeys(_ data: Data) throws {
        enum Frame {
            case object(path: String, keys: Set<String>, key: String?, expectingKey: Bool)
            case array(path: String, index: Int)
        }
        var stack: [Frame] = []
        func childPath() -> String {
            switch stack.last {
            case .object(let path, _, let key, _)?: return path.isEmpty ? (key ?? "") : "\(path).\(key ?? "")"
            case .array(let path, let index)?: return "\(path)[\(index)]"
            case nil: return ""
            }
        }
        let bytes = [UInt8](data)
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\""):
                let start = i
                i += 1
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                if case .object(let path, var keys, _, true)? = stack.last {
                    let raw = Data(bytes[start ... min(i, bytes.count - 1)])
                    let key = (try? JSONSerialization.jsonObject(with: raw, options: .fragmentsAllowed)) as? String
                        ?? String(decoding: raw.dropFirst().dropLast(), as: UTF8.self)
                    guard keys.insert(key).inserted else {
                        let field = path.isEmpty ? key : "\(path).\(key)"
                        throw ConfigurationError(field: field, message: "is given more than once (duplicate key '\(key)')")
                    }
                    stack[stack.count - 1] = .object(path: path, keys: keys, key: key, expectingKey: false)
                }
            case UInt8(ascii: ","):
                switch stack.last {
                case .object(let path, let keys, let key, _)?:
                    stack[stack.count - 1] = .object(path: path, keys: keys, key: key, expectingKey: true)
                case .array(let path, let index)?:
                    stack[stack.count - 1] = .array(path: path, index: index + 1)
                case nil: break
                }
            case UInt8(ascii: "{"):
                stack.append(.object(path: childPath(), keys: [], key: nil, expectingKey: true))
            case UInt8(ascii: "["):
                stack.append(.array(path: childPath(), index: 0))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = stack.popLast()
            default:
                break
            }
            i += 1
        }
    }
}

extension KeyedEncodingContainer where K == ConfigurationKey {
    /// Encodes `value` at `key`.
    mutating func put<T: Encodable>(_ value: T, _ key: String) throws {
        try encode(value, forKey: ConfigurationKey(key))
    }
}
