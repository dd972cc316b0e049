import Defense
import Foundation
import Testing
import Gateway

/// Stores holding rows edited by hand: reported, naming row, column and value, never fatal.
@Suite struct CorruptStoreTests {
    /// Runs SQL on the store file with the sqlite3 shell (the gateway offers no way to write
    /// garbage, which is the point).
    func corrupt(_ path: String, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sqlite3", path, sql]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "sqlite3 is needed to corrupt a store on purpose")
    }

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

    @Test func aNonIntegerQueryCountIsReportedNotFatal() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let snapshot = OccupancySnapshot(hasherFingerprint: 42, hashBits: 6, tableCount: 1, words: [3], queryCount: 0)
        _ = try await store.commit([OccupancyUpdate(user: "a", snapshot: snapshot, queryDelta: 2)])
        await store.close()
        try corrupt(path, "UPDATE b4b_occupancy SET query_count = 'many'")
        let reopened = try SQLiteStore(path: path)
        do {
            _ = try await reopened.occupancies()
            Issue.record("a corrupt row was read")
        } catch let error as StoreError {
            #expect(error.message.contains("column query_count") && error.message.contains("'many'"), "\(error.message)")
        }
        await reopened.close()
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
