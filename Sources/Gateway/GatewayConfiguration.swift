import Defense
import Foundation

/// Every setting of `b4b serve`, with documented defaults; read from a JSON file (every key
/// optional) and overridden by command-line flags.
///
/// ```json
/// {"host": "127.0.0.1", "port": 8080, "upstream": "http://127.0.0.1:8000/v1",
///  "store": "sqlite:b4b-state.sqlite", "maxInputs": 256, "maxBodyBytes": 16777216,
///  "upstreamTimeoutSeconds": 30, "keyCacheSeconds": 2, "idleTimeoutSeconds": 60, "maxConnections": 4096,
///  "minBodyBytesPerSecond": 1024, "shutdownGraceSeconds": 25,
///  "defense": {"dimension": 384}}
/// ```
public struct GatewayConfiguration: Sendable, Equatable {
    /// Address to listen on. Default `127.0.0.1` (loopback only).
    public var host = "127.0.0.1"
    /// TCP port. Default 8080; 0 picks a free port (printed at start-up).
    public var port = 8080
    /// Base URL of the upstream OpenAI-compatible embeddings server (`/embeddings` is appended).
    /// Nil: `/v1/embeddings` answers 502 and only `/v1/protect` is useful.
    public var upstream: String? = nil
    /// Model name sent upstream when a request names none. Default nil (none sent).
    public var upstreamModel: String? = nil
    /// Seconds to wait for the upstream's complete answer before answering 504. Default 30; in
    /// ``minimumUpstreamTimeoutSeconds``...``maximumSeconds``.
    public var upstreamTimeoutSeconds = 30.0
    /// Where state lives: `sqlite:PATH` (default `sqlite:b4b-state.sqlite`) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    public var store = "sqlite:b4b-state.sqlite"
    /// Largest number of inputs (texts or vectors) in one request; more is answered 413. Default
    /// 256; in 1...``maximumInputs``.
    public var maxInputs = 256
    /// Largest request body in bytes; more is answered 413. Default 16 MiB; in
    /// ``minimumBodyBytes``...``maximumBodyBytes``.
    public var maxBodyBytes = 16 << 20
    /// Seconds an account's key record is cached: a revoked key stops working within this
    /// time. Default 2; 0 reads the store for every request; at most ``maximumSeconds``.
    public var keyCacheSeconds = 2.0
    /// Seconds a connection may stay silent while the gateway waits for it (a new request on
    /// an idle keep-alive connection, or the rest of a request's head or body) before it is
    /// closed (a partly sent request is answered 408 first). A connection waiting for its
    /// answer is never timed out by this. Default 60; in
    /// ``minimumIdleTimeoutSeconds``...``maximumSeconds``.
    public var idleTimeoutSeconds = 60.0
    /// The most connections open at once; one accepted beyond that is closed at once. Default
    /// 4096; in 1...``maximumConnections``. The gateway lowers it to what its file descriptor
    /// limit (`ulimit -n`) leaves room for, keeping 64 descriptors for its store, upstream and
    /// logs, and says so at start-up.
    public var maxConnections = 4096
    /// The slowest average rate, in bytes per second, at which a request's body may arrive,
    /// counted from ``idleTimeoutSeconds`` after its head (a grace for the first bytes); a body
    /// that falls behind is answered 408 and its connection closed, so a client trickling a
    /// body holds its connection for about the body's size over this rate at most. Default
    /// 1024 (8 kbit/s); 0 turns the check off; at most ``maximumBodyBytes``.
    public var minBodyBytesPerSecond = 1024
    /// Seconds a stop (SIGINT, SIGTERM) lets the requests in flight finish before their
    /// connections are closed; the queued counts are then committed and the store closed.
    /// Default 25, under the 30 s an orchestrator such as Kubernetes waits before killing the
    /// process, so the store closes cleanly first. A request still waiting on the upstream then
    /// gets no answer, but its rows stay recorded and committed. 0...``maximumSeconds``.
    public var shutdownGraceSeconds = 25.0
    /// When an answer waits for its occupancy to be durable: `"new-buckets"` (default: only
    /// when the account has buckets not yet durable, or fewer durable queries than the relative
    /// price's minimum; other query counts are committed within ``queryFlushMilliseconds``) or
    /// `"every-request"` (every answer waits for its commit). See ``CommitPolicy``.
    public var commitPolicy = CommitPolicyName.newBuckets
    /// With the `new-buckets` policy, the longest time (milliseconds) an answered request's
    /// query count stays uncommitted; a crash can lose at most this much of query counts (never
    /// a bucket). Default 100.
    public var queryFlushMilliseconds = 100
    /// The defense (dimension, hasher, cost, transforms, ...). Its `maxBatchRows` is set to
    /// ``maxInputs`` (a request's inputs are one batch), whatever the defense file says.
    public var defense = DefenseConfiguration()

