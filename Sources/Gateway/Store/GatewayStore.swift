import Defense
import Foundation
import NumericKernels

/// Where the gateway keeps what must survive restarts: the server secret, the accounts (key
/// hashes) and each account's occupancy.
///
/// Two implementations: ``SQLiteStore`` (one file, one gateway process) and
/// ``PostgresStore`` (several gateway replicas sharing one database). Occupancy is only ever
/// merged (bitwise OR of the bucket bits, addition of query counts), never overwritten, so
/// replicas and restarts cannot lose each other's buckets.
public protocol GatewayStore: Sendable {
    /// Where the store is, for logs (never includes a password).
    var location: String { get }
    /// Creates the tables if they do not exist.
    func prepare() async throws
    /// The server secret, created (32 random bytes) on first use. Concurrent first starts agree
    /// on one secret.
    func loadOrCreateSecret() async throws -> ServerSecret
    /// Adds an account.
    func insertKey(_ record: APIKeyRecord) async throws
    /// Every account, oldest first.
    func keys() async throws -> [APIKeyRecord]
    /// One account (nil when unknown).
    func key(id: String) async throws -> APIKeyRecord?
    /// Marks an account revoked; returns false when there is no such (unrevoked) account.
    func revokeKey(id: String, at date: Date) async throws -> Bool
    /// Every account's stored occupancy.
    func occupancies() async throws -> [String: OccupancySnapshot]
    /// Merges `updates` in one durable transaction (bits OR-ed, query counts added) and returns
    /// the merged occupancy of every updated user. When this returns, the updates survive a
    /// crash of the process (and, with the stores' settings, of the machine).
    /// - Throws: ``StoreError`` when the store fails (nothing is then written) or a stored
    ///   occupancy was recorded under another hasher (that account is never overwritten;
    ///   SQLite then writes nothing, PostgreSQL still commits the other accounts' updates).
    func commit(_ updates: [OccupancyUpdate]) async throws -> [String: OccupancySnapshot]
    /// Releases connections.
    func close() async
}

/// A store that can commit on the calling thread: the ``OccupancyJournal``'s flushing task
/// then commits batch after batch in place, without an async hop per transaction.
public protocol SynchronousCommitStore: GatewayStore {
    /// ``GatewayStore/commit(_:)``, blocking the calling thread until durable.
    func commitSynchronously(_ updates: [OccupancyUpdate]) throws -> [String: OccupancySnapshot]
}

/// One account's contribution to a commit: the buckets it occupies now (a superset of what
/// the store has from this process) and the number of rows it sent since its last commit.
public struct OccupancyUpdate: Sendable {
    /// The account id.
    public var user: String
    /// The account's occupancy after the requests being committed.
    public var snapshot: OccupancySnapshot
    /// Rows sent by the requests being committed (added to the stored query count).
    public var queryDelta: Int

    public init(user: String, snapshot: OccupancySnapshot, queryDelta: Int) {
        self.user = user
        self.snapshot = snapshot
        self.queryDelta = queryDelta
    }
}

