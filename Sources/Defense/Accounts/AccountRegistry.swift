import Synchronization

/// One account's mutable defense state: its bucket occupancy and how many queries (rows)
/// it has sent.
struct AccountState: Sendable {
    var occupancy: Occupancy
    /// Rows recorded, repeats included (the relative price's query count).
    var queryCount: Int = 0
}

/// One account: its state behind a per-account mutex, so concurrent batches of one user
/// never lose each other's buckets, while different users never contend.
final class Account: Sendable {
    let state: Mutex<AccountState>

    init(_ occupancy: Occupancy) {
        self.state = Mutex(AccountState(occupancy: occupancy))
    }
}

/// All accounts, sharded by user id: finding or creating an account locks one shard
/// (of ``shardCount``) for a dictionary lookup only, so there is no global lock that
/// serialises different users.
final class AccountRegistry: Sendable {
    static let shardCount = 64

    private final class Shard: Sendable {
        let accounts = Mutex<[String: Account]>([:])
    }

    private let shards: [Shard]
    private let hashBits: Int
    private let tableCount: Int

    init(hashBits: Int, tableCount: Int) {
        self.hashBits = hashBits
        self.tableCount = tableCount
        self.shards = (0..<Self.shardCount).map { _ in Shard() }
    }

    private func shard(_ user: String) -> Shard {
        // String.hashValue is seeded per process, which is fine for in-memory sharding.
        shards[Int(UInt(bitPattern: user.hashValue) % UInt(Self.shardCount))]
    }

    /// The account of `user`, created empty on first use.
    func account(_ user: String) -> Account {
        let (k, t) = (hashBits, tableCount)
        return shard(user).accounts.withLock { accounts in
            if let a = accounts[user] { return a }
            let a = Account(Occupancy(hashBits: k, tableCount: t))
            accounts[user] = a
            return a
        }
    }

    /// The account of `user` if it exists.
    func existingAccount(_ user: String) -> Account? {
        shard(user).accounts.withLock { $0[user] }
    }

    /// Removes `user`'s account; returns whether it existed.
    func remove(_ user: String) -> Bool {
        shard(user).accounts.withLock { $0.removeValue(forKey: user) != nil }
    }

    /// Number of accounts.
    var count: Int {
        shards.reduce(0) { n, s in n + s.accounts.withLock { $0.count } }
    }

    /// Every user id (unordered).
    var users: [String] {
        shards.flatMap { s in s.accounts.withLock { Array($0.keys) } }
    }
}