    public init() {}

    /// The longest duration any setting in seconds may have: one day. (Longer ones are almost
    /// certainly mistakes, and durations are converted to nanosecond counts that must fit 64 bits.)
    public static let maximumSeconds = 86_400.0

    /// The shortest idle timeout: 0.1 s. A shorter one would close connections before a client
    /// on a real network could send its request.
    public static let minimumIdleTimeoutSeconds = 0.1

    /// The shortest upstream timeout: 0.001 s (one millisecond).
    public static let minimumUpstreamTimeoutSeconds = 0.001

    /// The most inputs one request may be allowed: 65536.
    public static let maximumInputs = 65_536
    /// The largest ``maxConnections``.
    public static let maximumConnections = 1_000_000

    /// The smallest body limit: 1024 bytes.
    public static let minimumBodyBytes = 1024

    /// The largest body limit: 1 GiB (a body is held in memory while it is read).
    public static let maximumBodyBytes = 1 << 30

    enum Key: String, CaseIterable {
        case host, port, upstream, upstreamModel, upstreamTimeoutSeconds, store, maxInputs, maxBodyBytes, keyCacheSeconds
        case idleTimeoutSeconds, maxConnections, minBodyBytesPerSecond, shutdownGraceSeconds, commitPolicy, queryFlushMilliseconds, defense
    }

    /// The names of the commit policies, as written in the configuration and on the command line.
    public enum CommitPolicyName: String, Sendable, CaseIterable {
        case newBuckets = "new-buckets"
        case everyRequest = "every-request"
    }

    /// The commit policy these settings describe for `defense` (the relative price's minimum
    /// query count is the threshold below which every answer waits).
    public var resolvedCommitPolicy: CommitPolicy {
        switch commitPolicy {
        case .everyRequest: return .everyRequest
        case .newBuckets:
            return .newBuckets(queryThreshold: defense.relativeCost?.minimumQueries ?? 0,
                               flushAfter: .milliseconds(queryFlushMilliseconds))
        }
    }

