/// A request the gateway refuses, answered in the OpenAI error shape:
/// `{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`, where `param` names the
/// request field at fault (`null` when the problem is not one field's).
///
/// Every error is raised before any account state changes, except ``Kind/storeUnavailable``
/// (the occupancy could not be made durable, so the answer is withheld).
public struct GatewayError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure (an open set: new kinds may be added).
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// HTTP status code.
        public let status: Int
        /// The OpenAI `type` field.
        public let type: String
        /// The OpenAI `code` field.
        public let code: String

        /// The body is not valid JSON or lacks a required field (400).
        public static let malformedRequest = Kind(status: 400, type: "invalid_request_error", code: "invalid_request")
        /// A vector has the wrong dimension or holds NaN/infinity (400).
        public static let invalidVectors = Kind(status: 400, type: "invalid_request_error", code: "invalid_vectors")
        /// No, malformed or unknown API key (401).
        public static let invalidKey = Kind(status: 401, type: "invalid_request_error", code: "invalid_api_key")
        /// The API key was revoked (401).
        public static let revokedKey = Kind(status: 401, type: "invalid_request_error", code: "revoked_api_key")
        /// No such route (404).
        public static let notFound = Kind(status: 404, type: "invalid_request_error", code: "unknown_url")
        /// Wrong method on a known route (405).
        public static let methodNotAllowed = Kind(status: 405, type: "invalid_request_error", code: "method_not_allowed")
        /// Too many inputs in one request or a body above the limit (413).
        public static let tooLarge = Kind(status: 413, type: "invalid_request_error", code: "request_too_large")
        /// The upstream is unreachable or answered something unusable (502).
        public static let badUpstream = Kind(status: 502, type: "upstream_error", code: "bad_upstream")
        /// The upstream did not answer in time (504).
        public static let upstreamTimeout = Kind(status: 504, type: "upstream_error", code: "upstream_timeout")
        /// The state store failed; the answer is withheld because its occupancy is not durable (503).
        public static let storeUnavailable = Kind(status: 503, type: "server_error", code: "state_store_unavailable")
        /// The request's HTTP framing is malformed (bad request line, bad `Content-Length`, ...) (400).
        public static let malformedHTTP = Kind(status: 400, type: "invalid_request_error", code: "malformed_http")
        /// The request's head (request line and headers) is larger than the server accepts (431).
        public static let headerTooLarge = Kind(status: 431, type: "invalid_request_error", code: "header_too_large")
        /// The client did not send the whole request within the idle timeout (408).
        public static let requestTimeout = Kind(status: 408, type: "invalid_request_error", code: "request_timeout")
        /// An `Expect` header other than `100-continue` (417).
        public static let expectationFailed = Kind(status: 417, type: "invalid_request_error", code: "expectation_failed")
        /// The gateway is shutting down and takes no new requests (503).
        public static let shuttingDown = Kind(status: 503, type: "server_error", code: "shutting_down")
        /// An unexpected internal failure (500).
        public static let internalError = Kind(status: 500, type: "server_error", code: "internal_error")

        public var description: String { code }
    }

    /// What went wrong.
    public let kind: Kind
    /// A message naming the problem; safe to return to the client (never holds a key or secret).
    public let message: String
    /// The request field at fault (the OpenAI `param`), e.g. `input` or `input[3]`; nil when
    /// the problem is not one field's.
    public let param: String?

    public init(_ kind: Kind, _ message: String, param: String? = nil) {
        self.kind = kind
        self.message = message
        self.param = param
    }

    public var description: String { "\(kind.status) \(kind.code): \(message)" }

    /// The JSON body in the OpenAI error shape.
    public var jsonBody: [UInt8] {
        var out = JSONWriter()
        out.raw("{\"error\":{\"message\":")
        out.string(message)
        out.raw(",\"type\":")
        out.string(kind.type)
        out.raw(",\"param\":")
        if let param { out.string(param) } else { out.raw("null") }
        out.raw(",\"code\":")
        out.string(kind.code)
        out.raw("}}")
        return out.bytes
    }
}
