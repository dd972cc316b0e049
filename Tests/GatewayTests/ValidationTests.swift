import Defense
import Foundation
import Testing
import Gateway

/// The message of the error `body` throws (nil when it throws none).
private func message(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch { return "\(error)" }
}

@Suite struct GatewayConfigurationTests {
    func decode(_ json: String) throws -> GatewayConfiguration {
        try GatewayConfiguration.decode(from: Data(json.utf8))
    }

    static let numericFields = ["port", "upstreamTimeoutSeconds", "maxInputs", "maxBodyBytes", "keyCacheSeconds",
                                "idleTimeoutSeconds", "maxConnections", "minBodyBytesPerSecond", "shutdownGraceSeconds",
                                "queryFlushMilliseconds"]

    func value(_ c: GatewayConfiguration, _ field: String) -> Double {
        switch field {
        case "port": Double(c.port)
        case "upstreamTimeoutSeconds": c.upstreamTimeoutSeconds
        case "maxInputs": Double(c.maxInputs)
        case "maxBodyBytes": Double(c.maxBodyBytes)
        case "keyCacheSeconds": c.keyCacheSeconds
        case "idleTimeoutSeconds": c.idleTimeoutSeconds
        case "maxConnections": Double(c.maxConnections)
        case "minBodyBytesPerSecond": Double(c.minBodyBytesPerSecond)
        case "shutdownGraceSeconds": c.shutdownGraceSeconds
        default: Double(c.queryFlushMilliseconds)
        }
    }

    @Test(arguments: numericFields)
    func zeroAndOneAreNumbers(_ field: String) throws {
        for text in ["0", "1", "0.0", "1.0"] {
            let c = try decode("{\"\(field)\": \(text)}")
            #expect(value(c, field) == Double(text)!, "\(field): \(text)")
            // Out of range values are refused for their range, never as "not a number".
            if let m = message({ _ = try c.validated() }) {
                #expect(m.contains(field) && !m.contains("must be a number"), "\(m)")
            }
        }
        #expect(message { _ = try decode("{\"\(field)\": true}") }?.contains("'\(field)' must be a number") == true)
    }

