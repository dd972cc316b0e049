import NumericKernels
import Synchronization

/// What the defense derives for one user from the server secret: the transform pipeline
/// and the key of the noise streams. Deterministic in (secret, user, configuration).
struct UserMaterial: Sendable {
    let pipeline: TransformPipeline
    let noiseSeed: RandomSeed
    var byteCount: Int { pipeline.byteCount + 64 }
}

/// A bounded cache of derived ``UserMaterial``, sharded like the account registry.
///
/// Derivation happens outside any lock (two threads deriving the same cold user both do
/// the work and agree on the result), so a cold user never blocks other users.
/// Each shard keeps at most `capacityBytes / shardCount` bytes; when an insert would
/// exceed that, its least recently used entries are evicted down to 7/8 of it. It always keeps its most recent entry when the
/// capacity is not zero (so a single large dense transform is cached even when it exceeds
/// a shard's share; the cache then holds at most one entry per shard).
final class UserMaterialCache: Sendable {
    private struct Entry {
        let material: UserMaterial
        var lastUse: UInt64
    }

    private struct ShardState {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    private final class Shard: Sendable {
        let state = Mutex(ShardState())
    }

    private static let shardCount = 16
    private let shards: [Shard]
    private let shardCapacity: Int
    private let capacity: Int

    init(capacityBytes: Int) {
        shards = (0..<Self.shardCount).map { _ in Shard() }
        capacity = capacityBytes
        shardCapacity = capacityBytes / Self.shardCount
    }

    private func shard(_ user: String) -> Shard {
        shards[Int(UInt(bitPattern: user.hashValue) % UInt(Self.shardCount))]
    }

    /// The cached material of `user`, or `derive()`'s result (cached when it fits).
    func material(for user: String, derive: () -> UserMaterial) -> UserMaterial {
        let shard = shard(user)
        let hit: UserMaterial? = shard.state.withLock { s in
            guard var e = s.entries[user] else { return nil }
            s.clock &+= 1
            e.lastUse = s.clock
            s.entries[user] = e
            return e.material
        }
        if let hit { return hit }
        let fresh = derive()
        let size = fresh.byteCount
        guard capacity > 0 else { return fresh }
        shard.state.withLock { s in
            if s.entries[user] != nil { return }
            if s.bytes + size > shardCapacity {
                // Evict least recently used entries down to 7/8 of the capacity in one sweep,
                // so that a stream of cold users costs O(log n) per insert, not a scan each.
                let target = shardCapacity - shardCapacity / 8 - size
                for (key, entry) in s.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) {
                    if s.bytes <= target { break }
                    s.bytes -= entry.material.byteCount
                    s.entries.removeValue(forKey: key)
                }
            }
            s.clock &+= 1
            s.entries[user] = Entry(material: fresh, lastUse: s.clock)
            s.bytes += size
        }
        return fresh
    }

    /// Number of cached users.
    var count: Int { shards.reduce(0) { n, s in n + s.state.withLock { $0.entries.count } } }
}
