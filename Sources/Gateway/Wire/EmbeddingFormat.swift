/// How embeddings travel in a body: the OpenAI `encoding_format`.
public enum EmbeddingFormat: String, Sendable {
    /// JSON arrays of numbers.
    case float
    /// Base64 of little-endian float32 values.
    case base64

    /// Reads the optional `encoding_format` member (default ``float``).
    /// - Throws: ``GatewayError`` (400) for any other value.
    static func read(_ value: JSONValue?) throws -> EmbeddingFormat {
        switch value {
        case nil, .null?: return .float
        case .string(let s)?:
            guard let format = EmbeddingFormat(rawValue: s) else {
                throw GatewayError(.malformedRequest, "'encoding_format' must be \"float\" or \"base64\", got \"\(s)\"", param: "encoding_format")
            }
            return format
        case let other?:
            throw GatewayError(.malformedRequest, "'encoding_format' must be a string, got \(other.typeName)", param: "encoding_format")
        }
    }
}
