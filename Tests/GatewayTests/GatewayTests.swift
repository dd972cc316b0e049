import Defense
import Foundation
import NumericKernels
import Synchronization
import Testing
import Gateway

@Suite struct EmbeddingsGatewayTests {
    @Test func protectAnswersPerAccountAndPersistsAcrossRestarts() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        let gateway = try await EmbeddingsGateway(configuration: smallConfiguration(store: "sqlite:\(path)"), store: store, logger: quietLogger)
        let alice = try await addKey(store), bob = try await addKey(store)
        let body = protectBody(rows: 4, dimension: 8, seed: 1)
        let a = await gateway.handle(post("/v1/protect", key: alice, body: body))
        let b = await gateway.handle(post("/v1/protect", key: bob, body: body))
        #expect(a.status == 200 && b.status == 200)
        let va = try JSONValue.parse(a.body)["data"], vb = try JSONValue.parse(b.body)["data"]
        #expect(va != nil && va != vb)  // per-account transforms
        let coverage = gateway.defense.coverage(of: alice.id)
        #expect(coverage > 0)
        // A repeated query adds no bucket, so it is priced as the account stands now.
        let repeated = await gateway.handle(post("/v1/protect", key: alice, body: body))
        // Its buckets were durable already: it was answered without waiting for a commit, and
        // its query count reaches the store at the latest when the gateway closes.
        let metrics = String(decoding: await gateway.handle(GatewayRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
        #expect(metrics.contains("b4b_protected_answers_total{commit=\"waited\"} 2"))
        #expect(metrics.contains("b4b_protected_answers_total{commit=\"deferred\"} 1"))
        await gateway.close()

        let store2 = try SQLiteStore(path: path)
        let restarted = try await EmbeddingsGateway(configuration: smallConfiguration(store: "sqlite:\(path)"), store: store2, logger: quietLogger)
        #expect(restarted.defense.coverage(of: alice.id) == coverage)
        #expect(restarted.defense.queryCount(of: alice.id) == 8)
        // Same secret, same transforms, same coverage: the repeated query gets the same answer.
        let again = await restarted.handle(post("/v1/protect", key: alice, body: body))
        #expect(try JSONValue.parse(again.body)["data"] == JSONValue.parse(repeated.body)["data"])
        await restarted.close()
    }

    @Test func badRequestsGetTheirStatusAndChangeNothing() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        let gateway = try await EmbeddingsGateway(configuration: smallConfiguration(store: "sqlite:\(path)"), store: store, logger: quietLogger)
        let key = try await addKey(store), revoked = try await addKey(store)
        #expect(await gateway.handle(post("/v1/protect", key: key, body: protectBody(rows: 2, dimension: 8, seed: 3))).status == 200)
        _ = try await store.revokeKey(id: revoked.id, at: Date())
        let before = gateway.defense.exportOccupancy(of: key.id)
        let nan = [Float](repeating: .nan, count: 8).withUnsafeBufferPointer { Data(buffer: $0).base64EncodedString() }
        let cases: [(GatewayRequest, Int)] = [
            (post("/v1/protect", key: nil, body: protectBody(rows: 1, dimension: 8, seed: 4)), 401),
            (post("/v1/protect", key: APIKey.generate(), body: protectBody(rows: 1, dimension: 8, seed: 4)), 401),
            (post("/v1/protect", key: revoked, body: protectBody(rows: 1, dimension: 8, seed: 4)), 401),
            (post("/v1/protect", key: key, body: Array("{\"input\": [[1,2".utf8)), 400),
            (post("/v1/protect", key: key, body: protectBody(rows: 1, dimension: 7, seed: 4)), 400),
            (post("/v1/protect", key: key, body: Array("{\"input\": [\"\(nan)\"]}".utf8)), 400),
            (post("/v1/protect", key: key, body: protectBody(rows: 17, dimension: 8, seed: 4)), 413),
            (GatewayRequest(method: "POST", path: "/v1/protect", authorization: "Bearer \(key.text)", bodyTooLarge: true), 413),
            (post("/v1/embeddings", key: key, body: Array("{\"input\": \"hi\"}".utf8)), 502),  // no upstream configured
            (GatewayRequest(method: "GET", path: "/v1/protect"), 405),
            (GatewayRequest(method: "GET", path: "/nope"), 404),
        ]
        for (request, status) in cases {
            let response = await gateway.handle(request)
            #expect(response.status == status, "\(request.method) \(request.path) answered \(response.status), expected \(status)")
            let error = try JSONValue.parse(response.body)["error"]
            #expect(error?["message"] != nil && error?["type"] != nil)
        }
        #expect(gateway.defense.exportOccupancy(of: key.id) == before)
        #expect(try await store.occupancies()[key.id]?.queryCount == 2)
        #expect(gateway.defense.users.count == 1)
        await gateway.close()
    }

