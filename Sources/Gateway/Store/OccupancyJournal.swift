import Defense
import Synchronization

/// Group commit of occupancy updates: makes each request's occupancy durable before the
/// request is answered, with one store transaction for every request waiting at that moment.
///
/// A request calls ``commit(_:)`` after the defense recorded its rows and before it answers.
/// If no transaction is in flight, its update starts one at once (no added wait when the
/// gateway is idle; with a ``SynchronousCommitStore`` the requesting task commits it itself,
/// without switching threads, blocking its thread for the fsync); otherwise it joins the next one, which starts as soon as the current
/// one ends and carries every update queued meanwhile, merged per account (bits OR-ed, query
/// counts added). `commit` returns when the transaction holding the update has committed, so
/// under load one fsync serves many requests and a request waits at most for the transaction
/// in flight plus its own.
///
/// A failed transaction fails every request in it (they answer 503 and their occupancy stays
/// in memory, where it still prices later requests); the next transaction retries the
/// accounts' full occupancy, so nothing is lost while the process lives.
public final class OccupancyJournal: Sendable {
    private struct Pending {
        var update: OccupancyUpdate
        var waiters: [CheckedContinuation<OccupancySnapshot, any Error>]
    }

    private struct State {
        var pending: [String: Pending] = [:]
        var order: [String] = []
        var flushing = false
    }

    private let store: any GatewayStore
    private let state = Mutex(State())
    private let onCommit: @Sendable (_ updates: Int, _ requests: Int, _ seconds: Double, _ failed: Bool) -> Void

    /// - Parameters:
    ///   - store: where updates are committed.
    ///   - onCommit: called after each transaction with its number of accounts, of requests,
    ///     its duration in seconds and whether it failed (for metrics).
    public init(store: any GatewayStore,
                onCommit: @escaping @Sendable (_ updates: Int, _ requests: Int, _ seconds: Double, _ failed: Bool) -> Void = { _, _, _, _ in }) {
        self.store = store
        self.onCommit = onCommit
    }

    /// Makes `update` durable; returns the account's merged stored occupancy (which may hold
    /// buckets other replicas recorded).
    /// - Throws: ``StoreError`` when the transaction failed.
    public func commit(_ update: OccupancyUpdate) async throws -> OccupancySnapshot {
        try await withCheckedThrowingContinuation { continuation in
            let startFlush = enqueue(update, continuation)
            guard startFlush else { return }
            if let synchronous = store as? any SynchronousCommitStore {
                // Leader: commit the current batch (which holds this update) right here, then
                // hand any later arrivals to a flushing task.
                _ = flushOnce(synchronous)
                let more = state.withLock { s -> Bool in
                    if s.order.isEmpty { s.flushing = false }
                    return s.flushing
                }
                if more { Task { while self.flushOnce(synchronous) {} } }
            } else {
                Task { await self.flushLoop() }
            }
        }
    }

    /// Queues an update; returns whether the caller must start flushing.
    private func enqueue(_ update: OccupancyUpdate, _ continuation: CheckedContinuation<OccupancySnapshot, any Error>) -> Bool {
            state.withLock { s -> Bool in
                if var p = s.pending[update.user] {
                    // The later snapshot of one account contains the earlier one's buckets only
                    // if taken later; OR them to be sure.
                    p.update.snapshot = p.update.snapshot.merged(with: update.snapshot, addingQueries: 0)
                    p.update.queryDelta += update.queryDelta
                    p.waiters.append(continuation)
                    s.pending[update.user] = p
                } else {
                    s.pending[update.user] = Pending(update: update, waiters: [continuation])
                    s.order.append(update.user)
                }
                if s.flushing { return false }
                s.flushing = true
                return true
            }
    }

    /// Takes every queued update (clearing `flushing` when there is none).
    private func takeBatch() -> [Pending] {
        state.withLock { s in
            let batch = s.order.compactMap { s.pending[$0] }
            s.pending.removeAll(keepingCapacity: true)
            s.order.removeAll(keepingCapacity: true)
            if batch.isEmpty { s.flushing = false }
            return batch
        }
    }

    /// Commits one batch on the calling thread; returns false when there was nothing to commit
    /// (and flushing has stopped).
    private func flushOnce(_ store: any SynchronousCommitStore) -> Bool {
        let batch = takeBatch()
        if batch.isEmpty { return false }
        let started = ContinuousClock.now
        finish(batch, started: started, Result { try store.commitSynchronously(batch.map(\.update)) })
        return true
    }

    private func flushLoop() async {
        while true {
            let batch = takeBatch()
            if batch.isEmpty { return }
            let started = ContinuousClock.now
            let result: Result<[String: OccupancySnapshot], any Error>
            do { result = .success(try await store.commit(batch.map(\.update))) } catch { result = .failure(error) }
            finish(batch, started: started, result)
        }
    }

    private func finish(_ batch: [Pending], started: ContinuousClock.Instant, _ result: Result<[String: OccupancySnapshot], any Error>) {
        let requests = batch.reduce(0) { $0 + $1.waiters.count }
        let seconds = (ContinuousClock.now - started).seconds
        switch result {
        case .success(let merged):
            onCommit(batch.count, requests, seconds, false)
            for p in batch {
                let value = merged[p.update.user] ?? p.update.snapshot
                for w in p.waiters { w.resume(returning: value) }
            }
        case .failure(let error):
            onCommit(batch.count, requests, seconds, true)
            for p in batch { for w in p.waiters { w.resume(throwing: error) } }
        }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}
