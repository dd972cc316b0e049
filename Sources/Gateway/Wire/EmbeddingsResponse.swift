import NumericKernels

/// Writes the OpenAI embeddings answer:
/// `{"object":"list","data":[{"object":"embedding","index":i,"embedding":...}],"model":...,"usage":{...}}`.
public enum EmbeddingsResponse {
    /// The body for `B x d` vectors in `format`.
    /// - Parameters:
    ///   - vectors: one row per input, in input order.
    ///   - promptTokens: the upstream's token count (0 when there is none).
    public static func body(_ vectors: Matrix, format: EmbeddingFormat, model: String, promptTokens: Int) -> [UInt8] {
        let perRow = format == .base64 ? vectors.columns * 16 / 3 + 48 : vectors.columns * 12 + 48
        var out = JSONWriter(capacity: vectors.rows * perRow + 128)
        out.raw("{\"object\":\"list\",\"data\":[")
        var bytes = out.bytes
        vectors.withUnsafeBufferPointer { all in
            let d = vectors.columns
            for i in 0..<vectors.rows {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.append(contentsOf: "{\"object\":\"embedding\",\"index\":\(i),\"embedding\":".utf8)
                let row = UnsafeBufferPointer(rebasing: all[i * d ..< (i + 1) * d])
                switch format {
                case .base64:
                    Base64Floats.appendQuoted(row, to: &bytes)
                case .float:
                    var w = JSONWriter(capacity: 0)
                    w.floats(row)
                    bytes.append(contentsOf: w.bytes)
                }
                bytes.append(UInt8(ascii: "}"))
            }
        }
        bytes.append(contentsOf: "],\"model\":".utf8)
        var tail = JSONWriter(capacity: 96)
        tail.string(model)
        tail.raw(",\"usage\":{\"prompt_tokens\":")
        tail.integer(promptTokens)
        tail.raw(",\"total_tokens\":")
        tail.integer(promptTokens)
        tail.raw("}}")
        bytes.append(contentsOf: tail.bytes)
        return bytes
    }
}

/// An upstream's embeddings answer, checked: exactly one finite vector of the expected
/// dimension per input, in input order.
public struct UpstreamEmbeddings: Sendable {
    /// `B x d`, row `i` the embedding of input `i`.
    public var vectors: Matrix
    /// The model the upstream names (nil when absent).
    public var model: String?
    /// `usage.prompt_tokens` (0 when absent).
    public var promptTokens: Int

    /// Parses an upstream body; every value must be finite and of magnitude at most
    /// `largestMagnitude` (the defense's ``DefenseConfiguration/largestInputMagnitude``).
    /// - Throws: ``GatewayError`` (502) naming what is wrong with the answer.
    public init(body: UnsafeRawBufferPointer, expectedCount: Int, dimension: Int,
                largestMagnitude: Float = .greatestFiniteMagnitude) throws {
        func garbage(_ why: String) -> GatewayError { GatewayError(.badUpstream, "upstream answered an unusable body: \(why)") }
        let document: JSONValue
        do { document = try JSONValue.parse(body) } catch { throw garbage("\(error)") }
        guard case .array(let data)? = document["data"] else { throw garbage("no 'data' array") }
        guard data.count == expectedCount else { throw garbage("\(data.count) embeddings for \(expectedCount) inputs") }
        var rows = [[Float]?](repeating: nil, count: expectedCount)
        for (position, item) in data.enumerated() {
            var index = position
            if case .number(let v)? = item["index"] {
                guard v >= 0, v < Double(expectedCount), v == v.rounded() else { throw garbage("embedding index \(v) out of range") }
                index = Int(v)
            }
            guard rows[index] == nil else { throw garbage("embedding index \(index) appears twice") }
            var values: [Float] = []
            switch item["embedding"] {
            case .numbers(let v)?: values = v.map { Float($0) }
            case .string(let s)?:
                guard Base64Floats.decode(s, appendingTo: &values) != nil else { throw garbage("embedding \(index) is not base64 float32") }
            default: throw garbage("embedding \(index) is missing or not a vector")
            }
            guard values.count == dimension else {
                throw garbage("embedding \(index) has dimension \(values.count), the gateway is configured for \(dimension)")
            }
            // One pass: NaN fails the comparison too, infinity exceeds any bound.
            if let j = values.firstIndex(where: { !(abs($0) <= largestMagnitude) }) {
                guard values[j].isFinite else { throw garbage("embedding \(index) holds NaN or infinity") }
                throw garbage("embedding \(index) holds \(values[j]) at position \(j), beyond the magnitude \(largestMagnitude) the defense takes")
            }
            rows[index] = values
        }
        var elements: [Float] = []
        elements.reserveCapacity(expectedCount * dimension)
        for r in rows { elements.append(contentsOf: r!) }
        vectors = Matrix(rows: expectedCount, columns: dimension, elements: elements)
        if case .string(let m)? = document["model"] { model = m } else { model = nil }
        if case .number(let t)? = document["usage"]?["prompt_tokens"], t >= 0, t < 1e15 { promptTokens = Int(t) } else { promptTokens = 0 }
    }
}
