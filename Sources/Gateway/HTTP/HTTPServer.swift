import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A request as the gateway's routes see it: the whole body already read.
public struct GatewayRequest: Sendable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The path, without the query string.
    public var path: String
    /// The `Authorization` header, if any.
    public var authorization: String?
    /// The body (empty for none).
    public var body: [UInt8]
    /// Whether the body went over the size limit (then ``body`` is empty).
    public var bodyTooLarge: Bool

    public init(method: String, path: String, authorization: String? = nil, body: [UInt8] = [], bodyTooLarge: Bool = false) {
        self.method = method
        self.path = path
        self.authorization = authorization
        self.body = body
        self.bodyTooLarge = bodyTooLarge
    }
}

/// An answer: status, content type, body and extra headers.
public struct GatewayResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var headers: [(String, String)]

    public init(status: Int, contentType: String = "application/json", body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// The OpenAI-shaped error answer for `error`.
    public init(_ error: GatewayError) {
        self.init(status: error.kind.status, body: error.jsonBody)
    }
}

/// A minimal HTTP/1.1 server on SwiftNIO: keep-alive, pipelining (answers in order), bodies
/// collected up to a limit, each request handed to an async handler.
///
/// Where the handler runs: a request whose body is at most ``inlineBodyBytes`` (a typical
/// embeddings or protect call: 16 vectors of 384 floats are 33 KB in base64) runs in a task
/// whose executor is the event loop that read it, so it is parsed, protected and answered on
/// that thread with no thread switch (about 0.1 ms less per request at the median on the
/// project's 2-core machine, and a shorter tail). Larger bodies, whose protection can take
/// milliseconds, run on Swift's global pool so that they do not hold up the loop's other
/// connections. Handlers must not block their thread for long: the gateway's waits (store
/// commits, the upstream) are asynchronous and its fsyncs run on the global pool.
///
/// HTTP details:
/// - A body above `maxBodyBytes` is answered as soon as it is known to be too large (from its
///   `Content-Length` before any of it is read, or once a chunked body passes the limit) by
///   handing the handler a request with ``GatewayRequest/bodyTooLarge`` set; the connection is
///   then closed once the body has been received (read and dropped, up to 16 times the limit,
///   beyond which the connection is cut off) so that the client reads the answer rather than a
///   reset.
/// - `Expect: 100-continue` is answered `100 Continue` when the declared body fits, and with the
///   final answer (413) at once when it does not; any other expectation is answered 417.
/// - Requests that are not valid HTTP/1.1 are answered 400 (431 for a head too large) in the
///   OpenAI error shape, and the connection is closed.
/// - `HEAD` requests get the headers their `GET` would get, without the body.
/// - A connection silent for `idleTimeout` while the server waits for it (between requests, or
///   within a request's head or body) is closed, a partly received request first answered 408;
///   a connection whose request is being handled is never timed out. A request's head must
///   also arrive whole within `idleTimeout` of the connection's start or of the previous
///   answer, however its bytes trickle in (else the connection is closed): a client sending a
///   byte now and then cannot hold a connection open forever.
/// - A request's body, likewise, must keep arriving at `minBodyBytesPerSecond` on average,
///   counted from `idleTimeout` after its head (a grace for the first bytes): a body that falls
///   behind is answered 408 and the connection closed (a body being dropped after an early
///   answer is cut off). So a client sending a byte just within each idle timeout holds a
///   connection for at most about its body's size over this rate, not its size times the idle
///   timeout. 0 turns the check off.
/// - At most `maxConnections` connections are open at once; one accepted beyond that is closed
///   at once (so that the process never runs out of file descriptors, which would leave its
///   accept loop spinning on the error).
/// - ``shutdown(gracePeriod:)`` stops accepting, closes idle connections, lets requests in
///   flight finish (their answers carry `Connection: close`) and takes no further request.
public final class HTTPServer: Sendable {
    private let channel: any Channel
    private let connections: ConnectionRegistry
    /// The address the server listens on (its port is the real one when 0 was asked).
    public let localAddress: SocketAddress
    /// Requests with bodies up to this many bytes are handled on their event loop (see above).
    public static let inlineBodyBytes = 128 << 10
    /// The default ``start(host:port:maxBodyBytes:idleTimeout:maxConnections:group:observe:handler:)`` idle timeout.
    public static let defaultIdleTimeout = TimeAmount.seconds(60)
    /// The default most open connections.
    public static let defaultMaxConnections = 4096
    /// The default slowest average rate (bytes per second) at which a request's body may
    /// arrive: 1024 (8 kbit/s, far below any real client's upload).
    public static let defaultMinBodyBytesPerSecond = 1024

