import Defense
import Synchronization

/// When a request's answer must wait for its occupancy to be durable.
///
/// What a crash can cost the defense is a *lower price* later: an account restarted from
/// state that lacks some of its buckets is charged for less coverage than it has. The query
/// count matters only to the relative price, and only in one direction: the pool's expected
/// coverage grows with the count, so an account restarted with a *smaller* count has a higher
/// relative coverage and pays more, except below the relative price's minimum query count,
/// where it would pay no relative price at all.
public enum CommitPolicy: Sendable, Equatable {
    /// Every answer waits for the transaction holding its request (buckets and query count):
    /// a crash loses nothing that was answered. Each answer costs at least one commit (an
    /// fsync, or a round trip to PostgreSQL) of latency.
    case everyRequest
    /// An answer waits only when a crash right after it could lower a later price: when the
    /// account holds buckets that are not yet durable, or its durable query count is below
    /// `queryThreshold` (the relative price's minimum; 0 without a relative price). Otherwise
    /// the answer is sent at once and its query count is committed within `flushAfter` (or
    /// with the next waiting request, whichever is first).
    ///
    /// A crash can then lose only query counts of requests answered in the last `flushAfter`
    /// (plus one transaction), of accounts whose every bucket and whose count up to the
    /// threshold are already durable; restarting with those counts lower never lowers a
    /// price. Buckets are never lost.
    case newBuckets(queryThreshold: Int, flushAfter: Duration)
}

/// Group commit of occupancy updates: makes each request's occupancy durable (as its
/// ``CommitPolicy`` demands) before the request is answered, with one store transaction for
/// every update waiting at that moment.
///
/// A request calls ``commit(_:)`` after the defense recorded its rows and before it answers.
/// If the update must wait and no transaction is in flight, it starts one at once on the
/// global concurrent pool (with a ``SynchronousCommitStore`` that task blocks its thread for
/// the fsync, never the caller's); otherwise it joins the next one, which starts as soon as the current one ends and carries
/// every update queued meanwhile, merged per account (bits OR-ed, query counts added).
/// `commit` returns when the transaction holding the update has committed, so under load one
/// fsync serves many requests and a request waits at most for the transaction in flight plus
/// its own. An update that need not wait is queued and ``commit(_:)`` returns at once; a
/// timer commits the queue within the policy's `flushAfter`.
///
/// A failed transaction fails every waiting request in it (they answer 503 and their
/// occupancy stays in memory, where it still prices later requests; the account's next
/// request then waits and commits its full occupancy). Query counts of answered requests that
/// did not wait are kept and retried after `flushAfter`, so nothing answered is lost while the
/// process lives.
public final class OccupancyJournal: Sendable {
    private struct Pending {
        var update: OccupancyUpdate
        var waiters: [CheckedContinuation<Void, any Error>]
        /// Rows of requests already answered without waiting (kept when a transaction fails).
        var answeredQueries: Int
        /// Number of those requests.
        var answeredRequests: Int
    }

    /// What the store is known to hold for one account: its buckets as an ``Occupancy``
    /// (held sparse while few, so an account costs the journal a few dozen bytes rather than a
    /// bit set) and its query count.
    private struct Durable {
        /// Nil when the stored shape is one the engine cannot hold (no update is then known
        /// to add nothing, so every update waits).
        var occupancy: Occupancy?
        var queryCount: Int

        init(_ snapshot: OccupancySnapshot) {
            occupancy = try? Occupancy(hashBits: snapshot.hashBits, tableCount: snapshot.tableCount, rawWords: snapshot.words)
            queryCount = snapshot.queryCount
        }
    }

    private struct State {
        var pending: [String: Pending] = [:]
        var order: [String] = []
        var flushing = false
        var timerArmed = false
        /// Answered query counts of failed transactions, retried when the timer fires.
        var retry: [OccupancyUpdate] = []
        var durable: [String: Durable] = [:]
    }

    private let store: any GatewayStore
    private let policy: CommitPolicy
    private let state: Mutex<State>
    private let onCommit: @Sendable (_ updates: Int, _ requests: Int, _ seconds: Double, _ failed: Bool) -> Void
    private let onMerged: @Sendable ([String: OccupancySnapshot]) -> Void

    /// - Parameters:
    ///   - store: where updates are committed.
    ///   - durable: what the store holds already (the occupancies loaded at start-up).
    ///   - policy: when an answer waits for its commit.
    ///   - onCommit: called after each transaction with its number of accounts, of requests
    ///     (waiting or not), its duration in seconds and whether it failed (for metrics).
    ///   - onMerged: called after each successful transaction with the stored occupancy of
    ///     every account it updated (with a shared store this holds buckets other replicas
    ///     recorded).
    public init(store: any GatewayStore, durable: [String: OccupancySnapshot] = [:], policy: CommitPolicy = .everyRequest,
                onCommit: @escaping @Sendable (_ updates: Int, _ requests: Int, _ seconds: Double, _ failed: Bool) -> Void = { _, _, _, _ in },
                onMerged: @escaping @Sendable ([String: OccupancySnapshot]) -> Void = { _ in }) {
        self.store = store
        self.policy = policy
        var initial = State()
        for (user, snapshot) in durable { initial.durable[user] = Durable(snapshot) }
        state = Mutex(initial)
        self.onCommit = onCommit
        self.onMerged = onMerged
    }

