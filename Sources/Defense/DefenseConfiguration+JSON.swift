import Foundation

extension DefenseConfiguration {
    /// The configuration as pretty-printed JSON (stable key order).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Decodes and validates a configuration.
    /// - Throws: ``ConfigurationError`` naming the problem (malformed JSON included).
    public static func decode(from data: Data) throws -> DefenseConfiguration {
        let configuration: DefenseConfiguration
        do {
            configuration = try JSONDecoder().decode(DefenseConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw ConfigurationError(field: "json", message: error.locatedDescription)
        }
        return try configuration.validated()
    }
}

extension DefenseConfiguration {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case dimension, hashBits, tableCount, hasher, calibration, cost, relativeCost, units, transforms, maxBatchRows, transformCacheBytes
    }

    /// Decodes a configuration in which every key is optional: a missing key keeps the
    /// paper's default, so a file need only state what it changes. An unknown key (a misspelt
    /// one, say) is refused rather than left to keep its default unnoticed.
    public init(from decoder: any Decoder) throws {
        self.init()
        _ = try ConfigurationJSON.object(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dimension = try c.decodeIfPresent(Int.self, forKey: .dimension) ?? dimension
        hashBits = try c.decodeIfPresent(Int.self, forKey: .hashBits) ?? hashBits
        tableCount = try c.decodeIfPresent(Int.self, forKey: .tableCount) ?? tableCount
        hasher = try c.decodeIfPresent(HasherConfiguration.self, forKey: .hasher) ?? hasher
        calibration = try c.decodeIfPresent(Calibration.self, forKey: .calibration)
        cost = try c.decodeIfPresent(CostFunction.self, forKey: .cost) ?? cost
        relativeCost = try c.decodeIfPresent(RelativeCoverageCost.self, forKey: .relativeCost)
        units = try c.decodeIfPresent(Units.self, forKey: .units) ?? units
        transforms = try c.decodeIfPresent([TransformKind].self, forKey: .transforms) ?? transforms
        maxBatchRows = try c.decodeIfPresent(Int.self, forKey: .maxBatchRows) ?? maxBatchRows
        transformCacheBytes = try c.decodeIfPresent(Int.self, forKey: .transformCacheBytes) ?? transformCacheBytes
    }
}

extension DefenseConfiguration.Units {
    /// Reads "absolute" or "calibrationSpread", naming both when given anything else.
    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let units = Self(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "expected 'absolute' or 'calibrationSpread', got '\(name)'"))
        }
        self = units
    }
}

extension DecodingError {
    /// Where in the JSON document the problem is (a path such as `.cost.exponential.lamda`, or
    /// "the document" at its top) and what it is, for messages to the file's author.
    public var locatedDescription: String {
        func path(_ c: Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "the document" : p
        }
        switch self {
        case .keyNotFound(let key, let c):
            return "missing key \(c.codingPath.isEmpty ? "" : path(c)).\(key.stringValue)"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            return "at \(path(c)): \(c.debugDescription)"
        @unknown default:
            return "\(self)"
        }
    }
}
