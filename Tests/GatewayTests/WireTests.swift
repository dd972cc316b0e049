import Defense
import Foundation
import NumericKernels
import Testing
import Gateway

@Suite struct JSONValueTests {
    @Test func parsesNumbersArraysAsOneBuffer() throws {
        let v = try JSONValue.parse(Array(#"{"a": [1, -2.5, 3e2, 0.125], "b": "x\n\u00e9\ud83d\ude00", "c": [true, null, {"d": []}]}"#.utf8))
        #expect(v["a"] == .numbers([1, -2.5, 300, 0.125]))
        #expect(v["b"] == .string("x\né😀"))
        #expect(v["c"] == .array([.bool(true), .null, .object(["d": .array([])])]))
    }

    @Test func mixedArrayFallsBackToGenericElements() throws {
        let v = try JSONValue.parse(Array(#"[1, "two", 3]"#.utf8))
        #expect(v == .array([.number(1), .string("two"), .number(3)]))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "NaN", "[1] x", "\"\\q\"", "\"abc", "[1e]", "\u{1}"])
    func rejectsMalformedDocuments(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func refusesDeepNesting() {
        let text = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func writerEscapesStrings() throws {
        var w = JSONWriter()
        w.string("a\"b\\c\n\u{1}é")
        #expect(try JSONValue.parse(w.bytes) == .string("a\"b\\c\n\u{1}é"))
    }
}

@Suite struct Base64FloatsTests {
    @Test(arguments: [0, 1, 2, 3, 5, 384])
    func roundTrips(_ count: Int) throws {
        let values = (0..<count).map { Float($0) * 0.37 - 11 }
        var bytes: [UInt8] = []
        values.withUnsafeBufferPointer { Base64Floats.appendQuoted($0, to: &bytes) }
        // Same text as Foundation's encoder.
        let expected = values.withUnsafeBufferPointer { Data(buffer: $0).base64EncodedString() }
        #expect(String(decoding: bytes.dropFirst().dropLast(), as: UTF8.self) == expected)
        var decoded: [Float] = []
        #expect(Base64Floats.decode(expected, appendingTo: &decoded) == count)
        #expect(decoded == values)
    }

    @Test(arguments: ["abc", "AAA*", "AAAA", "A===", "AAAAAAA="])
    func rejectsInvalidText(_ text: String) {
        var out: [Float] = []
        #expect(Base64Floats.decode(text, appendingTo: &out) == nil)
    }
}

@Suite struct RequestParsingTests {
    func embeddings(_ json: String, maxInputs: Int = 8) throws -> EmbeddingsRequest {
        try Array(json.utf8).withUnsafeBytes { try EmbeddingsRequest(body: $0, maxInputs: maxInputs) }
    }

    func protect(_ json: String, dimension: Int = 3, maxInputs: Int = 8) throws -> ProtectRequest {
        try Array(json.utf8).withUnsafeBytes { try ProtectRequest(body: $0, dimension: dimension, maxInputs: maxInputs) }
    }

    func kind(_ body: () throws -> Any) -> GatewayError.Kind? {
        do { _ = try body(); return nil } catch let e as GatewayError { return e.kind } catch { return nil }
    }

    @Test func embeddingsInputAsStringOrArray() throws {
        #expect(try embeddings(#"{"input": "hi", "model": "m"}"#).texts == ["hi"])
        let r = try embeddings(#"{"input": ["a", "b"], "encoding_format": "base64"}"#)
        #expect(r.texts == ["a", "b"] && r.format == .base64 && r.model == nil)
        let upstream = try JSONValue.parse(r.upstreamBody(defaultModel: "e5"))
        #expect(upstream["model"] == .string("e5") && upstream["encoding_format"] == .string("base64"))
        #expect(upstream["input"] == .array([.string("a"), .string("b")]))
    }

    @Test func embeddingsBadInputs() {
        #expect(kind { try embeddings("{") } == .malformedRequest)
        #expect(kind { try embeddings("[]") } == .malformedRequest)
        #expect(kind { try embeddings(#"{"model": "m"}"#) } == .malformedRequest)
        #expect(kind { try embeddings(#"{"input": []}"#) } == .malformedRequest)
        #expect(kind { try embeddings(#"{"input": [1, 2]}"#) } == .malformedRequest)
        #expect(kind { try embeddings(#"{"input": "a", "encoding_format": "int8"}"#) } == .malformedRequest)
        #expect(kind { try embeddings(#"{"input": ["a","b","c"]}"#, maxInputs: 2) } == .tooLarge)
        func message(_ json: String) -> String? {
            do { _ = try embeddings(json); return nil } catch { return (error as? GatewayError)?.message }
        }
        // Empty texts have no embedding; an object is not a token array; integers are shown whole.
        #expect(message(#"{"input": ""}"#) == "'input' must not be an empty string")
        #expect(message(#"{"input": ["a", ""]}"#) == "'input[1]' must not be an empty string")
        #expect(message(#"{"input": [{}]}"#) == "'input[0]' must be a string, got an object")
        #expect(message(#"{"input": [[1, 2]]}"#) == "'input[0]' must be a string, got an array (token arrays are not supported)")
        #expect(message(#"{"input": "a", "dimensions": -1}"#) == "'dimensions' must be a positive integer, got -1")
    }

    @Test func protectFloatAndBase64Vectors() throws {
        let b64 = [Float(1), 2, 3].withUnsafeBufferPointer { Data(buffer: $0).base64EncodedString() }
        let r = try protect(#"{"input": [[0.5, -1, 2], "\#(b64)"], "encoding_format": "base64"}"#)
        #expect(r.vectors.rows == 2 && r.vectors.elements == [0.5, -1, 2, 1, 2, 3] && r.format == .base64)
    }

    @Test func protectBadVectors() {
        let nan = [Float(1), .nan, 3].withUnsafeBufferPointer { Data(buffer: $0).base64EncodedString() }
        #expect(kind { try protect(#"{"input": [[1, 2]]}"#) } == .invalidVectors)
        #expect(kind { try protect(#"{"input": ["\#(nan)"]}"#) } == .invalidVectors)
        #expect(kind { try protect(#"{"input": [[1, 2, 1e39]]}"#) } == .invalidVectors)
        #expect(kind { try protect(#"{"input": [[1, 2, NaN]]}"#) } == .malformedRequest)
        #expect(kind { try protect(#"{"input": [1, 2, 3]}"#) } == .malformedRequest)
        #expect(kind { try protect(#"{"input": ["!!!!"]}"#) } == .malformedRequest)
        #expect(kind { try protect(#"{"input": [[1,2,3],[1,2,3]]}"#, maxInputs: 1) } == .tooLarge)
    }

    @Test func upstreamAnswerIsChecked() throws {
        func parse(_ json: String, count: Int = 2) throws -> UpstreamEmbeddings {
            try Array(json.utf8).withUnsafeBytes { try UpstreamEmbeddings(body: $0, expectedCount: count, dimension: 2) }
        }
        let ok = try parse(#"{"data": [{"index": 1, "embedding": [3, 4]}, {"index": 0, "embedding": [1, 2]}], "model": "m", "usage": {"prompt_tokens": 7}}"#)
        #expect(ok.vectors.elements == [1, 2, 3, 4] && ok.promptTokens == 7 && ok.model == "m")
        #expect(kind { try parse("not json") } == .badUpstream)
        #expect(kind { try parse(#"{"data": [{"embedding": [1, 2]}]}"#) } == .badUpstream)
        #expect(kind { try parse(#"{"data": [{"embedding": [1, 2]}, {"embedding": [1]}]}"#) } == .badUpstream)
        #expect(kind { try parse(#"{"data": [{"index": 0, "embedding": [1, 2]}, {"index": 0, "embedding": [1, 2]}]}"#) } == .badUpstream)
    }

    @Test("values the defense's transforms could overflow are refused by name, in requests (400) and upstream answers (502)")
    func valuesBeyondTheDefensesRangeAreRefused() throws {
        var configuration = DefenseConfiguration()
        configuration.dimension = 3
        let largest = configuration.largestInputMagnitude
        // The default dense affine (maxScale 2) at d = 3: a quarter of the range over 2 sqrt(3).
        #expect(abs(Double(largest) - Double(Float.greatestFiniteMagnitude) / (4 * 2 * 3.0.squareRoot())) <= Double(largest) * 1e-6)
        func protectBounded(_ json: String) throws -> ProtectRequest {
            try Array(json.utf8).withUnsafeBytes { try ProtectRequest(body: $0, dimension: 3, maxInputs: 8, largestMagnitude: largest) }
        }
        // Finite float32 values the reviewer sent (3e38): answered with infinities before.
        do {
            _ = try protectBounded(#"{"input": [[1, 2, 3], [1, -3e38, 2]]}"#)
            Issue.record("a value beyond the bound was accepted")
        } catch let error as GatewayError {
            #expect(error.kind == .invalidVectors && error.message.contains("'input[1][1]' is -3e+38") && error.message.contains("at most"), "\(error.message)")
        }
        let b64 = [Float(1), 1e38, 3].withUnsafeBufferPointer { Data(buffer: $0).base64EncodedString() }
        #expect(kind { try protectBounded(#"{"input": ["\#(b64)"]}"#) } == .invalidVectors)
        #expect(try protectBounded(#"{"input": [[1, 2, 3e30]]}"#).vectors.rows == 1)
        let upstream = #"{"data": [{"index": 0, "embedding": [1, 2, 3e38]}]}"#
        #expect(kind {
            try Array(upstream.utf8).withUnsafeBytes { try UpstreamEmbeddings(body: $0, expectedCount: 1, dimension: 3, largestMagnitude: largest) }
        } == .badUpstream)
    }

    @Test("a body of many tiny values is refused (413) while it is parsed, before it takes memory")
    func manyTinyValuesAreRefusedWhileParsing() throws {
        // 100 000 one-letter texts (400 KB of body) against a limit of 8 inputs.
        let many = "{\"input\": [" + Array(repeating: "\"a\"", count: 100_000).joined(separator: ",") + "]}"
        do {
            _ = try embeddings(many)
            Issue.record("accepted")
        } catch let error as GatewayError {
            #expect(error.kind == .tooLarge && error.message.contains("at most 8 inputs per request"), "\(error.message)")
        }
        let rows = "{\"input\": [" + Array(repeating: "[1,2,3]", count: 100_000).joined(separator: ",") + "]}"
        #expect(kind { try protect(rows) } == .tooLarge)
        // The budget counts what the parser stores: a mixed array's numbers count, an all-number
        // array's do not.
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array("[1, 2, 3, \"a\"]".utf8), maxValues: 4) }
        #expect(try JSONValue.parse(Array("[1, 2, 3, \"a\"]".utf8), maxValues: 5) != .null)
        #expect(try JSONValue.parse(Array("[[1, 2, 3, 4, 5, 6, 7, 8]]".utf8), maxValues: 2) == .array([.numbers([1, 2, 3, 4, 5, 6, 7, 8])]))
        do {
            _ = try JSONValue.parse(Array("[true, false, null]".utf8), maxValues: 3)
            Issue.record("accepted")
        } catch let error as JSONParseError {
            #expect(error.valueBudgetExceeded && error.description.contains("more than 3 values"), "\(error)")
        }
        // Every parameter of a full request fits beside its inputs.
        let full = #"{"input": ["a","b","c","d","e","f","g","h"], "model": "m", "encoding_format": "float", "user": "u", "input_type": "query"}"#
        #expect(try embeddings(full).texts.count == 8)
    }

    @Test func errorBodyHasTheOpenAIShape() throws {
        let body = try JSONValue.parse(GatewayError(.invalidKey, "no \"key\"").jsonBody)
        #expect(body["error"]?["message"] == .string("no \"key\""))
        #expect(body["error"]?["type"] == .string("invalid_request_error"))
        #expect(body["error"]?["code"] == .string("invalid_api_key"))
    }
}

@Suite struct APIKeyTests {
    @Test func generatedKeysParseAndMatchTheirHash() {
        let key = APIKey.generate()
        let parsed = APIKey(presented: key.text)
        #expect(parsed?.id == key.id)
        #expect(parsed?.matches(storedHash: key.hash) == true)
        #expect(APIKey.generate().id != key.id)
        #expect(!"\(key)".contains(key.text.suffix(64)))
    }

    @Test(arguments: ["", "b4b-", "sk-abc", "b4b-0123456789ab-xyz", "b4b-0123456789AB-" + String(repeating: "a", count: 64)])
    func malformedKeysAreRefused(_ text: String) {
        #expect(APIKey(presented: text) == nil)
    }

    @Test func aWrongSecretDoesNotMatch() {
        let key = APIKey.generate()
        let forged = APIKey(presented: "b4b-\(key.id)-" + String(repeating: "0", count: 64))!
        #expect(!forged.matches(storedHash: key.hash))
    }
}
