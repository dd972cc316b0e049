import Foundation

extension DefenseConfiguration {
    /// The configuration as pretty-printed JSON (stable key order).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Decodes and validates a configuration.
    ///
    /// - Parameter dimension: the ``dimension`` of a document that does not state one (nil:
    ///   the default, 2048), so that a fitted hasher or a calibration of that dimension
    ///   validates against it.
    /// - Throws: ``ConfigurationError`` naming the problem (malformed JSON, a key given twice,
    ///   `null` for a value, a number that does not fit its field included).
    public static func decode(from data: Data, dimension: Int? = nil) throws -> DefenseConfiguration {
        let configuration: DefenseConfiguration
        // The syntax is checked first, for a message with the parser's position (the decoder's
        // says only that the data is not valid JSON), then that the document is an object.
        let document: Any
        do { document = try JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed) } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            // The parser names a byte offset from 0; a file written by `b4b calibrate` has
            // thousands of lines, so the line and column say more.
            var place = ""
            if let match = reason.firstMatch(of: /around character (\d+)/), let offset = Int(match.1) {
                let (line, column) = ConfigurationJSON.lineAndColumn(ofByte: offset, in: data)
                place = " at line \(line), column \(column)"
            }
            throw ConfigurationError(field: "document", message: "is not valid JSON\(place): \(reason)")
        }
        guard document is [String: Any] else {
            let found = document is [Any] ? "an array" : document is String ? "a string" : document is NSNull ? "null" : "a number or a boolean"
            throw ConfigurationError(field: "document", message: "must be one JSON object ({...}) of settings, found \(found)")
        }
        try ConfigurationJSON.checkDuplicateKeys(data)
        do {
            let decoder = JSONDecoder()
            if let dimension { decoder.userInfo[defaultDimensionKey] = dimension }
            configuration = try decoder.decode(DefenseConfiguration.self, from: data)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                // Foundation's decoder reports a number that does not fit its type as invalid
                // JSON, naming no field: the first number beyond float32's range is named by its
                // path (most number fields are float32 or narrower; the cost's lambda, alpha
                // and beta are doubles, whose range ends beyond float32's too).
                if let (path, value) = ConfigurationJSON.firstNumberBeyondFloat(data) {
                    throw ConfigurationError(field: path, message: "is \(value), beyond float32's range (largest magnitude \(Float.greatestFiniteMagnitude))")
                }
                throw ConfigurationError(field: "json", message: "a number does not fit its field (a fraction where an integer is expected, or a value out of range): \(context.debugDescription)")
            }
            throw ConfigurationError(field: "json", message: error.locatedDescription)
        }
        return try configuration.validated()
    }

    /// The `userInfo` key of the default dimension (see ``decode(from:dimension:)``).
    static let defaultDimensionKey = CodingUserInfoKey(rawValue: "b4b.defaultDimension")!
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
        let c = try ConfigurationJSON.object(decoder, known: CodingKeys.allCases.map(\.rawValue))
        dimension = try c.value("dimension", or: decoder.userInfo[Self.defaultDimensionKey] as? Int ?? dimension)
        hashBits = try c.value("hashBits", or: hashBits)
        tableCount = try c.value("tableCount", or: tableCount)
        hasher = try c.value("hasher", or: hasher)
        calibration = try c.value("calibration", or: nil as Calibration?)
        cost = try c.value("cost", or: cost)
        relativeCost = try c.value("relativeCost", or: nil as RelativeCoverageCost?)
        units = try c.value("units", or: units)
        transforms = try c.value("transforms", or: transforms)
        maxBatchRows = try c.value("maxBatchRows", or: maxBatchRows)
        transformCacheBytes = try c.value("transformCacheBytes", or: transformCacheBytes)
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
