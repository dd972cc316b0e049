import Defense
import Foundation
import NumericKernels
import Testing
import TestSupport
import Gateway

@Suite struct SQLiteStoreTests {
    func snapshot(_ bits: [Int], words: Int = 1, queries: Int = 0) -> OccupancySnapshot {
        var w = [UInt64](repeating: 0, count: words)
        for b in bits { w[b / 64] |= 1 << UInt64(b % 64) }
        return OccupancySnapshot(hasherFingerprint: 42, hashBits: 6, tableCount: words, words: w, queryCount: queries)
    }

    @Test func commitsMergeBitsAndAddQueryCounts() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        _ = try await store.commit([OccupancyUpdate(user: "a", snapshot: snapshot([1, 5]), queryDelta: 3)])
        let merged = try await store.commit([OccupancyUpdate(user: "a", snapshot: snapshot([2]), queryDelta: 4),
                                             OccupancyUpdate(user: "b", snapshot: snapshot([63]), queryDelta: 1)])
        #expect(merged["a"]?.words == snapshot([1, 2, 5]).words && merged["a"]?.queryCount == 7)
        await store.close()
        // Reopened: the same state.
        let again = try SQLiteStore(path: path)
        let all = try await again.occupancies()
        #expect(all["a"]?.words == snapshot([1, 2, 5]).words && all["a"]?.queryCount == 7)
        #expect(all["b"]?.words == snapshot([63]).words)
        await again.close()
    }

    @Test func aSnapshotOfAnotherHasherIsRefusedAndChangesNothing() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        _ = try await store.commit([OccupancyUpdate(user: "a", snapshot: snapshot([1]), queryDelta: 1)])
        let other = OccupancySnapshot(hasherFingerprint: 7, hashBits: 6, tableCount: 1, words: [0xFF], queryCount: 0)
        await #expect(throws: StoreError.self) {
            try await store.commit([OccupancyUpdate(user: "b", snapshot: self.snapshot([3]), queryDelta: 1),
                                    OccupancyUpdate(user: "a", snapshot: other, queryDelta: 1)])
        }
        let all = try await store.occupancies()
        #expect(all["b"] == nil && all["a"]?.words == [2] && all["a"]?.queryCount == 1)
        await store.close()
    }

    @Test func secretIsCreatedOnceAndKept() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let first = try await store.loadOrCreateSecret()
        let second = try await store.loadOrCreateSecret()
        #expect(first.rawBytes == second.rawBytes && first.rawBytes.count == 32)
        await store.close()
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.loadOrCreateSecret().rawBytes == first.rawBytes)
        await reopened.close()
    }

    @Test func keysAreStoredHashedAndRevocable() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let key = try await addKey(store)
        let record = try await store.key(id: key.id)
        #expect(record?.keyHash == key.hash && record?.revokedAt == nil)
        #expect(try await store.revokeKey(id: key.id, at: Date()))
        #expect(try await !store.revokeKey(id: key.id, at: Date()))
        #expect(try await store.key(id: key.id)?.revokedAt != nil)
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(raw.range(of: Data(key.text.utf8)) == nil)
        await store.close()
    }

    @Test func journalMakesConcurrentUpdatesDurableInFewTransactions() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let transactions = ManagedCounter()
        // A store slower than the requests arrive: updates queued during a transaction must
        // share the next one.
        let journal = OccupancyJournal(store: TestStore(inner: store, delay: .milliseconds(20))) { _, _, _, _ in transactions.increment() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    _ = try await journal.commit(OccupancyUpdate(user: "u\(i % 5)", snapshot: self.snapshot([i % 64]), queryDelta: 1))
                }
            }
            try await group.waitForAll()
        }
        let all = try await store.occupancies()
        #expect(all.values.reduce(0) { $0 + $1.queryCount } == 200)
        #expect(all["u0"]?.words == snapshot(stride(from: 0, to: 200, by: 5).map { $0 % 64 }).words)
        #expect(transactions.value < 100, "\(transactions.value) transactions for 200 concurrent requests")
        await store.close()
    }

    /// The bytes of `path` and whether its WAL companion exists.
    func state(_ path: String) -> (Data?, Bool) {
        (FileManager.default.contents(atPath: path), FileManager.default.fileExists(atPath: path + "-wal"))
    }

    @Test func openingAnExistingStoreRefusesOtherFilesAndChangesNothing() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let dir = (path as NSString).deletingLastPathComponent
        // An empty file, a SQLite database of someone else's, a text file.
        let empty = dir + "/empty.sqlite", foreign = dir + "/foreign.sqlite", text = dir + "/text.sqlite"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        _ = FileManager.default.createFile(atPath: text, contents: Data("hello\n".utf8))
        try runSQLiteShell(foreign, "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        for (file, expected) in [(empty, "(no b4b_keys table)"), (foreign, "(no b4b_keys table)"), (text, "(not a SQLite database)")] {
            let before = state(file)
            var m: String?
            do { _ = try await StoreLocation.openExisting("sqlite:\(file)") } catch { m = "\(error)" }
            #expect(m?.contains("'\(file)' is not a b4b store \(expected)") == true, "\(m ?? "accepted")")
            let after = state(file)
            #expect(after.0 == before.0 && after.1 == before.1, "\(file) was changed")
        }
        var missing: String?
        do { _ = try await StoreLocation.openExisting("sqlite:\(dir)/none.sqlite") } catch { missing = "\(error)" }
        #expect(missing?.contains("no store at") == true && !FileManager.default.fileExists(atPath: dir + "/none.sqlite"))
        var directory: String?
        do { _ = try await StoreLocation.openExisting("sqlite:\(dir)") } catch { directory = "\(error)" }
        #expect(directory?.contains("is a directory") == true, "\(directory ?? "accepted")")
        // A prepared store opens, and its keys are read.
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        await store.close()
        let opened = try await StoreLocation.openExisting("sqlite:\(path)")
        #expect(try await opened.keys().isEmpty)
        await opened.close()
    }

    @Test func locationsAreParsedAndPasswordsRedacted() throws {
        #expect(StoreLocation.redacted("postgres://u:secret@h:5/db") == "postgres://u:***@h:5/db")
        #expect(try StoreLocation.open("postgres://u@localhost:1/db").location == "postgres://u@localhost:1/db")
        #expect(throws: StoreError.self) { try StoreLocation.open("sqlite:") }
    }
}

