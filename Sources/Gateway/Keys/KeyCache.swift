import Logging
import Synchronization

/// Authenticates presented keys against the store, caching each account's record for a few
/// seconds so a request costs no store round trip.
///
/// A revoked key stops working within `ttl` seconds (the `b4b keys revoke` command writes to
/// the store, which every replica reads). Unknown ids are cached too, so a flood of made-up
/// keys costs one store read per id per `ttl`; the cache is emptied when it exceeds
/// ``capacity`` entries.
public final class KeyCache: Sendable {
    private struct Entry {
        var record: APIKeyRecord?
        var fetched: ContinuousClock.Instant
    }

    /// Most entries kept before the cache is emptied.
    public let capacity = 100_000
    private let store: any GatewayStore
    private let ttl: Duration
    private let entries = Mutex([String: Entry]())
    private let logger: Logger?

    /// - Parameters:
    ///   - ttlSeconds: how long a record is cached; clamped to
    ///     0...``GatewayConfiguration/maximumSeconds`` (the configuration refuses values outside).
    ///   - logger: receives the details of store failures (clients get a generic 503).
    public init(store: any GatewayStore, ttlSeconds: Double, logger: Logger? = nil) {
        self.store = store
        let seconds = ttlSeconds.isNaN ? 0 : min(max(ttlSeconds, 0), GatewayConfiguration.maximumSeconds)
        self.ttl = .nanoseconds(Int64(seconds * 1e9))
        self.logger = logger
    }

    /// The account id of the `Authorization` header's key.
    /// - Throws: ``GatewayError`` 401 (missing, malformed, unknown, revoked), or 503 when the
    ///   store cannot be read.
    public func authenticate(_ authorization: String?) async throws -> String {
        guard let authorization, !authorization.isEmpty else {
            throw GatewayError(.invalidKey, "missing API key: send 'Authorization: Bearer <key>'")
        }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw GatewayError(.invalidKey, "the Authorization header must be 'Bearer <key>'")
        }
        guard let key = APIKey(presented: String(parts[1]).trimmingCharacters(in: " ")) else {
            throw GatewayError(.invalidKey, "incorrect API key provided")
        }
        let now = ContinuousClock.now
        var record: APIKeyRecord?
        if let cached = entries.withLock({ $0[key.id] }), now - cached.fetched < ttl {
            record = cached.record
        } else {
            do { record = try await store.key(id: key.id) } catch {
                logger?.error("cannot read an API key's record", metadata: ["account": "\(key.id)", "error": "\(error)"])
                throw GatewayError(.storeUnavailable, "cannot check the API key: the state store is unavailable")
            }
            entries.withLock { e in
                if e.count >= capacity { e.removeAll() }
                e[key.id] = Entry(record: record, fetched: now)
            }
        }
        guard let record, key.matches(storedHash: record.keyHash) else {
            throw GatewayError(.invalidKey, "incorrect API key provided")
        }
        guard record.revokedAt == nil else {
            throw GatewayError(.revokedKey, "this API key (id \(record.id)) has been revoked")
        }
        return record.id
    }
}

private extension String {
    func trimmingCharacters(in character: Character) -> String {
        var s = Substring(self)
        while s.first == character { s.removeFirst() }
        while s.last == character { s.removeLast() }
        return String(s)
    }
}
