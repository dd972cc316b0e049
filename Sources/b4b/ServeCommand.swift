import ArgumentParser
import CommandFiles
import Defense
import Dispatch
import Foundation
import Gateway
import Logging
import Synchronization

/// `b4b serve`: the OpenAI-compatible embeddings gateway that applies B4B per API key.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve an OpenAI-compatible embeddings gateway that protects every answer with B4B, per API key.",
        discussion: """
            Routes: POST /v1/embeddings (OpenAI embeddings API; forwarded to --upstream, the answer \
            protected for the key's account), POST /v1/protect (vectors in the body, protected), \
            GET /health, GET /metrics (Prometheus text). Authenticate with 'Authorization: Bearer <key>' \
            (keys from 'b4b keys add'). The server secret and every account's occupancy live in --store \
            and survive restarts; an answer is sent only after every bucket that priced it is durable \
            (with --commit-policy every-request, after its query count too; by default query counts \
            follow within --query-flush-ms, and losing them in a crash can only raise prices). \
            Settings come from --config (JSON, every key optional) and are overridden by flags; they are \
            printed at start-up without secrets. Stop with SIGINT or SIGTERM: requests in flight are answered, then the queued query counts are committed and the store is closed.
            """)

    @Option(help: ArgumentHelp("Gateway configuration (JSON: host, port, upstream, upstreamModel, upstreamTimeoutSeconds, store, maxInputs, maxBodyBytes, keyCacheSeconds, idleTimeoutSeconds, maxConnections, minBodyBytesPerSecond, shutdownGraceSeconds, commitPolicy, queryFlushMilliseconds, defense). Default: built-in defaults.", valueName: "json"))
    var config: String?

    @Option(help: ArgumentHelp("Defense configuration (JSON, as for 'b4b protect'); replaces the config file's 'defense'.", valueName: "json"))
    var defenseConfig: String?

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(parsing: .unconditional, help: "TCP port (default 8080; 0 picks a free one, printed at start-up).")
    var port: Int?

    @Option(help: ArgumentHelp("Upstream OpenAI-compatible embeddings base URL, e.g. http://127.0.0.1:8000/v1 ('/embeddings' is appended unless the path already ends with it; trailing slashes are dropped).", valueName: "url"))
    var upstream: String?

    @Option(help: "Model name sent upstream when a request names none.")
    var upstreamModel: String?

    @Option(parsing: .unconditional, help: "Seconds to wait for the upstream before answering 504 (default 30; 0.001...86400).")
    var upstreamTimeout: Double?

    @Option(help: ArgumentHelp("State store: sqlite:PATH (default sqlite:b4b-state.sqlite) or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.", valueName: "location"))
    var store: String?

    @Option(parsing: .unconditional, help: "Largest number of inputs per request (default 256, at most 65536); more is answered 413.")
    var maxInputs: Int?

    @Option(parsing: .unconditional, help: "Largest request body in bytes (default 16777216; 1024...1073741824); more is answered 413.")
    var maxBodyBytes: Int?

    @Option(parsing: .unconditional, help: "Seconds a key's record is cached; a revoked key stops working within this time (default 2, at most 86400).")
    var keyCacheSeconds: Double?

    @Option(parsing: .unconditional, help: "Seconds a connection may stay silent while the gateway waits for its request before it is closed (default 60; 0.1...86400).")
    var idleTimeout: Double?

    @Option(parsing: .unconditional, help: "Most connections open at once (default 4096, at most 1000000; lowered to what the file descriptor limit, ulimit -n, leaves room for); one beyond is closed at once.")
    var maxConnections: Int?

    @Option(name: .customLong("min-body-rate"), parsing: .unconditional, help: ArgumentHelp("Slowest average rate (bytes per second, counted from the idle timeout after a request's head) at which a request's body may arrive; a slower one is answered 408 and closed (default 1024; 0 turns the check off; at most 1073741824).", valueName: "bytes/s"))
    var minBodyBytesPerSecond: Int?

    @Option(parsing: .unconditional, help: "Seconds a stop (SIGINT, SIGTERM) lets requests in flight finish before closing their connections and the store (default 25, under Kubernetes' 30 s before a kill; at most 86400).")
    var shutdownGrace: Double?

    @Option(help: ArgumentHelp("When an answer waits for its occupancy commit: new-buckets (default: when the account has buckets not yet durable, or fewer durable queries than the relative price's minimum) or every-request.", valueName: "policy"))
    var commitPolicy: String?

    @Option(name: .customLong("query-flush-ms"), parsing: .unconditional, help: "With --commit-policy new-buckets: the longest time in milliseconds an answered query count stays uncommitted (default 100).")
    var queryFlushMilliseconds: Int?

    @Option(parsing: .unconditional, help: "Representation dimension of the upstream's embeddings (overrides the defense configuration).")
    var dimension: Int?

    @Option(parsing: .unconditional, help: "Cost lambda of Eq. (1) (overrides the defense configuration's; only with the exponential cost, the default: refused when the configuration has a constant or no cost).")
    var lambda: Double?

    @Option(parsing: .unconditional, help: "Cost alpha of Eq. (1): sigma reached at coverage beta (exponential cost only, as --lambda).")
    var alpha: Double?

    @Option(parsing: .unconditional, help: "Cost beta of Eq. (1): the coverage at which sigma reaches alpha (exponential cost only, as --lambda).")
    var beta: Double?

    @Option(help: ArgumentHelp("Per-account transforms, comma-separated, each with its defaults: affine, scale-shift, pad, add-constants, shuffle, binary; 'none' for no transform.", valueName: "list"))
    var transforms: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        try refuseRepeatedOptions()
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be in 0...65535, got \(port)") }
        if let maxConnections, !(1...GatewayConfiguration.maximumConnections).contains(maxConnections) {
            throw ValidationError("--max-connections must be in 1...\(GatewayConfiguration.maximumConnections), got \(maxConnections)")
        }
        if let minBodyBytesPerSecond, !(0...GatewayConfiguration.maximumBodyBytes).contains(minBodyBytesPerSecond) {
            throw ValidationError("--min-body-rate must be in 0...\(GatewayConfiguration.maximumBodyBytes), got \(minBodyBytesPerSecond)")
        }
        if let maxInputs, !(1...GatewayConfiguration.maximumInputs).contains(maxInputs) {
            throw ValidationError("--max-inputs must be in 1...\(GatewayConfiguration.maximumInputs), got \(maxInputs)")
        }
        let bodyRange = GatewayConfiguration.minimumBodyBytes...GatewayConfiguration.maximumBodyBytes
        if let maxBodyBytes, !bodyRange.contains(maxBodyBytes) {
            throw ValidationError("--max-body-bytes must be in \(bodyRange.lowerBound)...\(bodyRange.upperBound), got \(maxBodyBytes)")
        }
        if let dimension, dimension < 1 { throw ValidationError("--dimension must be at least 1, got \(dimension)") }
        if let commitPolicy, GatewayConfiguration.CommitPolicyName(rawValue: commitPolicy) == nil {
            throw ValidationError("--commit-policy must be one of \(GatewayConfiguration.CommitPolicyName.allCases.map(\.rawValue).joined(separator: ", ")), got '\(commitPolicy)'")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not a level") }
        if let transforms { _ = try Self.parseTransforms(transforms) }
    }

    static func parseTransforms(_ text: String) throws -> [TransformKind] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if names == ["none"] { return [] }
        return try names.enumerated().map { i, name in
            switch name {
            case "affine": return .affine()
            case "scale-shift": return .scaleShift()
            case "pad": return .pad()
            case "add-constants": return .addConstants()
            case "shuffle": return .shuffle
            case "binary": return .binary()
            case "": throw ValidationError("--transforms: item \(i + 1) of '\(text)' is empty (for no transform write 'none')")
            case "none": throw ValidationError("--transforms: 'none' cannot be combined with other transforms")
            default: throw ValidationError("--transforms: unknown transform '\(name)' (affine, scale-shift, pad, add-constants, shuffle, binary, or none)")
            }
        }
    }

    /// The configuration: file, then flags.
    func makeConfiguration() throws -> GatewayConfiguration {
        var c = GatewayConfiguration()
        if let config {
            let data = try Files.read(config, what: "--config '\(config)'")
            do { c = try GatewayConfiguration.decode(from: data) } catch { throw CommandError("--config '\(config)': \(error)") }
        }
        if let defenseConfig {
            let data = try Files.read(defenseConfig, what: "--defense-config '\(defenseConfig)'")
            do { c.defense = try DefenseConfiguration.decode(from: data) } catch { throw CommandError("--defense-config '\(defenseConfig)': \(error)") }
        }
        if let host { c.host = host }
        if let port { c.port = port }
        if let upstream { c.upstream = upstream }
        if let upstreamModel { c.upstreamModel = upstreamModel }
        if let upstreamTimeout { c.upstreamTimeoutSeconds = upstreamTimeout }
        if let store { c.store = store }
        if let maxInputs { c.maxInputs = maxInputs }
        if let maxBodyBytes { c.maxBodyBytes = maxBodyBytes }
        if let keyCacheSeconds { c.keyCacheSeconds = keyCacheSeconds }
        if let idleTimeout { c.idleTimeoutSeconds = idleTimeout }
        if let maxConnections { c.maxConnections = maxConnections }
        if let minBodyBytesPerSecond { c.minBodyBytesPerSecond = minBodyBytesPerSecond }
        if let shutdownGrace { c.shutdownGraceSeconds = shutdownGrace }
        if let policy = commitPolicy.flatMap(GatewayConfiguration.CommitPolicyName.init(rawValue:)) { c.commitPolicy = policy }
        if let queryFlushMilliseconds { c.queryFlushMilliseconds = queryFlushMilliseconds }
        if let dimension { c.defense.dimension = dimension }
        if lambda != nil || alpha != nil || beta != nil {
            // Flags set the exponential cost's parameters; a configured constant or absent cost
            // is refused rather than silently replaced by an exponential one.
            guard case .exponential(var cost) = c.defense.cost else {
                let flag = lambda != nil ? "--lambda" : alpha != nil ? "--alpha" : "--beta"
                let kind = if case .constant(let sigma) = c.defense.cost { "a constant cost (sigma \(sigma))" } else { "no cost" }
                throw CommandError("\(flag) sets a parameter of the exponential cost, but the defense configuration has \(kind); leave the flag out or set \"cost\" to \"exponential\" in the configuration")
            }
            if let lambda { cost.lambda = lambda }
            if let alpha { cost.alpha = alpha }
            if let beta { cost.beta = beta }
            c.defense.cost = .exponential(cost)
        }
        if let transforms { c.defense.transforms = try Self.parseTransforms(transforms) }
        do { return try c.validated() } catch { throw CommandError("\(error)") }
    }

    func run() throws {
        let configuration = try makeConfiguration()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "b4b.serve")
        try runAsync {
            try await GatewayServer.run(configuration: configuration, logger: logger) { line in
                // Unbuffered: scripts wait for the 'listening on' line.
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        }
    }
}

/// Runs async work from a synchronous command (the root command is synchronous) and waits
/// for it; its error is rethrown.
func runAsync(_ body: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    let failure = Mutex<(any Error)?>(nil)
    Task {
        do { try await body() } catch { failure.withLock { $0 = error } }
        done.signal()
    }
    done.wait()
    if let error = failure.withLock({ $0 }) { throw error }
}
