import Defense
import Foundation
import Logging
import NIOCore
import NIOPosix
import NumericKernels
import PostgresNIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The shared store for several gateway replicas: one PostgreSQL database.
///
/// Every replica keeps its accounts' occupancy in memory and commits it here; the update is
/// one `INSERT ... ON CONFLICT DO UPDATE SET bits = stored.bits | new.bits, query_count =
/// stored.query_count + delta` statement, a bitwise OR done by the server under the row's lock,
/// so concurrent replicas never lose each other's buckets. The statement returns the merged
/// row, which the replica merges back into its memory: each replica learns the other
/// replicas' buckets for an account at its next request of that account. Durability is
/// PostgreSQL's own (`synchronous_commit = on`, the default: the commit is fsync'ed before
/// the server acknowledges it).
///
/// Every operation is bounded: it fails with a ``StoreError`` when the server gives it no
/// answer for ``operationTimeout`` (see ``operationTimeoutSeconds``), so a server that stops,
/// crashes or becomes unreachable mid-run turns requests into 503 answers instead of leaving
/// them waiting on the pool's endless reconnection attempts.
public final class PostgresStore: GatewayStore {
    public let location: String
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    /// One direct connection's settings, for the reachability check of ``prepare()``.
    private let probe: PostgresConnection.Configuration
    /// `HOST:PORT`, for messages.
    private let endpoint: String
    /// The longest time one operation waits without an answer from the server; see
    /// ``operationTimeoutSeconds``.
    public let operationTimeout: Duration

    /// Seconds ``prepare()`` waits for the server (TCP connect, then start-up and
    /// authentication each) before failing.
    public static let connectTimeoutSeconds: Int64 = 5

    /// The default of ``operationTimeout``, in seconds: how long one store operation (a key
    /// lookup, an occupancy commit, listing keys, ...) may go without an answer from the server
    /// (waiting for a pooled connection, for a statement's result, or between two rows of a long
    /// result) before it fails with a ``StoreError`` naming the store and the operation.
    ///
    /// Without it an operation would wait as long as the server is away: the pool retries its
    /// connections without end (requests queued meanwhile are failed only by its circuit
    /// breaker, after a minute of failed attempts), and a statement already sent on a
    /// connection whose server went silent waits until TCP gives up. Ten seconds is far above a
    /// healthy commit (milliseconds, or up to PostgreSQL's `deadlock_timeout`, 1 s by default,
    /// when a commit is aborted and run again) and short enough that a client gets a 503 before
    /// its own timeout. On expiry the operation's connection is closed (the pool opens another
    /// one when the server is back).
    ///
    /// A commit whose statement reached the server before the bound expired may still be
    /// applied by the server (after the gateway gave up on it); the gateway then counts it as
    /// failed: its requests answer 503, and the query counts of answered requests it carried
    /// are kept and committed again. Such a retry counts those queries twice (and the failed
    /// requests' queries once). Bits are OR-ed, so a repeat adds no bucket; a stored query
    /// count can only come out higher than the queries answered, never lower.
    public static let operationTimeoutSeconds: Int64 = 10

