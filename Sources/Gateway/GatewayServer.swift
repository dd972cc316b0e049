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
/// SIGINT or SIGTERM (stops accepting, lets the store close). Answered requests are already
/// durable, so a hard kill loses nothing that was answered.
public enum GatewayServer {
    /// Serves until a termination signal.
    /// - Parameter announce: receives the start-up lines (settings without secrets, then
    ///   `listening on http://HOST:PORT`, which scripts wait for).
    public static func run(configuration: GatewayConfiguration, logger: Logger, announce: @Sendable (String) -> Void) async throws {
        // The server calls the defense from many threads: BLAS must not add its own.
        BLASThreads.set(1)
        if let warning = BLASLibrary.genericKernelsWarning { logger.warning("\(warning)") }
        let configuration = try configuration.validated()
        let store = try StoreLocation.open(configuration.store)
        let gateway: EmbeddingsGateway
        do {
            gateway = try await EmbeddingsGateway(configuration: configuration, store: store, logger: logger)
        } catch {
            await store.close()
            throw error
        }
        announce(configuration.summary)
        let server: HTTPServer
        do {
            server = try await HTTPServer.start(host: configuration.host, port: configuration.port,
                                                maxBodyBytes: configuration.maxBodyBytes,
                                                observe: { gateway.recordInProcess(path: $0, seconds: $1) }) { await gateway.handle($0) }
        } catch {
            await gateway.close()
            throw GatewayConfigurationError(message: "cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
        let port = server.localAddress.port ?? configuration.port
        logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
        announce("listening on http://\(configuration.host):\(port)")

        let sources = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                logger.info("stopping", metadata: ["signal": "\(sig)"])
                Task { await server.close() }
            }
            source.resume()
            return source
        }
        await server.waitUntilClosed()
        for s in sources { s.cancel() }
        await gateway.close()
        logger.info("stopped")
    }
}