    @Test func metricsAndHealth() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        let gateway = try await EmbeddingsGateway(configuration: smallConfiguration(store: "sqlite:\(path)"), store: store, logger: quietLogger)
        let key = try await addKey(store)
        _ = await gateway.handle(post("/v1/protect", key: key, body: protectBody(rows: 3, dimension: 8, seed: 5)))
        #expect(await gateway.handle(GatewayRequest(method: "GET", path: "/health")).status == 200)
        let text = String(decoding: await gateway.handle(GatewayRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
        #expect(text.contains("b4b_requests_total{route=\"/v1/protect\",status=\"200\"} 1"))
        #expect(text.contains("b4b_users_tracked 1"))
        #expect(text.contains("b4b_user_coverage_count 1"))
        #expect(text.contains("b4b_request_duration_seconds_bucket{route=\"/v1/protect\",le=\"+Inf\"} 1"))
        #expect(!text.contains(key.text))
        await gateway.close()
    }

    @Test func refusesStateRecordedUnderAnotherHasher() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        let gateway = try await EmbeddingsGateway(configuration: smallConfiguration(store: "sqlite:\(path)"), store: store, logger: quietLogger)
        let key = try await addKey(store)
        _ = await gateway.handle(post("/v1/protect", key: key, body: protectBody(rows: 3, dimension: 8, seed: 6)))
        await gateway.close()
        var changed = smallConfiguration(store: "sqlite:\(path)")
        changed.defense.hashBits = 7
        await #expect(throws: StoreError.self) {
            _ = try await EmbeddingsGateway(configuration: changed, store: try SQLiteStore(path: path), logger: quietLogger)
        }
    }
}

/// The gateway over real sockets, in front of an in-process fake upstream.
@Suite struct HTTPGatewayTests {
    enum UpstreamMode: Sendable { case good, garbage, slow, error }

    /// The fake upstream's current behaviour.
    final class ModeBox: Sendable {
        private let mode = Mutex(UpstreamMode.good)
        init() {}
        func set(_ m: UpstreamMode) { mode.withLock { $0 = m } }
        var value: UpstreamMode { mode.withLock { $0 } }
    }

    /// Starts a fake upstream whose behaviour is `mode` (dimension 8).
    func fakeUpstream(_ mode: ModeBox) async throws -> HTTPServer {
        try await HTTPServer.start(host: "127.0.0.1", port: 0, maxBodyBytes: 1 << 20) { request in
            let m = mode.value
            guard let document = try? JSONValue.parse(request.body), case .array(let inputs)? = document["input"] else {
                return GatewayResponse(status: 400, body: Array("{}".utf8))
            }
            switch m {
            case .garbage: return GatewayResponse(status: 200, body: Array("{\"data\": 12}".utf8))
            case .error: return GatewayResponse(status: 500, body: Array("{\"error\": \"boom\"}".utf8))
            case .slow: try? await Task.sleep(for: .seconds(3))
            case .good: break
            }
            var w = JSONWriter()
            w.raw("{\"object\":\"list\",\"data\":[")
            for (i, input) in inputs.enumerated() {
                if i > 0 { w.raw(",") }
                guard case .string(let text) = input else { continue }
                let v = (0..<8).map { j in Float(sin(Double(text.hashValue % 1000 + j))) }
                w.raw("{\"object\":\"embedding\",\"index\":\(i),\"embedding\":")
                v.withUnsafeBufferPointer { w.floats($0) }
                w.raw("}")
            }
            w.raw("],\"model\":\"fake\",\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}")
            return GatewayResponse(status: 200, body: w.bytes)
        }
    }

    func call(_ port: Int, _ path: String, key: APIKey?, body: String) async throws -> (Int, JSONValue?) {
        let client = UpstreamClient(host: "127.0.0.1", port: port, path: path, timeout: 10)
        let (status, data) = try await client.exchange(Array(body.utf8), headers: key.map { [("authorization", "Bearer \($0.text)")] } ?? [])
        return (status, try? JSONValue.parse(data))
    }

