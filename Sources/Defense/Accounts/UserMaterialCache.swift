import NumericKernels
import Synchronization

/// What the defense derives for one user from the server secret: the transform pipeline
/// and the key of the noise streams. Deterministic in (secret, user, configuration).
struct UserMaterial: Sendable {
    let pipeline: TransformPipeline
    let noiseSeed: RandomSeed
    var byteCount: Int { pipeline.byteCount + 64 }
}

/// A bounded cache of derived ``UserMaterial``: sharded by user for lookups, with one byte
/// budget and one recency order over the whole cache.
///
/// A lookup locks one shard (of 16) for a dictionary access and stamps the entry from a
/// process-wide counter (one atomic increment), so different users rarely contend. Derivation
/// happens outside any lock (two threads deriving the same cold user both do the work and agree
/// on the result), so a cold user never blocks other users.
///
/// Budget: when an insert takes the cached bytes over `capacityBytes`, the least recently used
/// entries of the whole cache, whatever their shard, are evicted down to 7/8 of it in one sweep
/// (so a stream of cold users costs O(log n) per insert, amortised). Users whose materials fit
/// the budget together therefore never evict each other, however they fall into shards. The
/// entry an insert adds is never evicted by that insert, so one material larger than the whole
/// budget is still cached (alone, once the others are gone). A budget of 0 caches nothing.
final class UserMaterialCache: Sendable {
    private struct Entry {
        let material: UserMaterial
        var lastUse: UInt64
    }

    private final class Shard: Sendable {
        let entries = Mutex<[String: Entry]>([:])
    }

    private static let shardCount = 16
    private let shards: [Shard]
    private let capacity: Int
    /// Bytes of all cached materials.
    private let bytes = Atomic<Int>(0)
    /// The recency clock: every lookup and insert takes the next value.
    private let clock = Atomic<UInt64>(0)
    /// Held by the one eviction sweep running at a time (never while holding a shard's lock).
    private let sweeping = Mutex<Void>(())

    init(capacityBytes: Int) {
        shards = (0..<Self.shardCount).map { _ in Shard() }
        capacity = capacityBytes
    }

    private func shardIndex(_ user: String) -> Int {
        // String.hashValue is seeded per process, which is fine for in-memory sharding.
        Int(UInt(bitPattern: user.hashValue) % UInt(Self.shardCount))
    }

    private func tick() -> UInt64 { clock.add(1, ordering: .relaxed).newValue }

    /// The cached material of `user`, or `derive()`'s result (cached when the budget is not 0).
    func material(for user: String, derive: () -> UserMaterial) -> UserMaterial {
        let shard = shards[shardIndex(user)]
        let now = tick()
        let hit: UserMaterial? = shard.entries.withLock { entries in
            guard var e = entries[user] else { return nil }
            e.lastUse = now
            entries[user] = e
            return e.material
        }
        if let hit { return hit }
        let fresh = derive()
        guard capacity > 0 else { return fresh }
        let stamp = tick()
        let inserted = shard.entries.withLock { entries -> Bool in
            if entries[user] != nil { return false }
            entries[user] = Entry(material: fresh, lastUse: stamp)
            return true
        }
        if inserted, bytes.add(fresh.byteCount, ordering: .relaxed).newValue > capacity {
            evict(sparing: user)
        }
        return fresh
    }

    /// Evicts the least recently used entries (all shards, except `spared`) until the cache
    /// holds at most 7/8 of its budget. Takes one shard's lock at a time.
    private func evict(sparing spared: String) {
        sweeping.withLock { _ in
            guard bytes.load(ordering: .relaxed) > capacity else { return }
            var candidates: [(lastUse: UInt64, shard: Int, user: String)] = []
            for (i, shard) in shards.enumerated() {
                shard.entries.withLock { entries in
                    for (user, entry) in entries where user != spared { candidates.append((entry.lastUse, i, user)) }
                }
            }
            candidates.sort { $0.lastUse < $1.lastUse }
            let target = capacity - capacity / 8
            for candidate in candidates {
                if bytes.load(ordering: .relaxed) <= target { break }
                let freed = shards[candidate.shard].entries.withLock { entries -> Int in
                    // An entry used since the snapshot is no longer among the least recent: keep it.
                    guard let entry = entries[candidate.user], entry.lastUse == candidate.lastUse else { return 0 }
                    entries.removeValue(forKey: candidate.user)
                    return entry.material.byteCount
                }
                bytes.subtract(freed, ordering: .relaxed)
            }
        }
    }

    /// Number of cached users.
    var count: Int { shards.reduce(0) { n, s in n + s.entries.withLock { $0.count } } }

    /// Bytes of all cached materials (at most the budget after every insert, except for a
    /// single entry larger than it).
    var byteCount: Int { bytes.load(ordering: .relaxed) }
}