    /// Makes `update` as durable as the policy demands before returning.
    /// - Returns: whether the call waited for a transaction (false: queued, committed within
    ///   the policy's `flushAfter`).
    /// - Throws: ``StoreError`` when the transaction it waited for failed.
    @discardableResult
    public func commit(_ update: OccupancyUpdate) async throws -> Bool {
        if enqueueWithoutWaiting(update) { return false }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            // The first waiter starts a flushing task. It runs on the global pool, never on the
            // caller's executor (an HTTP event loop must not block in an fsync); the hop costs
            // little next to the fsync it waits for.
            guard enqueue(update, waiter: continuation) else { return }
            Task(executorPreference: globalConcurrentExecutor) { await self.drain() }
        }
        return true
    }

    /// Commits everything queued now (including answered counts of failed transactions) and
    /// returns when that transaction ended, successfully or not (failures reach `onCommit`).
    /// For shutdown and tests.
    public func flush() async {
        while true {
            let start = state.withLock { s -> Bool? in
                Self.requeueRetries(&s)
                if s.flushing { return nil }
                if s.order.isEmpty { return false }
                s.flushing = true
                return true
            }
            switch start {
            case nil: try? await Task.sleep(for: .milliseconds(1))
            case false?: return
            case true?:
                await drain()
                return
            }
        }
    }

    /// The occupancy the store is known to hold for `user` (bits and query count), as of the
    /// last transaction or start-up; nil when nothing is known.
    public func durableOccupancy(of user: String) -> (words: [UInt64], queryCount: Int)? {
        state.withLock { s in s.durable[user].map { ($0.occupancy?.rawWords ?? [], $0.queryCount) } }
    }

    /// Queues `update` without a waiter when the policy allows it; returns whether it did.
    private func enqueueWithoutWaiting(_ update: OccupancyUpdate) -> Bool {
        guard case .newBuckets(let threshold, let delay) = policy else { return false }
        let armTimer = state.withLock { s -> Bool? in
            guard let known = s.durable[update.user], known.queryCount >= threshold,
                  let occupancy = known.occupancy, occupancy.hashBits == update.snapshot.hashBits,
                  occupancy.tableCount == update.snapshot.tableCount,
                  occupancy.isSuperset(ofRawWords: update.snapshot.words) else { return nil }
            Self.add(update, waiter: nil, to: &s)
            if s.flushing || s.timerArmed { return false }
            s.timerArmed = true
            return true
        }
        guard let armTimer else { return false }
        if armTimer { startTimer(delay) }
        return true
    }

    /// Commits what is queued after `delay` (the caller has set `timerArmed`).
    private func startTimer(_ delay: Duration) {
        Task(executorPreference: globalConcurrentExecutor) {
            try? await Task.sleep(for: delay)
            await self.timerFired()
        }
    }

    private func timerFired() async {
        let start = state.withLock { s -> Bool in
            s.timerArmed = false
            Self.requeueRetries(&s)
            if s.flushing || s.order.isEmpty { return false }
            s.flushing = true
            return true
        }
        if start { await drain() }
    }

    /// Queues an update that waits; returns whether the caller must start flushing.
    private func enqueue(_ update: OccupancyUpdate, waiter: CheckedContinuation<Void, any Error>) -> Bool {
        state.withLock { s -> Bool in
            Self.add(update, waiter: waiter, to: &s)
            if s.flushing { return false }
            s.flushing = true
            return true
        }
    }

    private static func add(_ update: OccupancyUpdate, waiter: CheckedContinuation<Void, any Error>?, to s: inout State) {
        let answered = waiter == nil ? update.queryDelta : 0
        let answeredRequests = waiter == nil ? 1 : 0
        if var p = s.pending[update.user] {
            // The later snapshot of one account contains the earlier one's buckets only if
            // taken later; OR them to be sure.
            p.update.snapshot = p.update.snapshot.merged(with: update.snapshot, addingQueries: 0)
            p.update.queryDelta += update.queryDelta
            p.answeredQueries += answered
            p.answeredRequests += answeredRequests
            if let waiter { p.waiters.append(waiter) }
            s.pending[update.user] = p
        } else {
            s.pending[update.user] = Pending(update: update, waiters: waiter.map { [$0] } ?? [], answeredQueries: answered,
                                              answeredRequests: answeredRequests)
            s.order.append(update.user)
        }
    }

    private static func requeueRetries(_ s: inout State) {
        let retry = s.retry
        s.retry.removeAll()
        for update in retry { add(update, waiter: nil, to: &s) }
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

    /// Commits batches until the queue is empty (then flushing has stopped).
    private func drain() async {
        if let synchronous = store as? any SynchronousCommitStore {
            while flushOnce(synchronous) {}
            return
        }
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
        let requests = batch.reduce(0) { $0 + $1.waiters.count + $1.answeredRequests }
        let seconds = (ContinuousClock.now - started).seconds
        switch result {
        case .success(let merged):
            state.withLock { s in
                for (user, snapshot) in merged {
                    s.durable[user] = Durable(snapshot)
                }
            }
            onCommit(batch.count, requests, seconds, false)
            onMerged(merged)
            for p in batch { for w in p.waiters { w.resume() } }
        case .failure(let error):
            // Only the `newBuckets` policy answers without waiting, so only it has counts to keep.
            if case .newBuckets(_, let delay) = policy {
                let armTimer = state.withLock { s -> Bool in
                    for p in batch where p.answeredQueries > 0 {
                        var kept = p.update
                        kept.queryDelta = p.answeredQueries
                        s.retry.append(kept)
                    }
                    guard !s.retry.isEmpty, !s.timerArmed else { return false }
                    s.timerArmed = true
                    return true
                }
                if armTimer { startTimer(delay) }
            }
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