    @Test func embeddingsThroughARealUpstream() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let mode = ModeBox()
        let upstream = try await fakeUpstream(mode)
        let store = try SQLiteStore(path: path)
        let configuration = smallConfiguration(upstream: "http://127.0.0.1:\(upstream.localAddress.port!)/v1", store: "sqlite:\(path)")
        let gateway = try await EmbeddingsGateway(configuration: configuration, store: store, logger: quietLogger)
        let server = try await HTTPServer.start(host: "127.0.0.1", port: 0, maxBodyBytes: 4096,
                                                observe: { gateway.record($0) }) { await gateway.handle($0) }
        let port = server.localAddress.port!
        let key = try await addKey(store)

        let (ok, answer) = try await call(port, "/v1/embeddings", key: key, body: #"{"input": ["a", "b"], "model": "fake"}"#)
        #expect(ok == 200)
        let data: JSONValue? = answer?["data"]
        guard case .array(let items)? = data else { Issue.record("no data"); return }
        #expect(items.count == 2)
        let tokens: JSONValue? = answer?["usage"]?["prompt_tokens"]
        #expect(tokens == JSONValue.number(3))
        let (b64, answer64) = try await call(port, "/v1/embeddings", key: key, body: #"{"input": "a", "encoding_format": "base64"}"#)
        #expect(b64 == 200)
        let data64: JSONValue? = answer64?["data"]
        guard case .array(let items64)? = data64, case .string? = items64.first?["embedding"] else { Issue.record("no base64"); return }
        let queries = gateway.defense.queryCount(of: key.id)

        // Clients learn the kind of upstream failure, never its details (address, body).
        func failure(_ expected: Int, _ message: String) async throws {
            let (status, answer) = try await call(port, "/v1/embeddings", key: key, body: #"{"input": "a"}"#)
            #expect(status == expected)
            #expect(answer?["error"]?["message"] == .string(message))
        }
        mode.set(.garbage)
        try await failure(502, "the upstream embeddings service answered with an unusable body")
        mode.set(.error)
        try await failure(502, "the upstream embeddings service answered with an error (status 500)")
        mode.set(.slow)
        try await failure(504, "the upstream embeddings service timed out (no answer within 1.0 s)")
        await upstream.close()
        try await failure(502, "the upstream embeddings service is unreachable")
        #expect(try await call(port, "/v1/embeddings", key: key, body: #"{"input": "a", "dimensions": 3}"#).0 == 400)
        #expect(try await call(port, "/v1/embeddings", key: key, body: String(repeating: " ", count: 5000) + "{}").0 == 413)
        #expect(gateway.defense.queryCount(of: key.id) == queries)
        // Every answer written was timed in process, by route: 8 calls to /v1/embeddings (the
        // timing is recorded once the write completes, which may trail the client's read a little).
        var text = ""
        for _ in 0..<100 {
            text = String(decoding: await gateway.handle(GatewayRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
            if text.contains("b4b_http_request_duration_seconds_count{route=\"/v1/embeddings\"} 8") { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(text.contains("b4b_http_request_duration_seconds_count{route=\"/v1/embeddings\"} 8"))
        #expect(!text.contains("b4b_http_request_duration_seconds_count{route=\"other\"}"))

        // Answers the HTTP layer gives without the handler are counted by status too: a failed
        // expectation (417) and a request that is not HTTP (400).
        _ = try await blocking {
            let expect = try RawHTTPConnection(port: port)
            try expect.send("POST /v1/protect HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 2\r\n\r\n")
            _ = try expect.readResponse()
            let garbage = try RawHTTPConnection(port: port)
            try garbage.send("NOT HTTP AT ALL\r\n\r\n")
            _ = try garbage.readResponse()
        }
        for _ in 0..<100 {
            text = String(decoding: await gateway.handle(GatewayRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
            if text.contains("b4b_requests_total{route=\"/v1/protect\",status=\"417\"} 1")
                && text.contains("b4b_requests_total{route=\"other\",status=\"400\"} 1") { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(text.contains("b4b_requests_total{route=\"/v1/protect\",status=\"417\"} 1"), "\(text)")
        #expect(text.contains("b4b_requests_total{route=\"other\",status=\"400\"} 1"), "\(text)")
        await server.close()
        await gateway.close()
    }
}

