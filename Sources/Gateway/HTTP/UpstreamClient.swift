import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Calls the upstream OpenAI-compatible embeddings server: `POST <base>/embeddings`.
///
/// Plain HTTP on SwiftNIO, one connection per call (`Connection: close`): the upstream is
/// expected on a trusted network next to the gateway, and an embedding call costs far more
/// than a loopback connection. HTTPS upstreams are not supported.
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

    /// A client for `baseURL` (`http://HOST[:PORT][/PATH]`; `/embeddings` is appended unless the
    /// path already ends with it).
    /// - Throws: ``StoreError``-like `UpstreamConfigurationError` for a URL that is not plain HTTP.
    public convenience init(baseURL: String, timeout: Double, maxResponseBytes: Int = 256 << 20,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        guard let c = URLComponents(string: baseURL), c.scheme == "http", let host = c.host, !host.isEmpty else {
            throw UpstreamConfigurationError(message: "upstream '\(baseURL)' must be a plain http:// URL (e.g. http://127.0.0.1:8000/v1)")
        }
        var path = c.path
        while path.hasSuffix("/") { path.removeLast() }
        self.init(host: host, port: c.port ?? 80, path: path.hasSuffix("/embeddings") ? path : path + "/embeddings",
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
    /// - Throws: ``Failure`` (never ``Failure/status(_:_:)``).
    public func exchange(_ body: [UInt8], headers extra: [(String, String)] = []) async throws -> (Int, [UInt8]) {
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout * 1e9))
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Int64(min(timeout, 10) * 1e9)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    }
                }
                .connect(host: host, port: port).get()
        } catch let error as ChannelError {
            if case .connectTimeout = error { throw Failure.timeout(timeout) }
            throw Failure.unreachable("\(error)")
        } catch {
            throw Failure.unreachable("\(error)")
        }
        let promise = channel.eventLoop.makePromise(of: (Int, [UInt8]).self)
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
        headers.add(name: "connection", value: "close")
        for (name, value) in extra { headers.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
        let requestPath = path
        channel.eventLoop.execute {
            do {
                try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise, limit: limit))
            } catch {
                promise.fail(Failure.unreachable("\(error)"))
                return
            }
            var buffer = channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil)).whenFailure { error in
                promise.fail(Failure.unreachable("sending to \(requestPath): \(error)"))
            }
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

/// An upstream URL the client cannot use.
public struct UpstreamConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Collects one HTTP response and completes the promise once (the timeout may have failed it
/// first; NIO ignores a second completion).
private final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<(Int, [UInt8])>
    private let limit: Int
    private var status = 0
    private var body: [UInt8] = []
    private var done = false

    init(promise: EventLoopPromise<(Int, [UInt8])>, limit: Int) {
        self.promise = promise
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body(let chunk):
            if body.count + chunk.readableBytes > limit {
                finish(.failure(UpstreamClient.Failure.tooLarge(limit)))
                context.close(promise: nil)
                return
            }
            body.append(contentsOf: chunk.readableBytesView)
        case .end:
            finish(.success((status, body)))
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

    private func finish(_ result: Result<(Int, [UInt8]), any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
    }
}
