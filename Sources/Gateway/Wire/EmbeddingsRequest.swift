/// The body of `POST /v1/embeddings` (OpenAI embeddings API): `input` is a string or an
/// array of strings, `model` is passed to the upstream, `encoding_format` chooses the
/// answer's representation. Token-array inputs are not supported (the gateway forwards text).
/// `dimensions` (OpenAI's output size) is accepted only when it equals the size the gateway
/// serves (the defense's output dimension): the gateway cannot shorten protected vectors.
public struct EmbeddingsRequest: Sendable, Equatable {
    /// The texts to embed, in order.
    public var texts: [String]
    /// The model name, forwarded to the upstream (nil: the gateway's configured default).
    public var model: String?
    /// The answer's representation.
    public var format: EmbeddingFormat
    /// Optional `input_type` (`query`/`passage`), forwarded to upstreams that use it.
    public var inputType: String?

    /// JSON values a request may hold besides its inputs (the body object, its members'
    /// values, nested parameters): the parse stops beyond `maxInputs` plus this many values.
    public static let otherValues = 64

    /// Parses and checks a body.
    /// - Parameters:
    ///   - maxInputs: the largest number of texts accepted in one request.
    ///   - outputDimension: the dimension of the vectors the gateway answers; a `dimensions`
    ///     member must equal it (nil: `dimensions` is not checked against a size).
    /// - Throws: ``GatewayError``: 400 for malformed bodies (naming the field in `param`),
    ///   413 above `maxInputs`.
    public init(body: UnsafeRawBufferPointer, maxInputs: Int, outputDimension: Int? = nil) throws {
        let document: JSONValue
        // Each input is one value; the other members a few dozen at most.
        do { document = try JSONValue.parse(body, maxValues: maxInputs + Self.otherValues) } catch let error as JSONParseError {
            if error.valueBudgetExceeded {
                throw GatewayError(.tooLarge, "the request holds more values than \(maxInputs) inputs and their parameters can (at most \(maxInputs) inputs per request)", param: "input")
            }
            throw GatewayError(.malformedRequest, "request body is not valid JSON: \(error)")
        }
        guard case .object = document else {
            throw GatewayError(.malformedRequest, "request body must be a JSON object, got \(document.typeName)")
        }
        switch document["input"] {
        case nil, .null?:
            throw GatewayError(.malformedRequest, "missing required parameter 'input'", param: "input")
        case .string(let s)?:
            guard !s.isEmpty else { throw GatewayError(.malformedRequest, "'input' must not be an empty string", param: "input") }
            texts = [s]
        case .array(let items)?:
            var texts: [String] = []
            texts.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else {
                    // Only arrays of numbers are token arrays; other kinds are just wrong.
                    let note = if case .numbers = item { " (token arrays are not supported)" } else { "" }
                    throw GatewayError(.malformedRequest, "'input[\(i)]' must be a string, got \(item.typeName)\(note)", param: "input[\(i)]")
                }
                // An empty text has no embedding (OpenAI refuses it too).
                guard !s.isEmpty else { throw GatewayError(.malformedRequest, "'input[\(i)]' must not be an empty string", param: "input[\(i)]") }
                texts.append(s)
            }
            self.texts = texts
        case .numbers?:
            throw GatewayError(.malformedRequest, "'input' as token ids is not supported; send text", param: "input")
        case let other?:
            throw GatewayError(.malformedRequest, "'input' must be a string or an array of strings, got \(other.typeName)", param: "input")
        }
        guard !texts.isEmpty else { throw GatewayError(.malformedRequest, "'input' must not be empty", param: "input") }
        guard texts.count <= maxInputs else {
            throw GatewayError(.tooLarge, "'input' has \(texts.count) items, the limit is \(maxInputs) per request", param: "input")
        }
        switch document["model"] {
        case nil, .null?: model = nil
        case .string(let s)?: model = s
        case let other?: throw GatewayError(.malformedRequest, "'model' must be a string, got \(other.typeName)", param: "model")
        }
        format = try EmbeddingFormat.read(document["encoding_format"])
        switch document["input_type"] {
        case nil, .null?: inputType = nil
        case .string(let s)?: inputType = s
        case let other?: throw GatewayError(.malformedRequest, "'input_type' must be a string, got \(other.typeName)", param: "input_type")
        }
        switch document["dimensions"] {
        case nil, .null?: break
        case .number(let n)?:
            guard n >= 1, n == n.rounded(), n < 1e9 else {
                // Whole numbers shown without a fraction ("got -1", not "got -1.0").
                let shown = n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : "\(n)"
                throw GatewayError(.malformedRequest, "'dimensions' must be a positive integer, got \(shown)", param: "dimensions")
            }
            if let outputDimension, Int(n) != outputDimension {
                throw GatewayError(.malformedRequest, "'dimensions' must be \(outputDimension), the size of the vectors this gateway serves (it cannot shorten them), got \(Int(n))", param: "dimensions")
            }
        case let other?:
            throw GatewayError(.malformedRequest, "'dimensions' must be an integer, got \(other.typeName)", param: "dimensions")
        }
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
