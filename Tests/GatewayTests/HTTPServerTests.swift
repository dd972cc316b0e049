import Defense
import Foundation
import NIOCore
import Synchronization
import Testing
import Gateway

/// The HTTP layer over real loopback sockets: limits, `Expect`, malformed requests, `HEAD`,
/// the idle timeout and the graceful shutdown.
@Suite struct HTTPServerTests {
    /// Counts the requests the handler saw.
    final class Counter: Sendable {
        private let n = Mutex(0)
        init() {}
        func increment() { n.withLock { $0 += 1 } }
        var value: Int { n.withLock { $0 } }
    }

    /// A server with a 1024-byte body limit answering 413 for too-large bodies, 200 with the
    /// body's length otherwise.
    func server(idleTimeout: TimeAmount = .seconds(60), maxConnections: Int = HTTPServer.defaultMaxConnections,
                minBodyBytesPerSecond: Int = HTTPServer.defaultMinBodyBytesPerSecond, seen: Counter = Counter(),
                gate: Gate? = nil, arrived: Gate? = nil) async throws -> HTTPServer {
        try await HTTPServer.start(host: "127.0.0.1", port: 0, maxBodyBytes: 1024, idleTimeout: idleTimeout,
                                   maxConnections: maxConnections, minBodyBytesPerSecond: minBodyBytesPerSecond) { request in
            seen.increment()
            if request.bodyTooLarge { return GatewayResponse(GatewayError(.tooLarge, "too large")) }
            if request.path == "/slow" {
                arrived?.open()
                await gate?.wait()
            }
            return GatewayResponse(status: 200, body: Array("{\"length\":\(request.body.count)}".utf8))
        }
    }

