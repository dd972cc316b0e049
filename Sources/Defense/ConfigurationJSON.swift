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
enum ConfigurationJSON {
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
    /// The value at `key`, or `fallback` when the key is absent.
    func value<T: Decodable>(_ key: String, or fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: ConfigurationKey(key)) ?? fallback
    }

    /// The value at `key`, which must be present.
    func value<T: Decodable>(_ key: String) throws -> T {
        try decode(T.self, forKey: ConfigurationKey(key))
    }
}

extension KeyedEncodingContainer where K == ConfigurationKey {
    /// Encodes `value` at `key`.
    mutating func put<T: Encodable>(_ value: T, _ key: String) throws {
        try encode(value, forKey: ConfigurationKey(key))
    }
}
