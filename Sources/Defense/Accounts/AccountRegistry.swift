import Synchronization

/// All accounts, sharded by user id: each shard's ``AccountTable`` is behind its own lock,
/// taken for one short critical section per call (a lookup, or a batch's bucket inserts), so
/// there is no global lock that serialises different users, and two concurrent batches of one
/// user never lose each other's buckets.
final class AccountRegistry: Sendable {
    /// Number of shards (users of different shards never contend).
    static let shardCount = 64

    private final class Shard: Sendable {
        let table: Mutex<AccountTable>
        init(_ table: sending AccountTable) { self.table = Mutex(table) }
    }

    private let shards: [Shard]

    init(hashBits: Int, tableCount: Int) {
        self.shards = (0..<Self.shardCount).map { _ in Shard(AccountTable(hashBits: hashBits, tableCount: tableCount)) }
    }

    /// Runs `body` on the table holding `user`'s account (whether or not it exists yet), with
    /// the table's shard locked, passing the user's key (its id hashed once) for the table's calls.
    func withTable<R>(of user: String, _ body: (inout AccountTable, AccountKey) -> R) -> R {
        let key = AccountKey(user)
        // The hash's high bits pick the shard; its low bits, the slot in the shard's index.
        return shards[Int((UInt64(UInt(bitPattern: key.hash)) >> 40) % UInt64(Self.shardCount))].table.withLock { body(&$0, key) }
    }

    /// Number of accounts.
    var count: Int {
        shards.reduce(0) { n, s in n + s.table.withLock { $0.count } }
    }

    /// Every user id (unordered).
    var users: [String] {
        shards.flatMap { s in s.table.withLock { $0.users } }
    }
}