    @Test func aTooLargeContentLengthIsAnsweredBeforeTheBodyIsSent() async throws {
        let seen = Counter()
        let server = try await server(seen: seen)
        let port = server.localAddress.port!
        let response = try await blocking {
            let c = try RawHTTPConnection(port: port)
            try c.send("POST /v1/protect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
            // No body sent: the answer must come from the head alone.
            return try c.readResponse()
        }
        #expect(response?.status == 413)
        #expect(response?.headers["connection"] == "close")
        await server.close()
    }

    @Test("a request pipelined after a too-large one is never handled: the connection closes after the 413")
    func aRequestPipelinedAfterATooLargeOneIsDropped() async throws {
        let seen = Counter()
        let server = try await server(seen: seen)
        let port = server.localAddress.port!
        let (response, rest) = try await blocking { () -> (RawHTTPConnection.Response?, [UInt8]) in
            let c = try RawHTTPConnection(port: port)
            // A body over the limit, then at once a second, valid request on the same connection.
            let big = String(repeating: "a", count: 2000)
            try c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: \(big.count)\r\n\r\n\(big)"
                       + "POST /y HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            let response = try c.readResponse()
            return (response, try c.readUntilClosed())
        }
        #expect(response?.status == 413 && response?.headers["connection"] == "close")
        // Nothing after the 413 (the connection closed), and the handler saw only the first.
        #expect(rest.isEmpty, "\(String(decoding: rest, as: UTF8.self))")
        #expect(seen.value == 1)
        await server.close()
    }

    @Test("connections beyond maxConnections are closed on accept, and a freed place is taken again")
    func connectionsBeyondTheLimitAreClosed() async throws {
        let seen = Counter()
        let server = try await server(maxConnections: 2, seen: seen)
        let port = server.localAddress.port!
        let (third, later) = try await blocking { () -> ([UInt8], RawHTTPConnection.Response?) in
            let first = try RawHTTPConnection(port: port)
            let second = try RawHTTPConnection(port: port)
            // Both held (a request answered on each proves they were accepted before the third).
            for c in [first, second] {
                try c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try c.readResponse()
            }
            let extra = try RawHTTPConnection(port: port)
            _ = try extra.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            let third = try extra.readUntilClosed()
            first.closeConnection()
            // Once the server has seen the first one close, a new connection is served.
            var later: RawHTTPConnection.Response?
            for _ in 0 ..< 200 where later == nil {
                let c = try RawHTTPConnection(port: port)
                if (try? c.send(Array("GET /c HTTP/1.1\r\nHost: x\r\n\r\n".utf8))) == true { later = try? c.readResponse() }
                if later == nil { Thread.sleep(forTimeInterval: 0.05) }
            }
            return (third, later)
        }
        #expect(third.isEmpty, "the connection beyond the limit was answered: \(String(decoding: third, as: UTF8.self))")
        #expect(later?.status == 200)
        #expect(seen.value == 3)
        await server.close()
    }

    @Test("a request head trickled byte by byte is cut off at the idle timeout, first or after an answer")
    func aTrickledHeadIsCutOff() async throws {
        let server = try await server(idleTimeout: .milliseconds(500))
        let port = server.localAddress.port!
        for answeredFirst in [false, true] {
            let closed = try await blocking { () -> Bool in
                let c = try RawHTTPConnection(port: port)
                if answeredFirst {
                    try c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
                    _ = try c.readResponse()
                }
                // One byte every 0.1 s (the idle timeout never passes between two) for 4 s,
                // eight times the timeout: the head never completes.
                let head = Array("GET /b HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 40)
                // A send fails once the server has closed (the first after the close draws a
                // reset, the next fails): that must happen while the head is still trickling.
                for byte in head {
                    guard (try? c.send([byte])) == true else { return true }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                return false
            }
            #expect(closed, "answered first: \(answeredFirst)")
        }
        await server.close()
    }

    /// Sends a request whose `count`-byte body goes out `step` bytes at a time, 0.1 s apart,
    /// and returns the answer, or nil if the connection closed without one. Stops sending as
    /// soon as the server answers or closes.
    func trickleBody(port: Int, count: Int, step: Int) async throws -> RawHTTPConnection.Response? {
        try await blocking {
            let c = try RawHTTPConnection(port: port)
            try c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: \(count)\r\n\r\n")
            var sent = 0
            while sent < count {
                let n = min(step, count - sent)
                guard try c.send([UInt8](repeating: UInt8(ascii: "a"), count: n)) else { break }
                sent += n
                if c.waitReadable(seconds: 0.1) { break }
            }
            return try c.readResponse()
        }
    }

    @Test("a body trickled slower than minBodyBytesPerSecond is answered 408 once the grace has passed")
    func aTrickledBodyIsCutOff() async throws {
        // Idle timeout 0.5 s (never reached between two sends), at least 100 bytes per second
        // after it: a byte per 0.1 s falls behind soon after the grace.
        let seen = Counter()
        let strict = try await server(idleTimeout: .milliseconds(500), minBodyBytesPerSecond: 100, seen: seen)
        let slow = try await trickleBody(port: strict.localAddress.port!, count: 40, step: 1)
        #expect(slow?.status == 408, "\(String(describing: slow?.status))")
        #expect(slow?.errorMessage?.contains("slower than 100 bytes per second") == true, "\(slow?.errorMessage ?? "no message")")
        #expect(slow?.headers["connection"] == "close")
        // A body at ten times the rate is received whole and handled.
        let quick = try await trickleBody(port: strict.localAddress.port!, count: 1000, step: 100)
        #expect(quick?.status == 200 && quick?.json?["length"] == .number(1000), "\(String(describing: quick?.status))")
        #expect(seen.value == 1)
        await strict.close()
        // With the check off, the same trickle is received whole (4 s, eight idle timeouts).
        let lenient = try await server(idleTimeout: .milliseconds(500), minBodyBytesPerSecond: 0)
        let whole = try await trickleBody(port: lenient.localAddress.port!, count: 40, step: 1)
        #expect(whole?.status == 200 && whole?.json?["length"] == .number(40), "\(String(describing: whole?.status))")
        await lenient.close()
    }

    @Test func aBodyFarAboveTheLimitStillGetsItsAnswer() async throws {
        let server = try await server()
        let port = server.localAddress.port!
        // 16 times the limit and more: the server used to cut the connection before answering.
        let (response, delivered) = try await blocking { () -> (RawHTTPConnection.Response?, Bool) in
            let c = try RawHTTPConnection(port: port)
            try c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n")
            let response = try c.readResponse()
            let delivered = try c.send([UInt8](repeating: 32, count: 10_000))
            return (response, delivered)
        }
        #expect(response?.status == 413)
        _ = delivered
        await server.close()
    }

    @Test func aChunkedBodyIsAnsweredOnceItPassesTheLimit() async throws {
        let server = try await server()
        let port = server.localAddress.port!
        let response = try await blocking {
            let c = try RawHTTPConnection(port: port)
            let chunk = String(repeating: "a", count: 2000)
            // The body's end is never sent.
            try c.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\(String(chunk.count, radix: 16))\r\n\(chunk)\r\n")
            return try c.readResponse()
        }
        #expect(response?.status == 413)
        await server.close()
    }

    @Test func expectContinueIsAnswered() async throws {
        let seen = Counter()
        let server = try await server(seen: seen)
        let port = server.localAddress.port!
        let (interim, final) = try await blocking { () -> (RawHTTPConnection.Response?, RawHTTPConnection.Response?) in
            let c = try RawHTTPConnection(port: port)
            try c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            let interim = try c.readResponse()
            try c.send("hello")
            return (interim, try c.readResponse())
        }
        #expect(interim?.status == 100)
        #expect(final?.status == 200)
        #expect(final?.json?["length"] == .number(5))

        let (tooLarge, closed) = try await blocking { () -> (RawHTTPConnection.Response?, Bool) in
            let c = try RawHTTPConnection(port: port)
            try c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
            let r = try c.readResponse()
            // The client sends no body after a final answer: the server closes.
            _ = try c.readUntilClosed()
            return (r, true)
        }
        #expect(tooLarge?.status == 413)
        #expect(closed)

        let unknown = try await blocking {
            let c = try RawHTTPConnection(port: port)
            try c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\n")
            return try c.readResponse()
        }
        #expect(unknown?.status == 417)
        #expect(unknown?.errorMessage?.contains("something-else") == true)
        await server.close()
    }

    /// Malformed requests, by name (the arguments are shown in test reports).
    static let malformed: [String: (request: String, status: Int, says: String)] = [
        "garbage request line": ("GARBAGE\r\n\r\n", 400, "not valid HTTP/1.1"),
        "non-numeric Content-Length": ("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "Content-Length"),
        "Content-Length and chunked": ("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400,
                                       "Content-Length beside Transfer-Encoding"),
        "two Content-Lengths": ("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400,
                                "Content-Length is given twice with different values"),
        "a gzip transfer coding": ("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nab", 400, "other than chunked"),
        "HTTP/2's preface": ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "the gateway speaks HTTP/1.1"),
        "100 KB header": ("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n", 431, "too large"),
    ]

    @Test(arguments: malformed.keys.sorted())
    func malformedRequestsGetAnOpenAIErrorBody(_ name: String) async throws {
        let (request, status, says) = Self.malformed[name]!
        let server = try await server()
        let port = server.localAddress.port!
        let response = try await blocking {
            let c = try RawHTTPConnection(port: port)
            try c.send(request)
            return try c.readResponse()
        }
        #expect(response?.status == status)
        #expect(response?.errorMessage?.contains(says) == true, "body: \(String(decoding: response?.body ?? [], as: UTF8.self))")
        #expect(response?.headers["content-type"] == "application/json")
        await server.close()
    }

    @Test func headAnswersCarryHeadersWithoutBody() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let gateway = try await EmbeddingsGateway(configuration: smallConfiguration(store: "sqlite:\(path)"),
                                                  store: try SQLiteStore(path: path), logger: quietLogger)
        let server = try await HTTPServer.start(host: "127.0.0.1", port: 0, maxBodyBytes: 4096) { await gateway.handle($0) }
        let port = server.localAddress.port!
        let (head, get, wrong) = try await blocking { () -> (RawHTTPConnection.Response?, RawHTTPConnection.Response?, RawHTTPConnection.Response?) in
            let c = try RawHTTPConnection(port: port)
            try c.send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try c.readResponse(bodiless: true)
            // The next answer on the connection starts right after the HEAD answer's headers.
            try c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let get = try c.readResponse()
            try c.send("DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            return (head, get, try c.readResponse())
        }
        #expect(head?.status == 200)
        #expect(get?.status == 200)
        #expect(head?.headers["content-length"] == get?.headers["content-length"])
        #expect(get?.json?["status"] == .string("ok"))
        #expect(wrong?.status == 405)
        #expect(wrong?.headers["allow"] == "GET, HEAD")
        await server.close()
        await gateway.close()
    }

    @Test func silentConnectionsAreClosedAfterTheIdleTimeout() async throws {
        let gate = Gate(), arrived = Gate()
        let server = try await server(idleTimeout: .milliseconds(300), gate: gate, arrived: arrived)
        let port = server.localAddress.port!
        // A connection that sends nothing is closed.
        let silent = try await blocking { () -> Bool in
            let c = try RawHTTPConnection(port: port)
            return try c.readUntilClosed().isEmpty
        }
        #expect(silent)
        // A partly sent request is answered 408, then closed.
        let partial = try await blocking {
            let c = try RawHTTPConnection(port: port)
            try c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            return try c.readResponse()
        }
        #expect(partial?.status == 408)
        #expect(partial?.headers["connection"] == "close")
        // A request whose handler takes longer than the timeout is still answered.
        let slow = try RawHTTPConnection(port: port)
        try slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await arrived.wait()
        try await Task.sleep(for: .seconds(1))  // several idle periods pass while the handler works
        gate.open()
        let answer = try await blocking { try slow.readResponse() }
        #expect(answer?.status == 200)
        await server.close()
    }

    @Test func shutdownClosesIdleConnectionsAndFinishesRequestsInFlight() async throws {
        let gate = Gate(), arrived = Gate()
        let seen = Counter()
        let server = try await server(seen: seen, gate: gate, arrived: arrived)
        let port = server.localAddress.port!
        let idle = try RawHTTPConnection(port: port)
        let first = try await blocking {
            try idle.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            return try idle.readResponse()
        }
        #expect(first?.status == 200)
        let busy = try RawHTTPConnection(port: port)
        // A request in flight, and one pipelined behind it that must not be taken.
        try busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        await arrived.wait()

        let stopped = Task { await server.shutdown(gracePeriod: .seconds(60)) }
        // The idle keep-alive connection is closed without another answer.
        let leftover = try await blocking { try idle.readUntilClosed() }
        #expect(leftover.isEmpty)
        // The request in flight finishes; its answer says the connection closes; nothing more.
        gate.open()
        let (answer, rest) = try await blocking { () -> (RawHTTPConnection.Response?, [UInt8]) in
            (try busy.readResponse(), try busy.readUntilClosed())
        }
        #expect(answer?.status == 200)
        #expect(answer?.headers["connection"] == "close")
        #expect(rest.isEmpty)
        await stopped.value
        #expect(seen.value == 2)
        #expect(server.connectionCount == 0)
        #expect(throws: RawHTTPConnection.Failure.self) { try RawHTTPConnection(port: port) }
    }

    @Test func shutdownClosesAConnectionStalledInItsRequestAtOnce() async throws {
        let seen = Counter()
        let server = try await server(seen: seen)
        let port = server.localAddress.port!
        let stalled = try RawHTTPConnection(port: port)
        // The head and part of the body, then nothing: no handler is working on it.
        try stalled.send("POST /v1/protect HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"input\":")
        try await Task.sleep(for: .milliseconds(200))
        // The stop closes the stalled connection without waiting out its grace period: the
        // client sees the close while the stop is under way (without it, its read gives up
        // after 20 s, well inside the 30 s grace, and the test fails).
        let stopped = Task { await server.shutdown(gracePeriod: .seconds(30)) }
        _ = try await blocking { try stalled.readUntilClosed() }
        await stopped.value
        #expect(seen.value == 0)
        #expect(server.connectionCount == 0)
    }

    @Test func stoppingTheGatewayAnswersRequestsInFlightAndCommitsTheirCounts() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let gate = Gate(), arrived = Gate()
        let upstream = try await HTTPServer.start(host: "127.0.0.1", port: 0, maxBodyBytes: 1 << 20) { _ in
            arrived.open()
            await gate.wait()
            return GatewayResponse(status: 200, body: fakeEmbeddingsBody(count: 1))
        }
        var configuration = smallConfiguration(upstream: "http://127.0.0.1:\(upstream.localAddress.port!)/v1", store: "sqlite:\(path)")
        configuration.upstreamTimeoutSeconds = 60
        let store = try SQLiteStore(path: path)
        let gateway = try await EmbeddingsGateway(configuration: configuration, store: store, logger: quietLogger)
        let server = try await HTTPServer.start(host: "127.0.0.1", port: 0, maxBodyBytes: 1 << 16) { await gateway.handle($0) }
        let port = server.localAddress.port!
        let key = try await addKey(store)
        let protect = String(decoding: protectBody(rows: 2, dimension: 8, seed: 1), as: UTF8.self)

        let idle = try RawHTTPConnection(port: port)
        let first = try await blocking {
            try idle.send("POST /v1/protect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key.text)\r\nContent-Length: \(protect.utf8.count)\r\n\r\n\(protect)")
            return try idle.readResponse()
        }
        #expect(first?.status == 200)
        let busy = try RawHTTPConnection(port: port)
        let embed = #"{"input": "a"}"#
        try busy.send("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key.text)\r\nContent-Length: \(embed.utf8.count)\r\n\r\n\(embed)")
        await arrived.wait()

        let stopped = Task { await GatewayServer.stop(server: server, gateway: gateway, gracePeriod: .seconds(60), logger: quietLogger) }
        // No request is taken on the idle connection any more.
        let leftover = try await blocking { try idle.readUntilClosed() }
        #expect(leftover.isEmpty)
        gate.open()
        let answer = try await blocking { try busy.readResponse() }
        #expect(answer?.status == 200)
        await stopped.value
        await upstream.close()
        // Both requests' rows are in the store.
        let reopened = try SQLiteStore(path: path)
        let stored = try await reopened.occupancies()
        #expect(stored[key.id]?.queryCount == 3)
        await reopened.close()
    }
}