    /// One answer written, for the server's observer.
    public struct Answered: Sendable {
        /// The request's path (`/` for a request too malformed to have one).
        public let path: String
        /// The answer's status.
        public let status: Int
        /// Seconds from reading the request's head to handing the whole answer to the socket.
        public let seconds: Double
        /// Whether the handler answered (false: the HTTP layer did, for a request that never
        /// reached it: a malformed or timed-out request, a failed expectation).
        public let byHandler: Bool
    }

    /// Binds and starts serving.
    /// - Parameters:
    ///   - maxBodyBytes: larger bodies reach `handler` as a request with
    ///     ``GatewayRequest/bodyTooLarge`` set and an empty body (see above).
    ///   - idleTimeout: how long a connection may stay silent while the server waits for it,
    ///     and the longest a request's head may take to arrive.
    ///   - maxConnections: the most connections open at once (more are closed on accept).
    ///   - minBodyBytesPerSecond: the slowest average rate, in bytes per second from
    ///     `idleTimeout` after a request's head, at which its body may arrive (see above); 0
    ///     turns the check off.
    ///   - observe: called after each answer is written (``Answered``: the request's path, the
    ///     status, whether the handler gave it, and the
    ///     seconds from reading its head to handing the whole answer to the socket (the time the
    ///     request spent in this process).
    ///   - handler: answers one request; must not throw (errors are answers).
    public static func start(host: String, port: Int, maxBodyBytes: Int, idleTimeout: TimeAmount = defaultIdleTimeout,
                             maxConnections: Int = defaultMaxConnections,
                             minBodyBytesPerSecond: Int = defaultMinBodyBytesPerSecond,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                             observe: @escaping @Sendable (Answered) -> Void = { _ in },
                             handler: @escaping @Sendable (GatewayRequest) async -> GatewayResponse) async throws -> HTTPServer {
        precondition(maxConnections >= 1, "HTTPServer.start: maxConnections must be at least 1")
        precondition(minBodyBytesPerSecond >= 0, "HTTPServer.start: minBodyBytesPerSecond must not be negative")
        let connections = ConnectionRegistry(limit: maxConnections)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                // A connection accepted while shutting down, or beyond the limit, is closed at once.
                guard connections.add(channel) else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    // Parse errors are answered by RequestHandler, in the OpenAI error shape.
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: false)
                    try pipeline.addHandler(RequestHandler(maxBodyBytes: maxBodyBytes, headTimeout: idleTimeout,
                                                             minBodyBytesPerSecond: minBodyBytesPerSecond,
                                                             observe: observe, handler: handler))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        guard let address = channel.localAddress else { throw StoreError("server channel has no local address") }
        return HTTPServer(channel: channel, connections: connections, localAddress: address)
    }

    private init(channel: any Channel, connections: ConnectionRegistry, localAddress: SocketAddress) {
        self.channel = channel
        self.connections = connections
        self.localAddress = localAddress
    }

    /// Stops at once: stops accepting and closes every connection (requests in flight get no
    /// answer). See ``shutdown(gracePeriod:)`` for a graceful stop.
    public func close() async {
        await shutdown(gracePeriod: .zero)
    }

    /// Stops gracefully: stops accepting connections, closes idle ones, and lets each request
    /// already received finish (its answer carries `Connection: close`; requests pipelined
    /// after it are dropped unanswered). Returns when every connection is closed, closing those
    /// still open after `gracePeriod`.
    public func shutdown(gracePeriod: Duration) async {
        let open = connections.startDraining()
        try? await channel.close()
        for connection in open {
            // HTTPServerPipelineHandler closes an idle connection at once, and a busy one after
            // the answer to the request it is reading or handling.
            connection.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            // A connection still sending its request (a head, perhaps part of a body) has no
            // request in flight: waiting for a client that stalls would hold the stop for the
            // whole grace period. It is closed now (after the event above, on its loop).
            connection.eventLoop.execute {
                if let handler = try? connection.pipeline.syncOperations.handler(type: RequestHandler.self), handler.isReceiving {
                    connection.close(promise: nil)
                }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for connection in open { try? await connection.closeFuture.get() } }
            group.addTask { try? await Task.sleep(for: gracePeriod) }
            await group.next()
            group.cancelAll()
            for connection in connections.open() { connection.close(promise: nil) }
        }
    }

    /// Waits until the listening socket is closed.
    public func waitUntilClosed() async {
        try? await channel.closeFuture.get()
    }

    /// The number of open connections.
    public var connectionCount: Int { connections.open().count }
}

