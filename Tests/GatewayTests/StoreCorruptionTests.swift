import Defense
import Foundation
import Testing
import TestSupport
import Gateway

/// Stores holding rows edited by hand: reported, naming row, column and value, never fatal.
@Suite struct CorruptStoreTests {
    /// Runs SQL on the store file with the sqlite3 shell (the gateway offers no way to write
    /// garbage, which is the point).
    func corrupt(_ path: String, _ sql: String) throws { try runSQLiteShell(path, sql) }

    @Test func aNonNumericRevocationTimeIsReportedNotFatal() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let key = try await addKey(store)
        await store.close()
        try corrupt(path, "UPDATE b4b_keys SET revoked_at = 'yesterday'")
        let reopened = try SQLiteStore(path: path)
        for read in [{ _ = try await reopened.key(id: key.id) }, { _ = try await reopened.keys() }] as [@Sendable () async throws -> Void] {
            do {
                try await read()
                Issue.record("a corrupt row was read")
            } catch let error as StoreError {
                #expect(error.message.contains("column revoked_at") && error.message.contains("'yesterday'")
                        && error.message.contains(key.id), "\(error.message)")
            }
        }
        await reopened.close()
    }

    /// A closed store holding one account, "a", with its occupancy.
    func storeWithOneAccount(_ path: String) async throws -> OccupancySnapshot {
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let snapshot = OccupancySnapshot(hasherFingerprint: 42, hashBits: 6, tableCount: 1, words: [3], queryCount: 0)
        _ = try await store.commit([OccupancyUpdate(user: "a", snapshot: snapshot, queryDelta: 2)])
        await store.close()
        return snapshot
    }

    @Test("a corrupt occupancy row is reported, naming its column, not read and not a trap", arguments: [
        ("query_count = 'many'", ["column query_count", "'many'"]),
        // The account id column is not NOT NULL: reading it without the check trapped.
        ("user_id = NULL", ["column user_id of table b4b_occupancy", "NULL"]),
        ("user_id = x'00ff'", ["column user_id of table b4b_occupancy", "a blob of 2 bytes"]),
    ])
    func aCorruptOccupancyRowIsReportedNotFatal(assignment: String, words: [String]) async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        _ = try await storeWithOneAccount(path)
        try corrupt(path, "UPDATE b4b_occupancy SET \(assignment)")
        let reopened = try SQLiteStore(path: path)
        do {
            _ = try await reopened.occupancies()
            Issue.record("a corrupt row was read")
        } catch let error as StoreError {
            for word in words { #expect(error.message.contains(word), "\(error.message) lacks \(word)") }
        }
        await reopened.close()
    }

    @Test("a store whose file is deleted or replaced while open refuses to commit (the commits would be lost)", arguments: [false, true])
    func aDeletedStoreFileRefusesCommits(replaced: Bool) async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        let snapshot = try await storeWithOneAccount(path)
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        if replaced {
            // Another store made at the same path: still not the file this one has open.
            let other = try SQLiteStore(path: path)
            try await other.prepare()
            await other.close()
        }
        do {
            _ = try await store.commit([OccupancyUpdate(user: "a", snapshot: snapshot, queryDelta: 1)])
            Issue.record("a commit into a deleted store file succeeded")
        } catch let error as StoreError {
            #expect(error.message.contains("deleted or replaced while open"), "\(error.message)")
        }
        do {
            _ = try await store.keys()
            Issue.record("keys were read from a deleted store file")
        } catch let error as StoreError {
            #expect(error.message.contains("deleted or replaced while open"), "\(error.message)")
        }
        await store.close()
    }

    @Test func aGatewayAnswersACorruptKeyRowWithoutDying() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        let gateway = try await EmbeddingsGateway(configuration: smallConfiguration(store: "sqlite:\(path)"), store: store, logger: quietLogger)
        let key = try await addKey(store)
        try corrupt(path, "UPDATE b4b_keys SET revoked_at = 'yesterday'")
        let response = await gateway.handle(post("/v1/protect", key: key, body: protectBody(rows: 1, dimension: 8, seed: 1)))
        #expect(response.status == 503)
        await gateway.close()
    }
}