    /// Reads a JSON configuration; keys left out keep their defaults.
    /// - Throws: ``GatewayConfigurationError`` naming the bad key.
    public static func decode(from data: Data) throws -> GatewayConfiguration {
        // The project's own parser keeps booleans and numbers apart (Foundation's bridges 0 and
        // 1 to booleans) and refuses duplicate keys.
        let document: JSONValue
        do { document = try JSONValue.parse(Array(data)) } catch {
            throw GatewayConfigurationError(message: "the configuration is not valid JSON: \(error)")
        }
        guard case .object(let object) = document else {
            throw GatewayConfigurationError(message: "the configuration must be a JSON object, got \(document.typeName)")
        }
        let known = Set(Key.allCases.map(\.rawValue))
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw GatewayConfigurationError(message: "unknown key '\(unknown)' (known: \(Key.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var c = GatewayConfiguration()
        func string(_ key: Key) throws -> String? {
            switch object[key.rawValue] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            case let other?: throw GatewayConfigurationError(message: "'\(key.rawValue)' must be a string, got \(other.typeName)")
            }
        }
        func number(_ key: Key) throws -> Double? {
            switch object[key.rawValue] {
            case nil, .null?: return nil
            case .number(let n)?: return n
            case let other?: throw GatewayConfigurationError(message: "'\(key.rawValue)' must be a number, got \(other.typeName)")
            }
        }
        // An integer; one too large for Int is reported as outside `range` (the range
        // ``validated()`` checks), not as a non-integer.
        func integer(_ key: Key, in range: ClosedRange<Int>) throws -> Int? {
            guard let d = try number(key) else { return nil }
            guard d.isFinite, d == d.rounded() else { throw GatewayConfigurationError(message: "'\(key.rawValue)' must be an integer, got \(d)") }
            guard abs(d) < 1e15 else {
                throw GatewayConfigurationError(message: "'\(key.rawValue)' must be in \(range.lowerBound)...\(range.upperBound), got \(String(format: "%.0f", d))")
            }
            return Int(d)
        }
        c.host = try string(.host) ?? c.host
        c.port = try integer(.port, in: 0...65535) ?? c.port
        c.upstream = try string(.upstream)
        c.upstreamModel = try string(.upstreamModel)
        c.upstreamTimeoutSeconds = try number(.upstreamTimeoutSeconds) ?? c.upstreamTimeoutSeconds
        c.store = try string(.store) ?? c.store
        c.maxInputs = try integer(.maxInputs, in: 1...Self.maximumInputs) ?? c.maxInputs
        c.maxBodyBytes = try integer(.maxBodyBytes, in: Self.minimumBodyBytes...Self.maximumBodyBytes) ?? c.maxBodyBytes
        c.keyCacheSeconds = try number(.keyCacheSeconds) ?? c.keyCacheSeconds
        c.idleTimeoutSeconds = try number(.idleTimeoutSeconds) ?? c.idleTimeoutSeconds
        c.maxConnections = try integer(.maxConnections, in: 1...Self.maximumConnections) ?? c.maxConnections
        c.minBodyBytesPerSecond = try integer(.minBodyBytesPerSecond, in: 0...Self.maximumBodyBytes) ?? c.minBodyBytesPerSecond
        c.shutdownGraceSeconds = try number(.shutdownGraceSeconds) ?? c.shutdownGraceSeconds
        if let name = try string(.commitPolicy) {
            guard let policy = CommitPolicyName(rawValue: name) else {
                throw GatewayConfigurationError(message: "'commitPolicy' must be one of \(CommitPolicyName.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
            }
            c.commitPolicy = policy
        }
        c.queryFlushMilliseconds = try integer(.queryFlushMilliseconds, in: 1...60_000) ?? c.queryFlushMilliseconds
        switch object[Key.defense.rawValue] {
        case nil, .null?:
            break
        case .object?:
            // The section is handed to the defense's own decoder as JSON of its own. Foundation's
            // parser refuses what the project's accepts only for numbers beyond a double's
            // range: such a section must be refused, never dropped for the defaults.
            guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let defense = root[Key.defense.rawValue], JSONSerialization.isValidJSONObject(defense),
                  let d = try? JSONSerialization.data(withJSONObject: defense) else {
                throw GatewayConfigurationError(message: "'defense' holds a number beyond the range of a double")
            }
            do { c.defense = try DefenseConfiguration.decode(from: d) } catch {
                throw GatewayConfigurationError(message: "'defense': \(error)")
            }
        case let other?:
            throw GatewayConfigurationError(message: "'defense' must be a JSON object, got \(other.typeName)")
        }
        return c
    }

    /// Checks every field; returns the configuration with the defense's batch limit set.
    /// - Throws: ``GatewayConfigurationError`` naming the first bad field.
    public func validated() throws -> GatewayConfiguration {
        func fail(_ m: String) -> GatewayConfigurationError { GatewayConfigurationError(message: m) }
        guard (0...65535).contains(port) else { throw fail("port must be in 0...65535, got \(port)") }
        guard !host.isEmpty else { throw fail("host must not be empty") }
        // Printed at start-up and sent upstream: a control character could forge log lines.
        if let model = upstreamModel, let c = model.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            throw fail("upstreamModel must not contain control characters (found U+\(String(format: "%04X", c.value)))")
        }
        guard (1...Self.maximumInputs).contains(maxInputs) else { throw fail("maxInputs must be in 1...\(Self.maximumInputs), got \(maxInputs)") }
        guard (Self.minimumBodyBytes...Self.maximumBodyBytes).contains(maxBodyBytes) else {
            throw fail("maxBodyBytes must be in \(Self.minimumBodyBytes)...\(Self.maximumBodyBytes), got \(maxBodyBytes)")
        }
        let most = Self.maximumSeconds
        guard upstreamTimeoutSeconds >= Self.minimumUpstreamTimeoutSeconds, upstreamTimeoutSeconds <= most else {
            throw fail("upstreamTimeoutSeconds must be in \(Self.minimumUpstreamTimeoutSeconds)...\(Int(most)) (one day), got \(upstreamTimeoutSeconds)")
        }
        guard keyCacheSeconds >= 0, keyCacheSeconds <= most else {
            throw fail("keyCacheSeconds must be in 0...\(Int(most)) (one day), got \(keyCacheSeconds)")
        }
        guard idleTimeoutSeconds >= Self.minimumIdleTimeoutSeconds, idleTimeoutSeconds <= most else {
            throw fail("idleTimeoutSeconds must be in \(Self.minimumIdleTimeoutSeconds)...\(Int(most)) (one day), got \(idleTimeoutSeconds)")
        }
        guard (1...Self.maximumConnections).contains(maxConnections) else {
            throw fail("maxConnections must be in 1...\(Self.maximumConnections), got \(maxConnections)")
        }
        guard (0...Self.maximumBodyBytes).contains(minBodyBytesPerSecond) else {
            throw fail("minBodyBytesPerSecond must be in 0...\(Self.maximumBodyBytes), got \(minBodyBytesPerSecond)")
        }
        guard shutdownGraceSeconds >= 0, shutdownGraceSeconds <= most else {
            throw fail("shutdownGraceSeconds must be in 0...\(Int(most)) (one day), got \(shutdownGraceSeconds)")
        }
        guard (1...60_000).contains(queryFlushMilliseconds) else {
            throw fail("queryFlushMilliseconds must be in 1...60000, got \(queryFlushMilliseconds)")
        }
        do { _ = try StoreLocation.sqlitePath(of: store) } catch { throw fail("store: \(error)") }
        if let upstream {
            do { _ = try UpstreamClient(baseURL: upstream, timeout: upstreamTimeoutSeconds) } catch { throw fail("\(error)") }
        }
        var c = self
        c.defense.maxBatchRows = maxInputs
        do { c.defense = try c.defense.validated() } catch { throw fail("defense: \(error)") }
        return c
    }

