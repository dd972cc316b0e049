import Defense
import Dispatch
import Foundation
import Logging
import NIOCore
import NumericKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `b4b serve`: opens the store, builds the gateway, listens, and stops cleanly on
/// SIGINT or SIGTERM (see ``stop(server:gateway:gracePeriod:logger:)``). Buckets of answered
/// requests are already durable, so a hard kill loses at most the deferred query counts the
/// commit policy allows.
public enum GatewayServer {
    /// File descriptors kept for everything but client connections: the store's files and
    /// connections, the upstream's connections, the event loops' own, standard streams.
    public static let reservedDescriptors = 64

    /// `configured`, or fewer when the process's file descriptor limit (`RLIMIT_NOFILE`) leaves
    /// room for fewer connections beside ``reservedDescriptors``: with every descriptor taken,
    /// accepting fails again and again and the accept loop spins instead of serving.
    static func connectionLimit(_ configured: Int) -> Int {
        connectionLimit(configured, descriptorLimit: descriptorLimit())
    }

    /// `configured`, lowered to leave ``reservedDescriptors`` of `descriptorLimit` (nil: no
    /// limit) for everything else; at least 1.
    public static func connectionLimit(_ configured: Int, descriptorLimit: Int?) -> Int {
        guard let descriptorLimit else { return configured }
        return max(1, min(configured, descriptorLimit - reservedDescriptors))
    }

    /// The process's soft limit on open file descriptors (nil when unlimited or unknown).
    static func descriptorLimit() -> Int? {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// Serves until a termination signal.
    /// - Parameter announce: receives the start-up lines (settings without secrets, then
    ///   `listening on http://HOST:PORT`, which scripts wait for).
    public static func run(configuration: GatewayConfiguration, logger: Logger, announce: @Sendable (String) -> Void) async throws {
        // The server calls the defense from many threads: BLAS must not add its own.
        BLASThreads.set(1)
        if let warning = BLASLibrary.genericKernelsWarning { logger.warning("\(warning)") }
        let configuration = try configuration.validated()
        // A SQLite store this start creates is removed again if the start fails, so a failed
        // start leaves no store (with a fresh secret) behind.
        let created = (try? StoreLocation.sqlitePath(of: configuration.store)).flatMap { $0 }
            .flatMap { FileManager.default.fileExists(atPath: $0) ? nil : $0 }
        let store = try StoreLocation.open(configuration.store)
        let gateway: EmbeddingsGateway
        do {
            gateway = try await EmbeddingsGateway(configuration: configuration, store: store, logger: logger)
        } catch {
            await store.close()
            removeStore(created)
            throw error
        }
        announce(configuration.summary)
        let server: HTTPServer
        do {
            let connections = connectionLimit(configuration.maxConnections)
            if connections < configuration.maxConnections {
                announce("at most \(connections) connections (maxConnections \(configuration.maxConnections) is more than the file descriptor limit leaves room for; raise it with ulimit -n)")
            }
            server = try await HTTPServer.start(host: configuration.host, port: configuration.port,
                                                maxBodyBytes: configuration.maxBodyBytes,
                                                idleTimeout: .nanoseconds(Int64(configuration.idleTimeoutSeconds * 1e9)),
                                                maxConnections: connections,
                                                minBodyBytesPerSecond: configuration.minBodyBytesPerSecond,
                                                observe: { gateway.record($0) }) { await gateway.handle($0) }
        } catch {
            await gateway.close()
            removeStore(created)
            throw GatewayStartError(message: "cannot listen on \(configuration.host):\(configuration.port): \(reason(error))")
        }
        let port = server.localAddress.port ?? configuration.port
        logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
        // An IPv6 address goes in brackets, as in any URL (`http://[::1]:8080`).
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        announce("listening on http://\(host):\(port)")

        let (signals, continuation) = AsyncStream.makeStream(of: Int32.self)
        let sources = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { continuation.yield(sig) }
            source.resume()
            return source
        }
        for await sig in signals {
            logger.info("stopping", metadata: ["signal": "\(sig)"])
            break
        }
        for s in sources { s.cancel() }
        continuation.finish()
        await stop(server: server, gateway: gateway, gracePeriod: .seconds(configuration.shutdownGraceSeconds), logger: logger)
    }

    /// Removes the SQLite file at `path` and its companion files (nothing when nil).
    static func removeStore(_ path: String?) {
        guard let path else { return }
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }

    /// The OS's text for a socket error (e.g. "address already in use"), without NIO's dump.
    static func reason(_ error: any Error) -> String {
        if let e = error as? IOError { return String(cString: strerror(e.errnoCode)).lowercased() }
        return "\(error)"
    }

    /// Stops serving without losing state: stops accepting connections, closes idle ones,
    /// takes no new request on busy ones, lets the requests in flight finish (at most
    /// `gracePeriod`; `run` allows ``GatewayConfiguration/shutdownGraceSeconds``), then commits
    /// the queued query counts and closes the store.
    public static func stop(server: HTTPServer, gateway: EmbeddingsGateway, gracePeriod: Duration, logger: Logger) async {
        await server.shutdown(gracePeriod: gracePeriod)
        await gateway.close()
        logger.info("stopped")
    }
}

/// A start of the gateway that failed after its settings were accepted (say the port is taken).
public struct GatewayStartError: Error, Sendable, CustomStringConvertible {
    /// What failed, e.g. `cannot listen on 127.0.0.1:8080: address already in use`.
    public let message: String
    public var description: String { message }
}