/// A state store failure, naming the store and the operation.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Opens the store named by a location string.
public enum StoreLocation {
    /// `sqlite:PATH` or a plain path for SQLite, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`
    /// (or `postgresql://`) for PostgreSQL.
    /// - Throws: ``StoreError`` for an unrecognised location (another `SCHEME://`).
    public static func open(_ text: String) throws -> any GatewayStore {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            return try PostgresStore(url: text)
        }
        guard let path = try sqlitePath(of: text) else { throw StoreError("store location '\(redacted(text))' is not supported") }
        return try SQLiteStore(path: path)
    }

    /// Opens a store that must already exist and hold the b4b tables, creating and changing
    /// nothing (for `b4b keys list` and `b4b keys revoke`; only `b4b keys add` and `b4b serve`
    /// create a store). A SQLite file is checked before it is opened for writing, so a file
    /// that is not a b4b store keeps its journal mode and tables; a PostgreSQL database without
    /// the b4b tables is refused without creating them.
    /// - Throws: ``StoreError`` when there is no such file, it is not a SQLite database, or it
    ///   (or the database) has no b4b tables.
    public static func openExisting(_ text: String) async throws -> any GatewayStore {
        guard let path = try sqlitePath(of: text) else {
            let store = try PostgresStore(url: text)
            do { try await store.checkTables() } catch {
                await store.close()
                throw error
            }
            return store
        }
        try SQLiteStore.checkIsStore(path: path, creator: "'b4b keys add --store \(text)'")
        return try SQLiteStore(path: path)
    }

    /// The b4b tables, as ``GatewayStore/prepare()`` creates them.
    static let tables = ["b4b_keys", "b4b_occupancy", "b4b_meta"]

    /// The SQLite file a location names (nil for a PostgreSQL location).
    /// - Throws: ``StoreError`` for an empty path or a URL of an unsupported scheme.
    public static func sqlitePath(of text: String) throws -> String? {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") { return nil }
        if let scheme = text.range(of: "://").map({ String(text[..<$0.lowerBound]) }), !scheme.contains("/"), !text.hasPrefix("sqlite:") {
            throw StoreError("unsupported store location '\(redacted(text))': scheme '\(scheme)' is not supported (use sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)")
        }
        let path = text.hasPrefix("sqlite:") ? String(text.dropFirst("sqlite:".count)) : text
        guard !path.isEmpty else { throw StoreError("store location '\(text)' names no file") }
        return path
    }

    /// The location with any password replaced by `***` (for logs and start-up output).
    public static func redacted(_ text: String) -> String {
        guard text.contains("://"), let components = URLComponents(string: text), components.password != nil else { return text }
        var c = components
        c.password = "***"
        return c.string ?? "postgres://***"
    }
}

extension OccupancySnapshot {
    /// An empty snapshot of the same hasher and shape.
    func emptied() -> OccupancySnapshot {
        OccupancySnapshot(hasherFingerprint: hasherFingerprint, hashBits: hashBits, tableCount: tableCount,
                          words: [UInt64](repeating: 0, count: words.count), queryCount: 0)
    }

    /// Union of bits with `other` (same shape), query count `queryCount + delta`.
    func merged(with other: OccupancySnapshot, addingQueries delta: Int) -> OccupancySnapshot {
        precondition(words.count == other.words.count, "merging occupancies of different shapes")
        return OccupancySnapshot(hasherFingerprint: hasherFingerprint, hashBits: hashBits, tableCount: tableCount,
                                 words: zip(words, other.words).map { $0 | $1 }, queryCount: queryCount + delta)
    }

    /// Fraction of occupied buckets averaged over tables (as ``Occupancy/coverage``).
    public var coverage: Double {
        let occupied = words.reduce(0) { $0 + $1.nonzeroBitCount }
        return Double(occupied) / Double((1 << hashBits) * tableCount)
    }

    /// The bits as little-endian bytes (8 per word), for BLOB storage.
    var wordBytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(words.count * 8)
        for w in words { for b in 0..<8 { out.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(b)))) } }
        return out
    }

    /// Words from little-endian bytes (nil when the length is not a multiple of 8).
    static func words(fromBytes bytes: [UInt8]) -> [UInt64]? {
        guard bytes.count % 8 == 0 else { return nil }
        return (0 ..< bytes.count / 8).map { i in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[8 * i + $1]) << (8 * UInt64($1)) }
        }
    }

    /// The bits as a PostgreSQL bit string ('0'/'1', bit `64 w + b` is bit `b` of word `w`).
    var bitString: String {
        var out = [UInt8](repeating: UInt8(ascii: "0"), count: words.count * 64)
        for (w, word) in words.enumerated() where word != 0 {
            for b in 0..<64 where word >> UInt64(b) & 1 == 1 { out[64 * w + b] = UInt8(ascii: "1") }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Words from a bit string (nil when malformed or its length is not a multiple of 64).
    static func words(fromBitString text: String) -> [UInt64]? {
        let bits = Array(text.utf8)
        guard bits.count % 64 == 0 else { return nil }
        var words = [UInt64](repeating: 0, count: bits.count / 64)
        for (i, c) in bits.enumerated() {
            switch c {
            case UInt8(ascii: "1"): words[i / 64] |= 1 << UInt64(i % 64)
            case UInt8(ascii: "0"): break
            default: return nil
            }
        }
        return words
    }
}