/// The server's open connections, and whether it is shutting down.
private final class ConnectionRegistry: Sendable {
    private struct State {
        var draining = false
        var channels: [ObjectIdentifier: any Channel] = [:]
    }
    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Registers an accepted connection (removed when it closes); false when shutting down or
    /// when `limit` connections are open.
    func add(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let added = state.withLock { s -> Bool in
            if s.draining || s.channels.count >= limit { return false }
            s.channels[id] = channel
            return true
        }
        if added { channel.closeFuture.whenComplete { _ in self.state.withLock { _ = $0.channels.removeValue(forKey: id) } } }
        return added
    }

    /// Refuses further connections; returns the open ones.
    func startDraining() -> [any Channel] {
        state.withLock { s in
            s.draining = true
            return Array(s.channels.values)
        }
    }

    func open() -> [any Channel] { state.withLock { Array($0.channels.values) } }
}

/// Collects one request at a time and writes the handler's answer.
private final class RequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let maxBodyBytes: Int
    private let headTimeout: TimeAmount
    /// Closes the connection unless the next request's head arrives in time (armed while the
    /// server waits for a head, cancelled when it arrives).
    private var headDeadline: Scheduled<Void>?
    /// Slowest average body rate (bytes per second, from `headTimeout` after the head); 0: off.
    private let minBodyBytesPerSecond: Int
    /// The next check that the body being received keeps up with ``minBodyBytesPerSecond``
    /// (armed from a head until the request's end).
    private var bodyCheck: Scheduled<Void>?
    private let observe: @Sendable (HTTPServer.Answered) -> Void
    private let handler: @Sendable (GatewayRequest) async -> GatewayResponse
    private var head: HTTPRequestHead?
    private var headRead = NIODeadline.now()
    private var body: ByteBuffer?
    private var received = 0
    /// The request was answered before its body was read (too large, or a failed
    /// expectation); the rest of the body is dropped and the connection closed after it.
    private var answeredEarly = false
    /// With ``answeredEarly``: the early answer has been written.
    private var earlyAnswerWritten = false
    /// With ``answeredEarly``: the request's end has been received.
    private var earlyRequestEnded = false
    /// A handler is working on a request of this connection (the idle timeout then waits).
    private var handling = false
    /// A request answered early has been received as far as it will be: the connection closes
    /// after its answer, and anything pipelined after it is dropped unread (never handled, so
    /// a client that resends after the `Connection: close` is not counted twice).
    private var discardRest = false

    /// Whether a request is being received (its head read, its end not yet) with no handler
    /// working on this connection: nothing is in flight.
    var isReceiving: Bool { head != nil && !handling }

    init(maxBodyBytes: Int, headTimeout: TimeAmount, minBodyBytesPerSecond: Int,
         observe: @escaping @Sendable (HTTPServer.Answered) -> Void,
         handler: @escaping @Sendable (GatewayRequest) async -> GatewayResponse) {
        self.maxBodyBytes = maxBodyBytes
        self.headTimeout = headTimeout
        self.minBodyBytesPerSecond = minBodyBytesPerSecond
        self.observe = observe
        self.handler = handler
    }

    /// Arms the head deadline: the connection is closed unless a request's head arrives within
    /// `headTimeout` (the decoder hands over a head only once it is whole).
    private func awaitHead(context: ChannelHandlerContext) {
        headDeadline?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        headDeadline = context.eventLoop.scheduleTask(in: headTimeout) {
            bound.value.close(promise: nil)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { awaitHead(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        awaitHead(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        context.fireChannelInactive()
    }

    private func cancelTimers() {
        headDeadline?.cancel()
        headDeadline = nil
        bodyCheck?.cancel()
        bodyCheck = nil
    }

    /// Arms the body's next rate check at `time`: by then the body (of the request whose head
    /// was read at ``headRead``) must have reached ``minBodyBytesPerSecond`` times the seconds
    /// since the grace ended, or the request is timed out.
    private func checkBody(at time: NIODeadline, context: ChannelHandlerContext) {
        bodyCheck?.cancel()
        bodyCheck = nil
        guard minBodyBytesPerSecond > 0 else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        bodyCheck = context.eventLoop.scheduleTask(deadline: time) {
            let (me, context) = bound.value
            me.bodyCheck = nil
            me.checkBodyRate(context: context)
        }
    }

    private func checkBodyRate(context: ChannelHandlerContext) {
        // The request has ended (or is handled): nothing to check.
        guard head != nil || (answeredEarly && !earlyRequestEnded) else { return }
        let graceEnds = headRead + headTimeout
        let elapsed = Double((NIODeadline.now() - graceEnds).nanoseconds) * 1e-9
        let owed = Double(minBodyBytesPerSecond) * max(0, elapsed)
        if Double(received) >= owed {
            // Next check when the body received so far stops covering the rate (at least 10 ms on).
            // At most a day on: a huge body at a tiny rate must not overflow the nanosecond count.
            let seconds = min(Double(received) / Double(minBodyBytesPerSecond), 86_400)
            let due = max(graceEnds + .nanoseconds(Int64((seconds * 1e9).rounded(.up))), .now() + .milliseconds(10))
            checkBody(at: due, context: context)
            return
        }
        timeOut(context: context, reason: "the request's body arrived slower than \(minBodyBytesPerSecond) bytes per second")
    }

    private static func path(of uri: String) -> String {
        uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discardRest else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            headDeadline?.cancel()
            headDeadline = nil
            head = h
            headRead = .now()
            received = 0
            checkBody(at: headRead + headTimeout, context: context)
            body = nil
            answeredEarly = false
            earlyAnswerWritten = false
            earlyRequestEnded = false
            let declared = h.headers.first(name: "content-length").flatMap { Int($0) }
            let tooLarge = declared.map { $0 > maxBodyBytes } ?? false
            if let expectation = h.headers.first(name: "expect") {
                guard expectation.lowercased() == "100-continue" else {
                    answerEarly(GatewayResponse(GatewayError(.expectationFailed, "the expectation '\(expectation.prefix(40))' is not supported (only 100-continue)")),
                                head: h, context: context, bodyWillFollow: false)
                    return
                }
                if tooLarge {
                    // The client waits for this answer before sending the body: it sends none.
                    dispatchTooLarge(head: h, context: context, bodyWillFollow: false)
                    return
                }
                if h.version.major == 1 && h.version.minor >= 1 {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: .continue))), promise: nil)
                }
            }
            if tooLarge { dispatchTooLarge(head: h, context: context, bodyWillFollow: true) }
        case .body(var chunk):
            received += chunk.readableBytes
            if answeredEarly {
                // A client streaming far beyond the limit is cut off rather than drained forever.
                if received > maxBodyBytes &* 16 { context.close(promise: nil) }
                return
            }
            if received > maxBodyBytes {
                body = nil
                if let head { dispatchTooLarge(head: head, context: context, bodyWillFollow: true) }
                return
            }
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            bodyCheck?.cancel()
            bodyCheck = nil
            guard let head else { return }
            self.head = nil
            if answeredEarly {
                earlyRequestEnded = true
                discardRest = true
                if earlyAnswerWritten { context.close(promise: nil) }
                return
            }
            let request = GatewayRequest(
                method: head.method.rawValue, path: Self.path(of: head.uri), authorization: head.headers.first(name: "authorization"),
                body: body.map { Array($0.readableBytesView) } ?? [])
            body = nil
            dispatch(request, head: head, keepAlive: head.isKeepAlive, early: false, context: context)
        }
    }

    /// Hands a too-large request to the handler (which answers it, 413 on the gateway's routes)
    /// before its body is read.
    private func dispatchTooLarge(head: HTTPRequestHead, context: ChannelHandlerContext, bodyWillFollow: Bool) {
        answeredEarly = true
        earlyRequestEnded = !bodyWillFollow
        discardRest = !bodyWillFollow
        let request = GatewayRequest(method: head.method.rawValue, path: Self.path(of: head.uri),
                                     authorization: head.headers.first(name: "authorization"), bodyTooLarge: true)
        dispatch(request, head: head, keepAlive: false, early: true, context: context)
    }

    /// Answers with `response` before the body is read, without the handler.
    private func answerEarly(_ response: GatewayResponse, head: HTTPRequestHead, context: ChannelHandlerContext, bodyWillFollow: Bool) {
        answeredEarly = true
        earlyRequestEnded = !bodyWillFollow
        discardRest = !bodyWillFollow
        write(response, head: head, keepAlive: false, early: true, context: context, started: headRead, byHandler: false)
    }

    private func dispatch(_ request: GatewayRequest, head: HTTPRequestHead, keepAlive: Bool, early: Bool, context: ChannelHandlerContext) {
        handling = true
        let started = headRead
        let handler = self.handler
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let inline = request.body.count <= HTTPServer.inlineBodyBytes
        Task(executorPreference: inline ? EventLoopTaskExecutor(loop) : nil) {
            let response = await handler(request)
            let answer: @Sendable () -> Void = {
                let (me, context) = bound.value
                me.handling = false
                me.write(response, head: head, keepAlive: keepAlive, early: early, context: context, started: started, byHandler: true)
            }
            // A task on the loop's own executor answers in place; any other hops to the loop.
            if loop.inEventLoop { answer() } else { loop.execute(answer) }
        }
    }

    private func write(_ response: GatewayResponse, head request: HTTPRequestHead, keepAlive: Bool, early: Bool,
                       context: ChannelHandlerContext, started: NIODeadline, byHandler: Bool) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        headers.reserveCapacity(4 + response.headers.count)
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.count))
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        // A HEAD answer carries the headers of the GET answer (its length too), not its body.
        if request.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        let observe = self.observe
        let path = Self.path(of: request.uri)
        let status = response.status
        done.futureResult.whenSuccess {
            observe(HTTPServer.Answered(path: path, status: status, seconds: Double((NIODeadline.now() - started).nanoseconds) * 1e-9,
                                        byHandler: byHandler))
        }
        if early {
            // Close once the client has sent its whole request (so it reads this answer rather
            // than a reset); if that has happened already, now.
            earlyAnswerWritten = true
            if earlyRequestEnded {
                let channel = context.channel
                done.futureResult.whenComplete { _ in channel.close(promise: nil) }
            }
        } else if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        } else if self.head == nil {
            // Kept alive and no next request begun: its head has the same time to arrive.
            awaitHead(context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // A request being handled may wait long for its upstream: not idle.
        if handling { return }
        timeOut(context: context, reason: "the request was not received completely within the idle timeout")
    }

    /// Ends a connection whose client is too slow: a request partly received (not yet
    /// answered) is answered 408 first; otherwise the connection is closed at once.
    private func timeOut(context: ChannelHandlerContext, reason: String) {
        bodyCheck?.cancel()
        bodyCheck = nil
        if let head, !answeredEarly {
            self.head = nil
            body = nil
            answeredEarly = true
            earlyRequestEnded = true
            write(GatewayResponse(GatewayError(.requestTimeout, reason)),
                  head: head, keepAlive: false, early: true, context: context, started: headRead, byHandler: false)
        } else {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError, !handling, context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        // The decoder cannot go on after an error: answer it and close.
        let answer: GatewayError
        switch parseError {
        case .headerOverflow:
            answer = GatewayError(.headerTooLarge, "the request's head (request line and headers) is too large")
        case .invalidContentLength:
            answer = GatewayError(.malformedHTTP, "the request's Content-Length is not a valid length")
        case .unexpectedContentLength:
            answer = GatewayError(.malformedHTTP, "the request's Content-Length is given twice with different values, or where none is allowed")
        case .unknown:
            // What the parser reports for Content-Length beside Transfer-Encoding, or a
            // transfer coding other than chunked.
            answer = GatewayError(.malformedHTTP, "the request's framing is invalid (Content-Length beside Transfer-Encoding, or a Transfer-Encoding other than chunked), or it is not HTTP/1.1")
        case .paused:
            // The parser stops at an upgrade such as HTTP/2's connection preface.
            answer = GatewayError(.malformedHTTP, "the request asks for another protocol (HTTP/2's preface or an upgrade); the gateway speaks HTTP/1.1")
        default:
            answer = GatewayError(.malformedHTTP, "the request is not valid HTTP/1.1 (\(parseError))")
        }
        let head = self.head ?? HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        self.head = nil
        body = nil
        answeredEarly = true
        earlyRequestEnded = true
        write(GatewayResponse(answer), head: head, keepAlive: false, early: true, context: context, started: .now(), byHandler: false)
    }
}

/// Runs a task's jobs on one event loop: a request handled by such a task runs on the thread
/// that read it and writes its answer there, with no thread switch on the way.
final class EventLoopTaskExecutor: TaskExecutor {
    private let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