    @Test("a defense section is read or refused, never dropped for the defaults")
    func theDefenseSectionIsNeverDropped() throws {
        // A number beyond a double's range used to make the section vanish without a word.
        let huge = message { _ = try decode(#"{"defense": {"dimension": 384, "hashBits": 1e400}}"#) }
        #expect(huge?.contains("'defense' holds a number beyond the range of a double") == true, "\(huge ?? "accepted")")
        let notObject = message { _ = try decode(#"{"defense": [1, 2]}"#) }
        #expect(notObject?.contains("'defense' must be a JSON object, got an array") == true, "\(notObject ?? "accepted")")
        let read = try decode(#"{"defense": {"dimension": 384, "hashBits": 10}}"#)
        #expect(read.defense.dimension == 384 && read.defense.hashBits == 10)
        #expect(try decode(#"{"defense": null}"#).defense.dimension == GatewayConfiguration().defense.dimension)
    }

    @Test("maxConnections is bounded, and lowered to what the file descriptor limit leaves room for")
    func connectionsAreBoundedByDescriptors() throws {
        #expect(message { _ = try decode(#"{"maxConnections": 0}"#).validated() }?.contains("maxConnections must be in 1...1000000") == true)
        #expect(message { _ = try decode(#"{"maxConnections": 2000000}"#).validated() }?.contains("maxConnections must be in 1...1000000") == true)
        #expect(try decode(#"{"maxConnections": 100}"#).validated().maxConnections == 100)
        let reserved = GatewayServer.reservedDescriptors
        #expect(GatewayServer.connectionLimit(4096, descriptorLimit: nil) == 4096)
        #expect(GatewayServer.connectionLimit(4096, descriptorLimit: 1024) == 1024 - reserved)
        #expect(GatewayServer.connectionLimit(100, descriptorLimit: 1024) == 100)
        #expect(GatewayServer.connectionLimit(100, descriptorLimit: 10) == 1)
    }

    @Test func theSlowestBodyRateIsBounded() throws {
        #expect(GatewayConfiguration().minBodyBytesPerSecond == HTTPServer.defaultMinBodyBytesPerSecond)
        #expect(try decode(#"{"minBodyBytesPerSecond": 0}"#).validated().minBodyBytesPerSecond == 0)
        #expect(message { _ = try decode(#"{"minBodyBytesPerSecond": -1}"#).validated() }?
            .contains("minBodyBytesPerSecond must be in 0...1073741824, got -1") == true)
        #expect(message { _ = try decode(#"{"minBodyBytesPerSecond": 2e9}"#).validated() }?
            .contains("minBodyBytesPerSecond must be in 0...1073741824, got 2000000000") == true)
    }

    @Test func upstreamModelsWithControlCharactersAreRefused() throws {
        let m = message { _ = try decode(#"{"upstreamModel": "e5\nlisten on http://evil"}"#).validated() }
        #expect(m?.contains("upstreamModel must not contain control characters (found U+000A)") == true, "\(m ?? "accepted")")
        #expect(try decode(#"{"upstreamModel": "intfloat/e5-large-v2"}"#).validated().upstreamModel == "intfloat/e5-large-v2")
    }

    @Test func durationsAreBounded() throws {
        for (field, value) in [("keyCacheSeconds", "1e10"), ("keyCacheSeconds", "1e12"), ("upstreamTimeoutSeconds", "1e10"),
                               ("idleTimeoutSeconds", "1e10"), ("shutdownGraceSeconds", "1e10"), ("shutdownGraceSeconds", "-1")] {
            let c = try decode("{\"\(field)\": \(value)}")
            let m = message { _ = try c.validated() }
            #expect(m?.contains(field) == true && m?.contains("86400") == true, "\(m ?? "accepted")")
        }
        // The cache itself never traps on a huge duration (it used to, converting to nanoseconds).
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        _ = KeyCache(store: try SQLiteStore(path: path), ttlSeconds: 1e10)
    }

    @Test(arguments: ["http://127.0.0.1:99999/v1", "http://127.0.0.1:0/v1", "https://example.com/v1", "http:///v1",
                      "http://u:p@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1?x=1", "ftp://127.0.0.1/v1"])
    func malformedUpstreamsAreRefused(_ url: String) throws {
        var c = GatewayConfiguration()
        c.upstream = url
        let m = message { _ = try c.validated() }
        #expect(m?.contains("upstream") == true, "\(url): \(m ?? "accepted")")
    }

    @Test func timeoutsHaveALowerBound() throws {
        for (field, value) in [("idleTimeoutSeconds", "1e-10"), ("idleTimeoutSeconds", "1e-300"), ("idleTimeoutSeconds", "0.09"),
                               ("upstreamTimeoutSeconds", "1e-300"), ("upstreamTimeoutSeconds", "0.0009")] {
            let c = try decode("{\"\(field)\": \(value)}")
            let m = message { _ = try c.validated() }
            #expect(m?.contains(field) == true && m?.contains("must be in") == true, "\(field) \(value): \(m ?? "accepted")")
        }
        #expect(message { _ = try decode(#"{"idleTimeoutSeconds": 0.1, "upstreamTimeoutSeconds": 0.001}"#).validated() } == nil)
        #expect(message { _ = try decode(#"{"idleTimeoutSeconds": 1e-10}"#).validated() }?.contains("0.1...86400") == true)
    }

    @Test func countsHaveUpperBounds() throws {
        // Integers too large for Int are out of range, not "not an integer".
        for (field, range) in [("maxInputs", "1...65536"), ("maxBodyBytes", "1024...1073741824"), ("port", "0...65535")] {
            let m = message { _ = try decode("{\"\(field)\": 9223372036854775807}") }
            #expect(m?.contains("'\(field)' must be in \(range)") == true && m?.contains("integer") == false, "\(m ?? "accepted")")
        }
        for (field, value, range) in [("maxInputs", "65537", "1...65536"), ("maxBodyBytes", "1073741825", "1024...1073741824")] {
            let m = message { _ = try decode("{\"\(field)\": \(value)}").validated() }
            #expect(m?.contains("\(field) must be in \(range), got \(value)") == true, "\(m ?? "accepted")")
        }
        #expect(message { _ = try decode(#"{"maxInputs": 65536, "maxBodyBytes": 1073741824}"#).validated() } == nil)
        #expect(message { _ = try decode(#"{"maxInputs": 2.5}"#) }?.contains("must be an integer") == true)
    }

    @Test(arguments: ["99999999999999999999", "18446744073709551617", "9223372036854775808", "65536", "0"])
    func upstreamPortsBeyondIntAreRefused(_ port: String) {
        var c = GatewayConfiguration()
        c.upstream = "http://127.0.0.1:\(port)/v1"
        let m = message { _ = try c.validated() }
        #expect(m?.contains("has port \(port), outside 1...65535") == true, "\(m ?? "accepted")")
    }

    @Test func upstreamPortsInRangeAreKept() throws {
        #expect(try UpstreamClient(baseURL: "http://127.0.0.1:65535/v1", timeout: 1).port == 65535)
        #expect(try UpstreamClient(baseURL: "http://127.0.0.1/v1", timeout: 1).port == 80)
    }

    @Test func upstreamPortOutOfRangeNamesThePort() {
        var c = GatewayConfiguration()
        c.upstream = "http://127.0.0.1:99999/v1"
        #expect(message { _ = try c.validated() }?.contains("99999") == true)
    }

    @Test func unknownStoreSchemesAreRefused() {
        var c = GatewayConfiguration()
        c.store = "mysql://x"
        let m = message { _ = try c.validated() }
        #expect(m?.contains("mysql") == true && m?.contains("postgres://") == true, "\(m ?? "accepted")")
        #expect(message { _ = try StoreLocation.open("mysql://u:secret@x/db") }?.contains("secret") == false)
    }

    @Test func postgresLocationsNeedADatabase() {
        for url in ["postgres://u:pw@host", "postgres://u@host/"] {
            let m = message { _ = try StoreLocation.open(url) }
            #expect(m?.contains("names no database") == true && m?.contains("pw") == false, "\(url): \(m ?? "accepted")")
        }
    }

    @Test func duplicateKeysAreRefused() {
        #expect(message { _ = try decode(#"{"port": 1, "port": 2}"#) }?.contains("duplicate key 'port'") == true)
    }
}

@Suite struct RequestValidationTests {
    func embeddings(_ json: String, outputDimension: Int = 8) throws -> EmbeddingsRequest {
        try Array(json.utf8).withUnsafeBytes { try EmbeddingsRequest(body: $0, maxInputs: 8, outputDimension: outputDimension) }
    }

    func protect(_ json: String, dimension: Int = 3) throws -> ProtectRequest {
        try Array(json.utf8).withUnsafeBytes { try ProtectRequest(body: $0, dimension: dimension, maxInputs: 8) }
    }

    func error(_ body: () throws -> Any) -> GatewayError? {
        do { _ = try body(); return nil } catch let e as GatewayError { return e } catch { return nil }
    }

    @Test func dimensionsMustBeTheServedSize() throws {
        #expect(try embeddings(#"{"input": "a", "dimensions": 8}"#).texts == ["a"])
        for body in [#"{"input": "a", "dimensions": 3}"#, #"{"input": "a", "dimensions": "x"}"#, #"{"input": "a", "dimensions": 2.5}"#] {
            let e = error { try embeddings(body) }
            #expect(e?.kind == .malformedRequest && e?.param == "dimensions", "\(body)")
        }
        #expect(error { try embeddings(#"{"input": "a", "dimensions": 3}"#) }?.message.contains("8") == true)
    }

    @Test func inputTypeMustBeAString() throws {
        #expect(try embeddings(#"{"input": "a", "input_type": "query"}"#).inputType == "query")
        let e = error { try embeddings(#"{"input": "a", "input_type": 5}"#) }
        #expect(e?.kind == .malformedRequest && e?.param == "input_type")
    }

    @Test func errorsNameTheirParameter() throws {
        #expect(error { try embeddings(#"{"model": "m"}"#) }?.param == "input")
        #expect(error { try embeddings(#"{"input": "a", "model": 3}"#) }?.param == "model")
        #expect(error { try embeddings(#"{"input": "a", "encoding_format": "x"}"#) }?.param == "encoding_format")
        let e = try #require(error { try embeddings(#"{"input": ["a", 3]}"#) })
        #expect(e.param == "input[1]")
        let body = try JSONValue.parse(e.jsonBody)
        #expect(body["error"]?["param"] == .string("input[1]"))
        #expect(try JSONValue.parse(GatewayError(.invalidKey, "x").jsonBody)["error"]?["param"] == .null)
    }

    @Test func wrongElementsOfAVectorAreNamed() {
        let mixed = error { try protect(#"{"input": [[1, "a", 3]]}"#) }
        #expect(mixed?.param == "input[0][1]" && mixed?.message.contains("a string") == true, "\(mixed?.message ?? "")")
        let boolean = error { try protect(#"{"input": [[1, 2, 3], [true]]}"#) }
        #expect(boolean?.param == "input[1][0]" && boolean?.message.contains("a boolean") == true, "\(boolean?.message ?? "")")
    }

    @Test func valuesBeyondFloat32AreOutOfRangeNotInfinite() {
        let e = error { try protect(#"{"input": [[1, 2, 1e39]]}"#) }
        #expect(e?.kind == .invalidVectors && e?.param == "input[0][2]")
        #expect(e?.message.contains("float32 range") == true && e?.message.contains("non-finite") == false, "\(e?.message ?? "")")
    }
}

@Suite struct JSONStrictnessTests {
    func parseError(_ bytes: [UInt8]) -> JSONParseError? {
        do { _ = try JSONValue.parse(bytes); return nil } catch let e as JSONParseError { return e } catch { return nil }
    }

    @Test func duplicateKeysAreRefused() {
        let e = parseError(Array(#"{"input": "a", "input": "b"}"#.utf8))
        #expect(e?.message == "duplicate key 'input'")
        #expect(e?.offset == 15)
    }

    @Test func aByteOrderMarkIsRefusedByName() {
        let e = parseError([0xEF, 0xBB, 0xBF] + Array(#"{"input": "a"}"#.utf8))
        #expect(e?.message == "a byte-order mark is not allowed" && e?.offset == 0)
    }

    @Test func offsetsPointAtTheBadByte() {
        // `"ab<U+0001>c"`: the control character is byte 3.
        #expect(parseError([0x22, 0x61, 0x62, 0x01, 0x63, 0x22])?.offset == 3)
        // `"a<0xFF>b"`: the invalid UTF-8 byte is byte 2.
        #expect(parseError([0x22, 0x61, 0xFF, 0x62, 0x22])?.offset == 2)
        // The same after an escape (the slow path).
        #expect(parseError([0x22, 0x5C, 0x6E, 0xFF, 0x62, 0x22])?.offset == 3)
        #expect(parseError([0x22, 0x5C, 0x6E, 0x01, 0x22])?.offset == 3)
    }
}
