import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

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
public final class HTTPServer: Sendable {
    private let channel: any Channel
    /// The address the server listens on (its port is the real one when 0 was asked).
    public let localAddress: SocketAddress
    /// Requests with bodies up to this many bytes are handled on their event loop (see above).
    public static let inlineBodyBytes = 128 << 10

    /// Binds and starts serving.
    /// - Parameters:
    ///   - maxBodyBytes: larger bodies are drained and answered 413 without reaching `handler`.
    ///   - observe: called after each answer is written with the request's path and the
    ///     seconds from reading its head to handing the whole answer to the socket (the time the
    ///     request spent in this process).
    ///   - handler: answers one request; must not throw (errors are answers).
    public static func start(host: String, port: Int, maxBodyBytes: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                             observe: @escaping @Sendable (_ path: String, _ seconds: Double) -> Void = { _, _ in },
                             handler: @escaping @Sendable (GatewayRequest) async -> GatewayResponse) async throws -> HTTPServer {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(maxBodyBytes: maxBodyBytes, observe: observe, handler: handler))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        guard let address = channel.localAddress else { throw StoreError("server channel has no local address") }
        return HTTPServer(channel: channel, localAddress: address)
    }

    private init(channel: any Channel, localAddress: SocketAddress) {
        self.channel = channel
        self.localAddress = localAddress
    }

    /// Stops accepting connections and waits for the listening socket to close.
    public func close() async {
        try? await channel.close()
    }

    /// Waits until the server is closed.
    public func waitUntilClosed() async {
        try? await channel.closeFuture.get()
    }
}

/// Collects one request at a time and writes the handler's answer.
private final class RequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let maxBodyBytes: Int
    private let observe: @Sendable (String, Double) -> Void
    private let handler: @Sendable (GatewayRequest) async -> GatewayResponse
    private var head: HTTPRequestHead?
    private var headRead = NIODeadline.now()
    private var body: ByteBuffer?
    private var received = 0
    private var tooLarge = false

    init(maxBodyBytes: Int, observe: @escaping @Sendable (String, Double) -> Void,
         handler: @escaping @Sendable (GatewayRequest) async -> GatewayResponse) {
        self.maxBodyBytes = maxBodyBytes
        self.observe = observe
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            headRead = .now()
            received = 0
            body = nil
            tooLarge = false
            if let length = h.headers.first(name: "content-length").flatMap(Int.init), length > maxBodyBytes {
                tooLarge = true
            }
        case .body(var chunk):
            received += chunk.readableBytes
            if received > maxBodyBytes {
                tooLarge = true
                body = nil
                // A client streaming far beyond the limit is cut off rather than drained forever.
                if received > maxBodyBytes &* 16 { context.close(promise: nil) }
                return
            }
            if tooLarge { return }
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let uri = head.uri
            let path = uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
            let request = GatewayRequest(
                method: head.method.rawValue, path: path, authorization: head.headers.first(name: "authorization"),
                body: body.map { Array($0.readableBytesView) } ?? [], bodyTooLarge: tooLarge)
            body = nil
            let keepAlive = head.isKeepAlive && !tooLarge
            let version = head.version
            let started = headRead
            let handler = self.handler
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            let inline = request.body.count <= HTTPServer.inlineBodyBytes
            Task(executorPreference: inline ? EventLoopTaskExecutor(loop) : nil) {
                let response = await handler(request)
                let answer: @Sendable () -> Void = {
                    let (me, context) = bound.value
                    me.write(response, version: version, keepAlive: keepAlive, context: context, path: path, started: started)
                }
                // A task on the loop's own executor answers in place; any other hops to the loop.
                if loop.inEventLoop { answer() } else { loop.execute(answer) }
            }
        }
    }

    private func write(_ response: GatewayResponse, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext,
                       path: String, started: NIODeadline) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(4 + response.headers.count)
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.count))
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: response.body.count)
        buffer.writeBytes(response.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlushPromise()
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        let observe = self.observe
        done.futureResult.whenSuccess { observe(path, Double((NIODeadline.now() - started).nanoseconds) * 1e-9) }
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

private extension ChannelHandlerContext {
    func writeAndFlushPromise() -> EventLoopPromise<Void> { eventLoop.makePromise() }
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