/// A SQLite store for journal tests whose commits can be made slower (`delay`) or to fail
/// (`failing`), and that cannot commit synchronously (so the journal takes its async path).
final class TestStore: GatewayStore {
    let inner: SQLiteStore
    let delay: Duration
    let failing = Mutex(false)
    init(inner: SQLiteStore, delay: Duration = .zero) {
        self.inner = inner
        self.delay = delay
    }
    var location: String { inner.location }
    func prepare() async throws { try await inner.prepare() }
    func loadOrCreateSecret() async throws -> ServerSecret { try await inner.loadOrCreateSecret() }
    func insertKey(_ record: APIKeyRecord) async throws { try await inner.insertKey(record) }
    func keys() async throws -> [APIKeyRecord] { try await inner.keys() }
    func key(id: String) async throws -> APIKeyRecord? { try await inner.key(id: id) }
    func revokeKey(id: String, at date: Date) async throws -> Bool { try await inner.revokeKey(id: id, at: date) }
    func occupancies() async throws -> [String: OccupancySnapshot] { try await inner.occupancies() }
    func commit(_ updates: [OccupancyUpdate]) async throws -> [String: OccupancySnapshot] {
        if delay > .zero { try await Task.sleep(for: delay) }
        if failing.withLock({ $0 }) { throw StoreError("test store is failing") }
        return try await inner.commit(updates)
    }
    func close() async { await inner.close() }
}

/// A thread-safe counter for tests.
final class ManagedCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

import Synchronization
