import NumericKernels

/// The body of `POST /v1/protect`: vectors an application computed itself, to be protected
/// for the calling account.
///
/// `{"input": [[0.1, ...], ...], "encoding_format": "float"}` or with `input` an array of
/// base64 strings (little-endian float32, as OpenAI's `encoding_format: "base64"`); the two
/// may be mixed. `encoding_format` chooses the answer's representation (default `float`).
public struct ProtectRequest: Sendable {
    /// The vectors, `B x d` row-major.
    public var vectors: Matrix
    /// The answer's representation.
    public var format: EmbeddingFormat

    /// Parses and checks a body.
    /// - Parameters:
    ///   - dimension: the dimension every vector must have.
    ///   - maxInputs: the largest number of vectors accepted in one request.
    ///   - largestMagnitude: the largest value magnitude accepted (the defense's
    ///     ``DefenseConfiguration/largestInputMagnitude``: larger values could overflow its
    ///     transforms into infinite answers).
    /// - Throws: ``GatewayError``: 400 for malformed bodies, a wrong dimension, a non-finite
    ///   value or one beyond `largestMagnitude` (naming the vector and position), 413 above
    ///   `maxInputs`.
    public init(body: UnsafeRawBufferPointer, dimension: Int, maxInputs: Int,
                largestMagnitude: Float = .greatestFiniteMagnitude) throws {
        let document: JSONValue
        // Each vector is one value (an array of numbers or a base64 string); the other members
        // a few dozen at most.
        do { document = try JSONValue.parse(body, maxValues: maxInputs + EmbeddingsRequest.otherValues) } catch let error as JSONParseError {
            if error.valueBudgetExceeded {
                throw GatewayError(.tooLarge, "the request holds more values than \(maxInputs) vectors and their parameters can (at most \(maxInputs) vectors per request)", param: "input")
            }
            throw GatewayError(.malformedRequest, "request body is not valid JSON: \(error)")
        }
        guard case .object = document else {
            throw GatewayError(.malformedRequest, "request body must be a JSON object, got \(document.typeName)")
        }
        let items: [JSONValue]
        switch document["input"] {
        case nil, .null?: throw GatewayError(.malformedRequest, "missing required parameter 'input'", param: "input")
        case .array(let a)?: items = a
        case .numbers?: throw GatewayError(.malformedRequest, "'input' must be an array of vectors (arrays or base64 strings), got one flat array of numbers", param: "input")
        case .string?: throw GatewayError(.malformedRequest, "'input' must be an array of vectors; wrap a single base64 vector in an array", param: "input")
        case let other?: throw GatewayError(.malformedRequest, "'input' must be an array of vectors, got \(other.typeName)", param: "input")
        }
        guard !items.isEmpty else { throw GatewayError(.malformedRequest, "'input' must not be empty", param: "input") }
        guard items.count <= maxInputs else {
            throw GatewayError(.tooLarge, "'input' has \(items.count) vectors, the limit is \(maxInputs) per request", param: "input")
        }
        var elements: [Float] = []
        elements.reserveCapacity(items.count * dimension)
        for (i, item) in items.enumerated() {
            let count: Int
            switch item {
            case .numbers(let values):
                // The length first: a vector of the wrong dimension is not copied.
                guard values.count == dimension else {
                    throw GatewayError(.invalidVectors, "'input[\(i)]' has dimension \(values.count), expected \(dimension)", param: "input[\(i)]")
                }
                for (j, v) in values.enumerated() {
                    let f = Float(v)
                    // JSON numbers are finite; one beyond float32's range would become infinity.
                    guard f.isFinite else {
                        throw GatewayError(.invalidVectors, "'input[\(i)][\(j)]' is \(v), outside the float32 range (magnitude at most \(Float.greatestFiniteMagnitude))", param: "input[\(i)][\(j)]")
                    }
                    elements.append(f)
                }
                count = values.count
            case .string(let text):
                guard let n = Base64Floats.decode(text, appendingTo: &elements) else {
                    throw GatewayError(.malformedRequest, "'input[\(i)]' is not base64 of float32 values", param: "input[\(i)]")
                }
                count = n
            case .array(let a) where a.isEmpty:
                count = 0
            case .array(let a):
                // A mixed array (the parser keeps all-number arrays as `.numbers`): name the first
                // element that is not a number.
                let j = a.firstIndex { if case .number = $0 { return false } else { return true } } ?? 0
                throw GatewayError(.malformedRequest, "'input[\(i)][\(j)]' must be a number, got \(a[j].typeName)", param: "input[\(i)][\(j)]")
            default:
                throw GatewayError(.malformedRequest, "'input[\(i)]' must be an array of numbers or a base64 string, got \(item.typeName)", param: "input[\(i)]")
            }
            guard count == dimension else {
                throw GatewayError(.invalidVectors, "'input[\(i)]' has dimension \(count), expected \(dimension)", param: "input[\(i)]")
            }
            let row = elements[(elements.count - count)...]
            // One pass: NaN fails the comparison too, infinity exceeds any bound.
            if let j = row.firstIndex(where: { !(abs($0) <= largestMagnitude) }) {
                guard row[j].isFinite else {
                    throw GatewayError(.invalidVectors, "'input[\(i)]' holds a non-finite value (\(row[j])) at position \(j - row.startIndex)", param: "input[\(i)]")
                }
                throw GatewayError(.invalidVectors, "'input[\(i)][\(j - row.startIndex)]' is \(row[j]); the defense takes values of magnitude at most \(largestMagnitude) (larger ones could overflow its transforms)", param: "input[\(i)][\(j - row.startIndex)]")
            }
        }
        vectors = Matrix(rows: items.count, columns: dimension, elements: elements)
        format = try EmbeddingFormat.read(document["encoding_format"])
    }
}
