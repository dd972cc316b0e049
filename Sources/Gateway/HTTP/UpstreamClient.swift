import Foundation
import Synchronization
import NIOCore
import NIOHTTP1
import NIOPosix

/// Calls the upstream OpenAI-compatible embeddings server: `POST <base>/embeddings`.
///
/// Plain HTTP/1.1 on SwiftNIO with keep-alive: idle connections are pooled (up to 64) and
/// reused, one request at a time each. The upstream is expected on a trusted network next to
/// the gateway; HTTPS upstreams are not supported.
public final class UpstreamClient: Sendable {
    /// How an upstream call failed.
    public enum Failure: Error, Sendable {
        /// No connection could be made (refused, unreachable, reset).
        case unreachable(String)
        /// No complete answer within the timeout.
        case timeout(Double)
        /// An answer that is not 200, with its status and the start of its body.
        case status(Int, String)
        /// An answer larger than the limit.
        case tooLarge(Int)
        /// A pooled connection that turned out closed before the request was sent (retried).
        case stale
    }

    /// The host the client connects to.
    public let host: String
    /// The TCP port.
    public let port: Int
    /// The request path (`/v1/embeddings` for a base URL `http://host:port/v1`).
    public let path: String
    /// Seconds to wait for a complete answer.
    public let timeout: Double
    /// The largest answer accepted, in bytes.
    public let maxResponseBytes: Int
    private let group: any EventLoopGroup
    // Idle keep-alive connections (at most 64), reused most recent first.
    private let idle = Mutex<[any Channel]>([])

    /// A client for `baseURL` (`http://HOST[:PORT][/PATH]`; `/embeddings` is appended unless the
    /// path already ends with it).
    /// - Throws: ``StoreError``-like `UpstreamConfigurationError` for a URL that is not plain HTTP.
    public convenience init(baseURL: String, timeout: Double, maxResponseBytes: Int = 256 << 20,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        func refuse(_ why: String) -> UpstreamConfigurationError {
            UpstreamConfigurationError(message: "upstream '\(baseURL)' \(why) (expected a plain http://HOST[:PORT][/PATH] URL, e.g. http://127.0.0.1:8000/v1)")
        }
        guard let c = URLComponents(string: baseURL) else { throw refuse("is not a URL") }
        guard c.scheme?.lowercased() == "http" else {
            throw refuse(c.scheme == "https" ? "uses https, which the gateway does not support" : "is not an http:// URL")
        }
        guard let host = c.host, !host.isEmpty else { throw refuse("names no host") }
        // URLComponents reads any digits as the port, and gives none (so port 80 would be
        // used) for digits beyond Int's range; the socket layer would wrap values above 65535
        // to another port. The port's own text is checked instead.
        let portText = c.rangeOfPort.map { String(baseURL[$0]) } ?? ""
        var port: Int?
        if !portText.isEmpty {
            guard portText.utf8.allSatisfy({ (48...57).contains($0) }), let p = Int(portText), (1...65535).contains(p) else {
                throw refuse("has port \(portText), outside 1...65535")
            }
            port = p
        }
        guard c.user == nil, c.password == nil else { throw refuse("holds user information, which is not supported") }
        guard c.query == nil, c.fragment == nil else { throw refuse("holds a query or fragment") }
        guard timeout > 0, timeout <= GatewayConfiguration.maximumSeconds else {
            throw UpstreamConfigurationError(message: "the upstream timeout must be positive and at most \(Int(GatewayConfiguration.maximumSeconds)) s, got \(timeout)")
        }
        var path = c.path
        while path.hasSuffix("/") { path.removeLast() }
        self.init(host: host, port: port ?? 80, path: path.hasSuffix("/embeddings") ? path : path + "/embeddings",
                  timeout: timeout, maxResponseBytes: maxResponseBytes, group: group)
    }

    /// A client posting to exactly `path` on `host:port`.
    public init(host: String, port: Int, path: String, timeout: Double, maxResponseBytes: Int = 256 << 20,
         group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        self.path = path
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
        self.group = group
    }

    /// The URL called, for logs.
    public var url: String { "http://\(host):\(port)\(path)" }

    /// Posts a JSON body; returns the answer's body when the status is 200.
    /// - Throws: ``Failure``.
    public func post(_ body: [UInt8]) async throws -> [UInt8] {
        let (status, answer) = try await exchange(body)
        guard status == 200 else {
            throw Failure.status(status, String(decoding: answer.prefix(200), as: UTF8.self))
        }
        return answer
    }

