/// The body of `POST /v1/embeddings` (OpenAI embeddings API): `input` is a string or an
/// array of strings, `model` is passed to the upstream, `encoding_format` chooses the
/// answer's representation. Token-array inputs are not supported (the gateway forwards text).
public struct EmbeddingsRequest: Sendable, Equatable {
    /// The texts to embed, in order.
    public var texts: [String]
    /// The model name, forwarded to the upstream (nil: the gateway's configured default).
    public var model: String?
    /// The answer's representation.
    public var format: EmbeddingFormat
    /// Optional `input_type` (`query`/`passage`), forwarded to upstreams that use it.
    public var inputType: String?

    /// Parses and checks a body.
    /// - Parameter maxInputs: the largest number of texts accepted in one request.
    /// - Throws: ``GatewayError``: 400 for malformed bodies, 413 above `maxInputs`.
    public init(body: UnsafeRawBufferPointer, maxInputs: Int) throws {
        let document: JSONValue
        do { document = try JSONValue.parse(body) } catch let error as JSONParseError {
            throw GatewayError(.malformedRequest, "request body is not valid JSON: \(error)")
        }
        guard case .object = document else {
            throw GatewayError(.malformedRequest, "request body must be a JSON object, got \(document.typeName)")
        }
        switch document["input"] {
        case nil, .null?:
            throw GatewayError(.malformedRequest, "missing required parameter 'input'")
        case .string(let s)?:
            texts = [s]
        case .array(let items)?:
            var texts: [String] = []
            texts.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else {
                    throw GatewayError(.malformedRequest, "'input[\(i)]' must be a string, got \(item.typeName) (token arrays are not supported)")
                }
                texts.append(s)
            }
            self.texts = texts
        case .numbers?:
            throw GatewayError(.malformedRequest, "'input' as token ids is not supported; send text")
        case let other?:
            throw GatewayError(.malformedRequest, "'input' must be a string or an array of strings, got \(other.typeName)")
        }
        guard !texts.isEmpty else { throw GatewayError(.malformedRequest, "'input' must not be empty") }
        guard texts.count <= maxInputs else {
            throw GatewayError(.tooLarge, "'input' has \(texts.count) items, the limit is \(maxInputs) per request")
        }
        switch document["model"] {
        case nil, .null?: model = nil
        case .string(let s)?: model = s
        case let other?: throw GatewayError(.malformedRequest, "'model' must be a string, got \(other.typeName)")
        }
        format = try EmbeddingFormat.read(document["encoding_format"])
        if case .string(let s)? = document["input_type"] { inputType = s } else { inputType = nil }
    }

    /// The body sent upstream: the same texts and model, always asking for base64 (compact,
    /// exact float32).
    public func upstreamBody(defaultModel: String?) -> [UInt8] {
        var out = JSONWriter(capacity: 64 + texts.reduce(0) { $0 + $1.utf8.count + 4 })
        out.raw("{\"input\":[")
        for (i, t) in texts.enumerated() {
            if i > 0 { out.raw(",") }
            out.string(t)
        }
        out.raw("]")
        if let model = model ?? defaultModel {
            out.raw(",\"model\":")
            out.string(model)
        }
        if let inputType {
            out.raw(",\"input_type\":")
            out.string(inputType)
        }
        out.raw(",\"encoding_format\":\"base64\"}")
        return out.bytes
    }
}