    /// The settings as printed at start-up: no secret (a store password is masked).
    public var summary: String {
        let d = defense
        let cost: String
        switch d.cost {
        case .exponential(let e): cost = "exponential(lambda \(e.lambda), alpha \(e.alpha), beta \(e.beta))"
        case .constant(let s): cost = "constant(sigma \(s))"
        case .none: cost = "none"
        }
        let hasher: String
        switch d.hasher {
        case .random(let centred): hasher = centred ? "random, centred" : "random through the origin"
        case .signs(let centred): hasher = centred ? "random signs, centred" : "random signs through the origin"
        case .fitted: hasher = "fitted principal directions"
        }
        return """
            listen \(host):\(port); upstream \(upstream ?? "none") (timeout \(upstreamTimeoutSeconds) s\(upstreamModel.map { ", default model \($0)" } ?? ""))
            store \(StoreLocation.redacted(store)); limits: \(maxInputs) inputs, \(maxBodyBytes) bytes per request; key cache \(keyCacheSeconds) s; idle timeout \(idleTimeoutSeconds) s; at most \(maxConnections) connections; bodies \(minBodyBytesPerSecond == 0 ? "at any rate" : "at \(minBodyBytesPerSecond) bytes/s or more"); shutdown grace \(shutdownGraceSeconds) s
            commit policy \(commitPolicy.rawValue)\(commitPolicy == .newBuckets ? " (query counts committed within \(queryFlushMilliseconds) ms; buckets before the answer)" : " (every answer after its commit)")
            defense: dimension \(d.dimension) -> \(d.outputDimension), \(d.tableCount) table(s) of 2^\(d.hashBits) buckets, hasher \(hasher), \
            cost \(cost)\(d.relativeCost == nil ? "" : " + relative price"), units \(d.units.rawValue), transforms [\(d.transforms.map(\.name).joined(separator: ", "))]
            """
    }
}

/// A bad gateway setting.
public struct GatewayConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { "invalid gateway configuration: \(message)" }
}
