import Defense
import Foundation
import GRDB
import NumericKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    private let path: String
    /// The opened file's device and inode: a store whose file was deleted or replaced while
    /// open would take commits into a file nobody will find again.
    private let identity: (device: UInt64, inode: UInt64)

    /// Opens (creating if missing) the database at `path`: a new file, an empty one, an empty
    /// SQLite database or a b4b store, never another application's database.
    /// - Throws: ``StoreError`` when the file cannot be opened or holds something else.
    public init(path: String) throws {
        location = "sqlite:\(path)"
        if let present = try Self.tableNames(path: path), !present.isEmpty,
           !StoreLocation.tables.contains(where: present.contains) {
            let found = present.sorted().prefix(5).joined(separator: ", ")
            throw StoreError("'\(path)' is another application's SQLite database (tables: \(found)), not a b4b store; give the path of a b4b store or of a new file")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        self.path = path
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_READONLY || error.resultCode == .SQLITE_CANTOPEN {
            throw StoreError("cannot open SQLite store '\(path)': the file and its directory must be writable, also to list keys (SQLite keeps its write-ahead log and index beside the file): \(error.message ?? "\(error)")")
        } catch {
            throw StoreError("cannot open SQLite store '\(path)': \(error)")
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw StoreError("cannot open SQLite store '\(path)': \(String(cString: strerror(errno)).lowercased())")
        }
        identity = (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// Fails when the store's file is no longer the one opened (deleted, or replaced by
    /// another file): its commits would then be lost with the process.
    private func checkFileIsOpened() throws {
        var info = stat()
        guard stat(path, &info) == 0, UInt64(info.st_dev) == identity.device, UInt64(info.st_ino) == identity.inode else {
            throw StoreError("\(location): the store's file was deleted or replaced while open; nothing is written to it (restore the file, or restart on a store)")
        }
    }

    /// Checks, without creating or changing anything, that `path` is a b4b store: an existing
    /// regular file, a SQLite database, holding every b4b table.
    /// - Parameter creator: the command that would create the store, for the messages.
    /// - Throws: ``StoreError`` naming what is wrong.
    public static func checkIsStore(path: String, creator: String) throws {
        guard let present = try tableNames(path: path) else { throw StoreError("no store at '\(path)'; \(creator) creates it") }
        if let missing = StoreLocation.tables.first(where: { !present.contains($0) }) {
            throw StoreError("'\(path)' is not a b4b store (no \(missing) table); 'b4b keys add' or 'b4b serve' creates one")
        }
    }

    /// The tables of the SQLite database at `path`, read without creating or changing
    /// anything; nil when there is no file, empty for an empty file.
    /// - Throws: ``StoreError`` for a directory, a special file, a file that is not a SQLite
    ///   database, or one that cannot be read.
    static func tableNames(path: String) throws -> Set<String>? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw StoreError("cannot open SQLite store '\(path)': \(String(cString: strerror(code)).lowercased())")
        }
        if info.st_mode & S_IFMT == S_IFDIR { throw StoreError("store '\(path)' is a directory, not a SQLite file") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw StoreError("store '\(path)' is not a regular file") }
        guard info.st_size > 0 else { return [] }
        // A read-only connection: it neither creates tables nor switches the journal mode.
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            let present = try queue.read { db in
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
            }
            try queue.close()
            return present
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw StoreError("'\(path)' is not a b4b store (not a SQLite database)")
        } catch {
            throw StoreError("cannot read SQLite store '\(path)': \(error)")
        }
    }

    private func run<T: Sendable>(_ what: String, _ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try checkFileIsOpened()
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
        let location = self.location
        return try await run("listing keys") { db in
            try Row.fetchAll(db, sql: "SELECT id, key_hash, name, created_at, revoked_at FROM b4b_keys ORDER BY created_at, id").map {
                try Self.record($0, location: location)
            }
        }
    }

    public func key(id: String) async throws -> APIKeyRecord? {
        let location = self.location
        do {
            return try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT id, key_hash, name, created_at, revoked_at FROM b4b_keys WHERE id = ?", arguments: [id]).map {
                    try Self.record($0, location: location)
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("SQLite store \(location): reading key \(id) failed: \(error)")
        }
    }

    /// A key row, every column checked (a row edited by hand must not crash the gateway).
    private static func record(_ row: Row, location: String) throws -> APIKeyRecord {
        let stored = StoredRow(row: row, table: "b4b_keys", what: "account", location: location)
        let id: String = try stored.value("id", of: "?")
        let created: Double = try stored.timestamp("created_at", of: id)
        let revoked: Double? = try stored.optionalTimestamp("revoked_at", of: id)
        return APIKeyRecord(id: id, keyHash: try stored.value("key_hash", of: id), name: try stored.value("name", of: id),
                            createdAt: Date(timeIntervalSince1970: created),
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
                // Read through the checked accessor: the column is not NOT NULL, and a NULL or
                // a blob there must be reported, not trap.
                let user: String = try StoredRow(row: row, table: "b4b_occupancy", what: "occupancy", location: location).value("user_id", of: "?")
                result[user] = try Self.snapshot(row, location: location)
            }
            return result
        }
    }

    private static func snapshot(_ row: Row, location: String) throws -> OccupancySnapshot {
        let stored = StoredRow(row: row, table: "b4b_occupancy", what: "occupancy", location: location)
        let user: String = try stored.value("user_id", of: "?")
        let fingerprintText: String = try stored.value("fingerprint", of: user)
        let bits: Data = try stored.value("bits", of: user)
        guard let fingerprint = UInt64(fingerprintText) else { throw stored.corrupt("fingerprint", of: user) }
        guard let words = OccupancySnapshot.words(fromBytes: Array(bits)) else { throw stored.corrupt("bits", of: user) }
        let hashBits: Int = try stored.value("hash_bits", of: user)
        let tableCount: Int = try stored.value("table_count", of: user)
        let queryCount: Int = try stored.value("query_count", of: user)
        guard (1...24).contains(hashBits) else { throw stored.corrupt("hash_bits", of: user) }
        guard (1...Int(UInt16.max)).contains(Int(tableCount)) else { throw stored.corrupt("table_count", of: user) }
        guard queryCount >= 0 else { throw stored.corrupt("query_count", of: user) }
        return OccupancySnapshot(hasherFingerprint: fingerprint, hashBits: hashBits, tableCount: tableCount,
                                 words: words, queryCount: queryCount)
    }

    public func commit(_ updates: [OccupancyUpdate]) async throws -> [String: OccupancySnapshot] {
        try commitSynchronously(updates)
    }

    /// ``commit(_:)`` on the calling thread (one transaction, fsync'ed before returning).
    public func commitSynchronously(_ updates: [OccupancyUpdate]) throws -> [String: OccupancySnapshot] {
        let location = self.location
        let now = Date().timeIntervalSince1970
        try checkFileIsOpened()
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

/// Reads one stored row's columns without trusting their types: SQLite keeps whatever a
/// hand-made `UPDATE` put in a column, and GRDB's non-optional subscripts trap on a value they
/// cannot convert.
private struct StoredRow {
    let row: Row
    let table: String
    let what: String
    let location: String

    /// The error for a column holding something unusable.
    func corrupt(_ column: String, of id: String) -> StoreError {
        let value = row[column] as DatabaseValue
        let shown: String
        switch value.storage {
        case .null: shown = "NULL"
        case .int64(let i): shown = "\(i)"
        case .double(let d): shown = "\(d)"
        case .string(let t): shown = "'\(t.count > 40 ? t.prefix(40) + "..." : t)'"
        case .blob(let b): shown = "a blob of \(b.count) bytes"
        }
        return StoreError("\(location): the stored \(what) '\(id)' is corrupt: column \(column) of table \(table) is \(shown)")
    }

    /// A non-null value of type `T`.
    func value<T: DatabaseValueConvertible>(_ column: String, of id: String) throws -> T {
        guard let v = T.fromDatabaseValue(row[column] as DatabaseValue) else { throw corrupt(column, of: id) }
        return v
    }

    /// A finite time (seconds since 1970) within a plausible range.
    func timestamp(_ column: String, of id: String) throws -> Double {
        guard let v = Double.fromDatabaseValue(row[column] as DatabaseValue), v.isFinite, abs(v) < 1e11 else { throw corrupt(column, of: id) }
        return v
    }

    /// A timestamp or NULL.
    func optionalTimestamp(_ column: String, of id: String) throws -> Double? {
        if (row[column] as DatabaseValue).isNull { return nil }
        return try timestamp(column, of: id)
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
