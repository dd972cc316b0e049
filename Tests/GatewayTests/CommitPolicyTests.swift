import Defense
import NumericKernels
import Foundation
import Testing
import Gateway

/// The journal's commit policies: which answers wait for their commit, and that what is not
/// waited for still reaches the store (and survives a failing store).
@Suite struct CommitPolicyTests {
    func snapshot(_ bits: [Int]) -> OccupancySnapshot {
        var w: UInt64 = 0
        for b in bits { w |= 1 << UInt64(b) }
        return OccupancySnapshot(hasherFingerprint: 42, hashBits: 6, tableCount: 1, words: [w], queryCount: 0)
    }

    func update(_ user: String, _ bits: [Int], queries: Int = 1) -> OccupancyUpdate {
        OccupancyUpdate(user: user, snapshot: snapshot(bits), queryDelta: queries)
    }

    /// A long flush delay: deferred counts reach the store only through `flush()` or a waiting
    /// update, never by the timer during the test.
    let lazy = CommitPolicy.newBuckets(queryThreshold: 0, flushAfter: .seconds(3600))

    @Test func onlyUpdatesWithNewBucketsWait() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let journal = OccupancyJournal(store: store, policy: lazy)
        #expect(try await journal.commit(update("a", [1, 2])), "an account with nothing durable waits")
        #expect(try await !journal.commit(update("a", [1])), "buckets already durable: no wait")
        #expect(try await !journal.commit(update("a", [1, 2], queries: 5)))
        #expect(try await journal.commit(update("a", [1, 2, 3])), "a new bucket waits")
        // The waiting commit carried the deferred counts with it: 1 + 1 + 5 + 1.
        #expect(try await store.occupancies()["a"]?.queryCount == 8)
        #expect(try await !journal.commit(update("a", [3], queries: 2)))
        #expect(try await store.occupancies()["a"]?.queryCount == 8, "deferred until the flush")
        await journal.flush()
        let stored = try await store.occupancies()["a"]
        #expect(stored?.queryCount == 10 && stored?.words == snapshot([1, 2, 3]).words)
        #expect(journal.durableOccupancy(of: "a")?.queryCount == 10)
        // Another account's durable buckets do not excuse this one.
        #expect(try await journal.commit(update("b", [1])))
        await store.close()
    }

    @Test func answersWaitUntilTheThresholdCountIsDurable() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let journal = OccupancyJournal(store: store, policy: .newBuckets(queryThreshold: 10, flushAfter: .seconds(3600)))
        var waited: [Bool] = []
        for _ in 0..<4 { waited.append(try await journal.commit(update("a", [7], queries: 4))) }
        // 4, 8 durable (< 10) wait; at 12 >= 10 the rest need not.
        #expect(waited == [true, true, true, false])
        await store.close()
    }

    @Test func everyRequestAlwaysWaits() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let journal = OccupancyJournal(store: store, policy: .everyRequest)
        for q in 1...3 {
            #expect(try await journal.commit(update("a", [1])))
            #expect(try await store.occupancies()["a"]?.queryCount == q)
        }
        await store.close()
    }

    @Test func theTimerCommitsDeferredCounts() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let journal = OccupancyJournal(store: store, policy: .newBuckets(queryThreshold: 0, flushAfter: .milliseconds(20)))
        #expect(try await journal.commit(update("a", [1])))
        #expect(try await !journal.commit(update("a", [1], queries: 3)))
        var count = 0
        for _ in 0..<500 where count != 4 {  // up to 5 s on a loaded machine
            try await Task.sleep(for: .milliseconds(10))
            count = try await store.occupancies()["a"]?.queryCount ?? 0
        }
        #expect(count == 4)
        await store.close()
    }

    @Test func startUpStateCountsAsDurable() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let store = try SQLiteStore(path: path)
        try await store.prepare()
        let known = OccupancySnapshot(hasherFingerprint: 42, hashBits: 6, tableCount: 1, words: snapshot([4, 5]).words, queryCount: 3)
        let journal = OccupancyJournal(store: store, durable: ["a": known], policy: lazy)
        #expect(try await !journal.commit(update("a", [4])))
        #expect(try await journal.commit(update("a", [6])))
        await store.close()
    }

    @Test func deferredCountsSurviveAFailedTransaction() async throws {
        let (path, cleanup) = temporaryStorePath()
        defer { cleanup() }
        let inner = try SQLiteStore(path: path)
        try await inner.prepare()
        let store = TestStore(inner: inner)
        let failures = ManagedCounter()
        let journal = OccupancyJournal(store: store, policy: lazy) { _, _, _, failed in if failed { failures.increment() } }
        #expect(try await journal.commit(update("a", [1])))
        #expect(try await !journal.commit(update("a", [1], queries: 5)))
        store.failing.withLock { $0 = true }
        // A waiting update fails (its request would answer 503); the deferred 5 are kept.
        await #expect(throws: StoreError.self) { try await journal.commit(self.update("a", [1, 9], queries: 2)) }
        #expect(failures.value == 1)
        #expect(journal.durableOccupancy(of: "a")?.queryCount == 1)
        store.failing.withLock { $0 = false }
        await journal.flush()
        let stored = try await inner.occupancies()["a"]
        #expect(stored?.queryCount == 6, "the answered deferred count is retried; the failed request's 2 are not counted")
        // The failed request's bucket was carried by the retried snapshot.
        #expect(stored?.words == snapshot([1, 9]).words)
        await inner.close()
    }
}