    /// Connects (lazily) to `url`: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    /// - Parameter operationTimeout: the longest time one operation waits without an answer
    ///   from the server (default ``operationTimeoutSeconds``); at least one millisecond.
    /// - Throws: ``StoreError`` when the URL is malformed or names no database.
    public init(url: String, operationTimeout: Duration = .seconds(operationTimeoutSeconds)) throws {
        precondition(operationTimeout >= .milliseconds(1), "operationTimeout must be at least 1 ms, got \(operationTimeout)")
        let expected = "(expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)"
        guard let c = URLComponents(string: url), let host = c.host, !host.isEmpty else {
            throw StoreError("cannot parse PostgreSQL location '\(StoreLocation.redacted(url))' \(expected)")
        }
        let port = c.port ?? 5432
        guard (1...65535).contains(port) else {
            throw StoreError("PostgreSQL location '\(StoreLocation.redacted(url))' has port \(port), outside 1...65535")
        }
        let database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreError("PostgreSQL location '\(StoreLocation.redacted(url))' names no database \(expected)")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: c.user ?? "postgres", password: c.password,
            database: database, tls: .disable)
        configuration.options.maximumConnections = 8
        configuration.options.connectTimeout = .seconds(Self.connectTimeoutSeconds)
        var probe = PostgresConnection.Configuration(host: host, port: port, username: c.user ?? "postgres", password: c.password,
                                                     database: database, tls: .disable)
        probe.options.connectTimeout = .seconds(Self.connectTimeoutSeconds)
        self.probe = probe
        endpoint = "\(host):\(port)"
        location = StoreLocation.redacted(url)
        self.operationTimeout = operationTimeout
        let client = PostgresClient(configuration: configuration)
        self.client = client
        runner = Task { await client.run() }
    }

    /// Runs `body` on a pooled connection within ``operationTimeout``, and turns its failures
    /// into a ``StoreError`` naming the store and `what` was being done.
    ///
    /// The bound runs from the call to the first answer and from each answer the body records
    /// on the ``Deadline`` to the next: waiting for a connection counts. On expiry the
    /// caller gets the error at once; the body's task is cancelled, and its connection (if it
    /// has one) closed: a statement waiting for a silent server's answer cannot be cancelled
    /// otherwise, and a connection that got no answer for that long is not worth keeping.
    @discardableResult
    private func run<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection, Deadline) async throws -> T) async throws -> T {
        let client = self.client
        let limit = operationTimeout
        let expired = StoreError("PostgreSQL store \(location): \(what) got no answer within \(Self.describe(limit)) (is the server running and reachable, or a lock held elsewhere?)")
        do {
            return try await withDeadline(limit, expired: { expired }) { deadline in
                try await client.withConnection { connection in
                    do {
                        return try await withTaskCancellationHandler {
                            try await body(connection, deadline)
                        } onCancel: {
                            let _: EventLoopFuture<Void> = connection.close()
                        }
                    } catch {
                        // Closed on expiry: handed back to the pool only once closed. The pool
                        // learns of the close before this wait ends (its close handler was
                        // registered first), so it does not lend the dead connection to the
                        // next operation.
                        if Task.isCancelled { try? await connection.closeFuture.get() }
                        throw error
                    }
                }
            }
        } catch let error as StoreError {
            throw error
        } catch let error as PSQLError {
            throw StoreError("PostgreSQL store \(location): \(what) failed: \(error.serverInfo?[.message] ?? String(describing: error.code))")
        } catch {
            throw StoreError("PostgreSQL store \(location): \(what) failed (is the server running and reachable?): \(error)")
        }
    }

    /// Opens one direct connection and closes it: the pool retries failed connections without
    /// end, so an unreachable server, a refused login or an unknown database would make every
    /// query wait forever; this check fails within ``connectTimeoutSeconds`` (twice: connect,
    /// then start-up) with the reason.
    private func checkReachable() async throws {
        let probe = self.probe
        let limit = Self.connectTimeoutSeconds
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let connection = try await PostgresConnection.connect(configuration: probe, id: 0, logger: Self.logger)
                    try? await connection.close()
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(2 * limit))
                    throw StoreError("no answer within \(2 * limit) s")
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            throw StoreError("cannot connect to PostgreSQL at \(endpoint): \(Self.reason(error))")
        }
    }

    /// `10 s`, `0.5 s`: a duration for messages.
    static func describe(_ duration: Duration) -> String {
        String(format: "%g s", duration.seconds)
    }

    /// A short reason for a connection failure (the OS's text for a socket error, the
    /// server's message for a refused login), without library dumps.
    static func reason(_ error: any Error) -> String {
        switch error {
        case let e as PSQLError:
            if let message = e.serverInfo?[.message] { return message }
            if let underlying = e.underlying { return reason(underlying) }
            return "\(e.code)"
        case let e as NIOConnectionError:
            if let first = e.connectionErrors.first { return reason(first.error) }
            if let dns = e.dnsAError ?? e.dnsAAAAError { return "cannot resolve the host (\(dns))" }
            return "no address to connect to"
        case let e as IOError:
            return String(cString: strerror(e.errnoCode)).lowercased()
        case let e as ChannelError:
            if case .connectTimeout(let t) = e { return "no answer within \(t.nanoseconds / 1_000_000_000) s" }
            return "\(e)"
        case let e as StoreError:
            return e.message
        default:
            return "\(error)"
        }
    }

    public func prepare() async throws {
        try await checkReachable()
        try await run("creating tables") { connection, deadline in
            // Replicas starting together serialise their schema creation. (The lock is the
            // session's: closing the connection on expiry releases it too.)
            try await connection.query("SELECT pg_advisory_lock(7274402)", logger: Self.logger)
            deadline.answered()
            do {
                try await connection.query("CREATE TABLE IF NOT EXISTS b4b_meta (name text PRIMARY KEY, value text NOT NULL)", logger: Self.logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS b4b_keys (id text PRIMARY KEY, key_hash text NOT NULL, name text NOT NULL,
                        created_at double precision NOT NULL, revoked_at double precision)
                    """, logger: Self.logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS b4b_occupancy (user_id text PRIMARY KEY, fingerprint text NOT NULL,
                        hash_bits integer NOT NULL, table_count integer NOT NULL, bits varbit NOT NULL,
                        query_count bigint NOT NULL, updated_at double precision NOT NULL)
                    """, logger: Self.logger)
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(7274402)", logger: Self.logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(7274402)", logger: Self.logger)
        }
    }

    /// Checks that the database holds every b4b table, creating nothing (for `b4b keys list`
    /// and `b4b keys revoke`, which must not turn another database into a store).
    /// - Throws: ``StoreError`` when the server cannot be reached or a table is missing.
    public func checkTables() async throws {
        try await checkReachable()
        let missing: String? = try await run("looking for the b4b tables") { connection, _ in
            for name in StoreLocation.tables {
                let rows = try await connection.query("SELECT to_regclass(\(name))::text", logger: Self.logger)
                var found = false
                for try await value in rows.decode(String?.self) where value != nil { found = true }
                if !found { return name }
            }
            return nil
        }
        if let missing {
            throw StoreError("PostgreSQL database \(location) is not a b4b store (no \(missing) table); 'b4b keys add' or 'b4b serve' creates one")
        }
    }

    static let logger = Logger(label: "b4b.postgres")

    public func loadOrCreateSecret() async throws -> ServerSecret {
        let fresh = APIKey.hex(ServerSecret.generate().rawBytes)
        let location = self.location
        let stored: String = try await run("reading the server secret") { connection, _ in
            try await connection.query("INSERT INTO b4b_meta (name, value) VALUES ('server_secret', \(fresh)) ON CONFLICT (name) DO NOTHING", logger: Self.logger)
            for try await value in try await connection.query("SELECT value FROM b4b_meta WHERE name = 'server_secret'", logger: Self.logger).decode(String.self) {
                return value
            }
            throw StoreError("PostgreSQL store \(location): the server secret could not be stored")
        }
        return try decodeSecret(stored, location: location)
    }

    public func insertKey(_ record: APIKeyRecord) async throws {
        try await run("adding key \(record.id)") { connection, _ in
            try await connection.query("""
                INSERT INTO b4b_keys (id, key_hash, name, created_at, revoked_at)
                VALUES (\(record.id), \(record.keyHash), \(record.name), \(record.createdAt.timeIntervalSince1970), NULL)
                """, logger: Self.logger)
        }
    }

    public func keys() async throws -> [APIKeyRecord] {
        try await run("listing keys") { [self] connection, deadline in
            var out: [APIKeyRecord] = []
            let rows = try await connection.query("SELECT id, key_hash, name, created_at, revoked_at FROM b4b_keys ORDER BY created_at, id", logger: Self.logger)
            for try await (id, hash, name, created, revoked) in rows.decode((String, String, String, Double, Double?).self) {
                deadline.answered()
                out.append(try record(id: id, hash: hash, name: name, created: created, revoked: revoked))
            }
            return out
        }
    }

    public func key(id: String) async throws -> APIKeyRecord? {
        try await run("reading key \(id)") { [self] connection, _ in
            let rows = try await connection.query("SELECT id, key_hash, name, created_at, revoked_at FROM b4b_keys WHERE id = \(id)", logger: Self.logger)
            for try await (id, hash, name, created, revoked) in rows.decode((String, String, String, Double, Double?).self) {
                return try record(id: id, hash: hash, name: name, created: created, revoked: revoked)
            }
            return nil
        }
    }

    /// A key row; `double precision` columns can hold NaN or infinity, which are refused.
    private func record(id: String, hash: String, name: String, created: Double, revoked: Double?) throws -> APIKeyRecord {
        func time(_ value: Double, _ column: String) throws -> Date {
            guard value.isFinite, abs(value) < 1e11 else {
                throw StoreError("PostgreSQL store \(location): the stored account '\(id)' is corrupt: column \(column) of table b4b_keys is \(value)")
            }
            return Date(timeIntervalSince1970: value)
        }
        return APIKeyRecord(id: id, keyHash: hash, name: name, createdAt: try time(created, "created_at"),
                            revokedAt: try revoked.map { try time($0, "revoked_at") })
    }

    public func revokeKey(id: String, at date: Date) async throws -> Bool {
        try await run("revoking key \(id)") { connection, _ in
            let rows = try await connection.query("UPDATE b4b_keys SET revoked_at = \(date.timeIntervalSince1970) WHERE id = \(id) AND revoked_at IS NULL RETURNING id", logger: Self.logger)
            for try await _ in rows.decode(String.self) { return true }
            return false
        }
    }

    public func occupancies() async throws -> [String: OccupancySnapshot] {
        // Every account's row: at start-up, possibly many; the bound applies between rows.
        try await run("loading occupancy") { [self] connection, deadline in
            var out: [String: OccupancySnapshot] = [:]
            let rows = try await connection.query("SELECT user_id, fingerprint, hash_bits, table_count, bits::text, query_count FROM b4b_occupancy", logger: Self.logger)
            for try await (user, fingerprint, bits, tables, text, queries) in rows.decode((String, String, Int32, Int32, String, Int64).self) {
                deadline.answered()
                out[user] = try snapshot(user: user, fingerprint: fingerprint, hashBits: bits, tableCount: tables, bits: text, queryCount: queries)
            }
            return out
        }
    }

    private func snapshot(user: String, fingerprint: String, hashBits: Int32, tableCount: Int32, bits: String, queryCount: Int64) throws -> OccupancySnapshot {
        func corrupt(_ column: String, _ value: String) -> StoreError {
            StoreError("PostgreSQL store \(location): the stored occupancy '\(user)' is corrupt: column \(column) of table b4b_occupancy is \(value)")
        }
        guard let f = UInt64(fingerprint) else { throw corrupt("fingerprint", "'\(fingerprint.prefix(40))'") }
        guard let words = OccupancySnapshot.words(fromBitString: bits) else { throw corrupt("bits", "a bit string of \(bits.utf8.count) bits") }
        guard (1...24).contains(hashBits) else { throw corrupt("hash_bits", "\(hashBits)") }
        guard (1...Int(UInt16.max)).contains(Int(tableCount)) else { throw corrupt("table_count", "\(tableCount)") }
        guard queryCount >= 0 else { throw corrupt("query_count", "\(queryCount)") }
        return OccupancySnapshot(hasherFingerprint: f, hashBits: Int(hashBits), tableCount: Int(tableCount), words: words, queryCount: Int(queryCount))
    }

    public func commit(_ updates: [OccupancyUpdate]) async throws -> [String: OccupancySnapshot] {
        guard !updates.isEmpty else { return [:] }
        // Rows are locked in the order the statement inserts them. Replicas committing the
        // same accounts in different orders would deadlock (PostgreSQL then aborts one
        // transaction), so every replica locks in one order: sorted by account id.
        let updates = updates.sorted { $0.user < $1.user }
        let users = updates.map(\.user)
        let fingerprints = updates.map { String($0.snapshot.hasherFingerprint) }
        let hashBits = updates.map { Int32($0.snapshot.hashBits) }
        let tableCounts = updates.map { Int32($0.snapshot.tableCount) }
        let bits = updates.map(\.snapshot.bitString)
        let deltas = updates.map { Int64($0.queryDelta) }
        let now = Date().timeIntervalSince1970
        return try await run("committing occupancy") { [self] connection, deadline in
            // One statement, so one transaction: all updates or none. PostgreSQL may still
            // abort it to break a deadlock with a transaction from outside the gateway (say an
            // operator's statement locking these rows in another order) or on a serialization
            // failure; nothing of it was applied then, so it is run again (a few times, after a
            // short random pause) rather than failing the requests it carries. The abort is an
            // answer: each attempt gets the whole bound (a statement waiting for a lock held
            // elsewhere longer than the bound fails like one the server does not answer).
            var attempt = 1
            while true {
                do {
                    return try await commitStatement(on: connection, users: users, fingerprints: fingerprints, hashBits: hashBits,
                                                     tableCounts: tableCounts, bits: bits, deltas: deltas, now: now)
                } catch let error as PSQLError where attempt < Self.commitAttempts && Self.isTransient(error) {
                    Self.logger.warning("occupancy commit aborted by PostgreSQL; running it again", metadata: [
                        "sqlstate": "\(error.serverInfo?[.sqlState] ?? "")", "attempt": "\(attempt)", "accounts": "\(users.count)",
                    ])
                    deadline.answered()
                    try await Task.sleep(for: .milliseconds(Int.random(in: 5...50) * attempt))
                    attempt += 1
                }
            }
        }
    }

    /// Attempts of one commit when PostgreSQL aborts it as a deadlock victim or on a
    /// serialization failure.
    static let commitAttempts = 5

    /// Whether `error` is PostgreSQL aborting a transaction that may simply be run again:
    /// SQLSTATE 40P01 (deadlock detected) or 40001 (serialization failure).
    static func isTransient(_ error: PSQLError) -> Bool {
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }

    /// The commit's one statement (see ``commit(_:)``): merges every update into its row,
    /// returns the merged rows.
    private func commitStatement(on connection: PostgresConnection, users: [String], fingerprints: [String], hashBits: [Int32], tableCounts: [Int32],
                                 bits: [String], deltas: [Int64], now: Double) async throws -> [String: OccupancySnapshot] {
        // Rows recorded under another hasher are left alone and not returned (checked below).
        let rows = try await connection.query("""
            INSERT INTO b4b_occupancy AS o (user_id, fingerprint, hash_bits, table_count, bits, query_count, updated_at)
            SELECT u, f, hb, tc, b::varbit, q, \(now)
            FROM unnest(\(users)::text[], \(fingerprints)::text[], \(hashBits)::int4[], \(tableCounts)::int4[], \(bits)::text[], \(deltas)::int8[])
                WITH ORDINALITY AS t(u, f, hb, tc, b, q, i)
            ORDER BY i
            ON CONFLICT (user_id) DO UPDATE
                SET bits = o.bits | EXCLUDED.bits, query_count = o.query_count + EXCLUDED.query_count, updated_at = EXCLUDED.updated_at
                WHERE o.fingerprint = EXCLUDED.fingerprint AND length(o.bits) = length(EXCLUDED.bits)
            RETURNING user_id, fingerprint, hash_bits, table_count, bits::text, query_count
            """, logger: Self.logger)
        var merged: [String: OccupancySnapshot] = [:]
        for try await (user, fingerprint, hb, tc, text, queries) in rows.decode((String, String, Int32, Int32, String, Int64).self) {
            merged[user] = try snapshot(user: user, fingerprint: fingerprint, hashBits: hb, tableCount: tc, bits: text, queryCount: queries)
        }
        for user in users where merged[user] == nil {
            throw StoreError("PostgreSQL store \(location): the occupancy of '\(user)' was recorded under another hasher; it was not updated")
        }
        return merged
    }

    public func close() async {
        runner.cancel()
        _ = await runner.value
    }
}
