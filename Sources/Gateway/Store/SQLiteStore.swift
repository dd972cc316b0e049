import Defense
import Foundation
import GRDB
import NumericKernels

/// The embedded store: one SQLite file, for a single gateway process (and the `b4b keys`
/// command run beside it).
///
/// Durability: the database is in WAL mode with `synchronous = FULL`, so every committed
/// transaction has been fsync'ed to the write-ahead log before ``commit(_:)`` returns; a crash
/// of the process or the machine loses no committed occupancy. The gateway batches concurrent
/// requests' updates into one transaction (group commit, see ``OccupancyJournal``), so one
/// fsync serves every request waiting at that moment.
public final class SQLiteStore: SynchronousCommitStore {
    public let location: String
    private let pool: DatabasePool

    /// Opens (creating if missing) the database at `path`.
    /// - Throws: ``StoreError`` when the file cannot be opened.
    public init(path: String) throws {
        location = "sqlite:\(path)"
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError("cannot open SQLite store '\(path)': \(error)")
        }
    }

    private func run<T: Sendable>(_ what: String, _ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("SQLite store \(location): \(what) failed: \(error)")
        }
    }

    public func prepare() async throws {
        try await run("creating tables") { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS b4b_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS b4b_keys (
                    id TEXT PRIMARY KEY, key_hash TEXT NOT NULL, name TEXT NOT NULL,
                    created_at DOUBLE NOT NULL, revoked_at DOUBLE);
                CREATE TABLE IF NOT EXISTS b4b_occupancy (
                    user_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, hash_bits INTEGER NOT NULL,
                    table_count INTEGER NOT NULL, bits BLOB NOT NULL, query_count INTEGER NOT NULL,
                    updated_at DOUBLE NOT NULL);
                """)
        }
    }

    public func loadOrCreateSecret() async throws -> ServerSecret {
        let fresh = APIKey.hex(ServerSecret.generate().rawBytes)
        let stored: String = try await run("reading the server secret") { db in
            try db.execute(sql: "INSERT OR IGNORE INTO b4b_meta (name, value) VALUES ('server_secret', ?)", arguments: [fresh])
            guard let value = try String.fetchOne(db, sql: "SELECT value FROM b4b_meta WHERE name = 'server_secret'") else {
                throw StoreError("SQLite store: the server secret could not be stored")
            }
            return value
        }
        return try decodeSecret(stored, location: location)
    }

    public func insertKey(_ record: APIKeyRecord) async throws {
        try await run("adding key \(record.id)") { db in
            try db.execute(
                sql: "INSERT INTO b4b_keys (id, key_hash, name, created_at, revoked_at) VALUES (?, ?, ?, ?, NULL)",
                arguments: [record.id, record.keyHash, record.name, record.createdAt.timeIntervalSince1970])
        }
    }

    public func keys() async throws -> [APIKeyRecord] {
        try await run("listing keys") { db in
            try Row.fetchAll(db, sql: "SELECT id, key_hash, name, created_at, revoked_at FROM b4b_keys ORDER BY created_at, id").map(Self.record)
        }
    }

    public func key(id: String) async throws -> APIKeyRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, key_hash, name, created_at, revoked_at FROM b4b_keys WHERE id = ?", arguments: [id]).map(Self.record)
        }
    }

    private static func record(_ row: Row) -> APIKeyRecord {
        let revoked: Double? = row["revoked_at"]
        return APIKeyRecord(id: row["id"], keyHash: row["key_hash"], name: row["name"],
                            createdAt: Date(timeIntervalSince1970: row["created_at"]),
                            revokedAt: revoked.map { Date(timeIntervalSince1970: $0) })
    }

    public func revokeKey(id: String, at date: Date) async throws -> Bool {
        try await run("revoking key \(id)") { db in
            try db.execute(sql: "UPDATE b4b_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           arguments: [date.timeIntervalSince1970, id])
            return db.changesCount > 0
        }
    }

    public func occupancies() async throws -> [String: OccupancySnapshot] {
        let location = self.location
        return try await run("loading occupancy") { db in
            var result: [String: OccupancySnapshot] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT user_id, fingerprint, hash_bits, table_count, bits, query_count FROM b4b_occupancy") {
                let user: String = row["user_id"]
                result[user] = try Self.snapshot(row, location: location)
            }
            return result
        }
    }

    private static func snapshot(_ row: Row, location: String) throws -> OccupancySnapshot {
        let user: String = row["user_id"]
        let fingerprintText: String = row["fingerprint"]
        let bits: Data = row["bits"]
        guard let fingerprint = UInt64(fingerprintText), let words = OccupancySnapshot.words(fromBytes: Array(bits)) else {
            throw StoreError("\(location): the stored occupancy of '\(user)' is corrupt")
        }
        return OccupancySnapshot(hasherFingerprint: fingerprint, hashBits: row["hash_bits"], tableCount: row["table_count"],
                                 words: words, queryCount: row["query_count"])
    }

    public func commit(_ updates: [OccupancyUpdate]) async throws -> [String: OccupancySnapshot] {
        try commitSynchronously(updates)
    }

    /// ``commit(_:)`` on the calling thread (one transaction, fsync'ed before returning).
    public func commitSynchronously(_ updates: [OccupancyUpdate]) throws -> [String: OccupancySnapshot] {
        let location = self.location
        let now = Date().timeIntervalSince1970
        do {
            return try pool.write { db in
                var merged: [String: OccupancySnapshot] = [:]
                let select = try db.cachedStatement(sql: "SELECT user_id, fingerprint, hash_bits, table_count, bits, query_count FROM b4b_occupancy WHERE user_id = ?")
                let upsert = try db.cachedStatement(sql: """
                    INSERT INTO b4b_occupancy (user_id, fingerprint, hash_bits, table_count, bits, query_count, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET bits = excluded.bits, query_count = excluded.query_count, updated_at = excluded.updated_at
                    """)
                for update in updates {
                    var result = update.snapshot.emptied().merged(with: update.snapshot, addingQueries: update.queryDelta)
                    if let row = try Row.fetchOne(select, arguments: [update.user]) {
                        let stored = try Self.snapshot(row, location: location)
                        guard stored.hasherFingerprint == update.snapshot.hasherFingerprint, stored.words.count == update.snapshot.words.count else {
                            throw StoreError("\(location): the occupancy of '\(update.user)' was recorded under another hasher (fingerprint \(stored.hasherFingerprint), now \(update.snapshot.hasherFingerprint))")
                        }
                        result = stored.merged(with: update.snapshot, addingQueries: update.queryDelta)
                    }
                    try upsert.execute(arguments: [update.user, String(result.hasherFingerprint), result.hashBits, result.tableCount,
                                                   Data(result.wordBytes), result.queryCount, now])
                    merged[update.user] = result
                }
                return merged
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("SQLite store \(location): committing occupancy failed: \(error)")
        }
    }

    public func close() async {
        try? pool.close()
    }
}

/// Decodes a stored hex secret.
func decodeSecret(_ hex: String, location: String) throws -> ServerSecret {
    let digits = Array(hex.utf8)
    guard digits.count % 2 == 0, digits.allSatisfy(APIKey.isHex) else {
        throw StoreError("\(location): the stored server secret is corrupt")
    }
    func value(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : c - UInt8(ascii: "a") + 10 }
    let bytes = stride(from: 0, to: digits.count, by: 2).map { value(digits[$0]) << 4 | value(digits[$0 + 1]) }
    do { return try ServerSecret(bytes: bytes) } catch {
        throw StoreError("\(location): the stored server secret is unusable: \(error)")
    }
}