    /// Posts a JSON body with extra headers; returns the status and body whatever the status.
    /// A request that fails on a pooled connection before any answer (the upstream closed it
    /// while idle) is retried once on a new connection.
    /// - Throws: ``Failure`` (never ``Failure/status(_:_:)``).
    public func exchange(_ body: [UInt8], headers extra: [(String, String)] = []) async throws -> (Int, [UInt8]) {
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout * 1e9))
        if let pooled = idle.withLock({ $0.popLast() }) {
            do {
                return try await send(body, headers: extra, on: pooled, deadline: deadline)
            } catch Failure.stale {
                // fall through to a fresh connection
            }
        }
        return try await send(body, headers: extra, on: try await connect(), deadline: deadline)
    }

    private func connect() async throws -> any Channel {
        do {
            return try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Int64(min(timeout, 10) * 1e9)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector())
                    }
                }
                .connect(host: host, port: port).get()
        } catch let error as ChannelError {
            if case .connectTimeout = error { throw Failure.timeout(timeout) }
            throw Failure.unreachable("\(error)")
        } catch {
            throw Failure.unreachable("\(error)")
        }
    }

    private func send(_ body: [UInt8], headers extra: [(String, String)], on channel: any Channel, deadline: NIODeadline) async throws -> (Int, [UInt8]) {
        let promise = channel.eventLoop.makePromise(of: ResponseCollector.Answer.self)
        let limit = maxResponseBytes
        let timeout = self.timeout
        let timer = channel.eventLoop.scheduleTask(deadline: deadline) {
            promise.fail(Failure.timeout(timeout))
            channel.close(promise: nil)
        }
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "\(host):\(port)")
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "accept", value: "application/json")
        headers.add(name: "content-length", value: String(body.count))
        for (name, value) in extra { headers.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
        let requestPath = path
        channel.eventLoop.execute {
            guard channel.isActive, let collector = try? channel.pipeline.syncOperations.handler(type: ResponseCollector.self) else {
                promise.fail(Failure.stale)
                return
            }
            collector.start(promise, limit: limit)
            var buffer = channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil)).whenFailure { error in
                promise.fail(Failure.unreachable("sending to \(requestPath): \(error)"))
            }
        }
        do {
            let answer = try await promise.futureResult.get()
            timer.cancel()
            if answer.keepAlive && channel.isActive {
                let pooled = idle.withLock { pool -> Bool in
                    guard pool.count < 64 else { return false }
                    pool.append(channel)
                    return true
                }
                if !pooled { channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
            return (answer.status, answer.body)
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            throw error
        }
    }

    /// Closes the idle connections.
    public func shutdown() {
        for channel in idle.withLock({ pool -> [any Channel] in defer { pool.removeAll() }; return pool }) {
            channel.close(promise: nil)
        }
    }
}

/// An upstream URL the client cannot use.
public struct UpstreamConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Collects each HTTP response of a connection and completes that request's promise once
/// (the timeout may have failed it first; NIO ignores a second completion).
private final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    struct Answer: Sendable {
        var status: Int
        var body: [UInt8]
        var keepAlive: Bool
    }

    private var promise: EventLoopPromise<Answer>?
    private var limit = 0
    private var status = 0
    private var keepAlive = false
    private var body: [UInt8] = []

    init() {}

    /// Starts collecting the answer to the request about to be written.
    func start(_ promise: EventLoopPromise<Answer>, limit: Int) {
        self.promise = promise
        self.limit = limit
        status = 0
        keepAlive = false
        body = []
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard promise != nil else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            keepAlive = head.isKeepAlive
        case .body(let chunk):
            if body.count + chunk.readableBytes > limit {
                finish(.failure(UpstreamClient.Failure.tooLarge(limit)))
                context.close(promise: nil)
                return
            }
            body.append(contentsOf: chunk.readableBytesView)
        case .end:
            finish(.success(Answer(status: status, body: body, keepAlive: keepAlive)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(UpstreamClient.Failure.unreachable("upstream closed the connection before a complete answer")))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(UpstreamClient.Failure.unreachable("\(error)")))
        context.close(promise: nil)
    }

    private func finish(_ result: Result<Answer, any Error>) {
        guard let promise else { return }
        self.promise = nil
        body = []
        promise.completeWith(result)
    }
}
