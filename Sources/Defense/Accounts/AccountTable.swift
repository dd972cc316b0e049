/// One account's defense state as its shard's table holds it: the same set of occupied
/// buckets as an ``Occupancy`` (sparse keys, or bit sets once large; see there), in 24 bytes
/// plus the keys, with the bit sets in the shard's ``BitSetSlab``.
struct AccountRecord: Sendable {
    /// Rows recorded, repeats included (the relative price's query count).
    var queryCount = 0
    /// Occupied (table, bucket) pairs over all tables.
    var occupied: UInt32 = 0
    /// The block of the account's bit sets in the shard's slab, or ``BitSetSlab/none`` while the
    /// set is held as ``keys``.
    var block = BitSetSlab.none
    /// Sorted distinct keys `t << k | bucket` while sparse; empty once dense.
    var keys: [UInt32] = []

    var isDense: Bool { block != BitSetSlab.none }
}

/// The accounts of one shard, keyed by user id, laid out for a small footprint per account:
/// the ids packed in an ``AccountIDIndex`` (their bytes, 8 bytes of location, a slot of 4 bytes
/// in its hash table), records of 24 bytes in a ``ChunkedArray``, and dense bit sets packed into
/// a slab (README, "Account state in memory").
///
/// Not synchronised: ``AccountRegistry`` keeps each table behind its shard's lock. (Package
/// access for the tests.)
package struct AccountTable: Sendable {
    /// Hyperplanes per table `k`.
    package let hashBits: Int
    /// Number of tables `T`.
    package let tableCount: Int
    private let sparseLimit: Int
    /// Account numbers by id.
    private var index: AccountIDIndex
    /// Account `n`'s record is `records[n]`.
    private var records = ChunkedArray<AccountRecord>(chunkShift: 12)
    private var bitSets: BitSetSlab

    /// An empty table for occupancies of `tableCount` tables of `2^hashBits` buckets.
    package init(hashBits: Int, tableCount: Int) {
        self.index = AccountIDIndex()
        self.hashBits = hashBits
        self.tableCount = tableCount
        self.sparseLimit = Occupancy.sparseLimit(hashBits: hashBits, tableCount: tableCount)
        self.bitSets = BitSetSlab(wordsPerBlock: Occupancy.wordsPerTable(hashBits) * tableCount)
    }

    /// Number of accounts.
    package var count: Int { records.count }

    /// Every user id, in no meaningful order.
    package var users: [String] { (0..<index.count).map { index.id(of: $0) } }

    /// Accounts whose buckets are held as bit sets.
    package var denseCount: Int { bitSets.count }

    /// Adds hashed rows (`ids`: `B x T` bucket ids, row-major) to `user`'s account, creating it
    /// empty on first use, and writes row `i`'s coverage after rows `0...i` into `coverage[i]`.
    /// Returns the query number of the batch's first row (1 for a new account).
    package mutating func record(_ ids: UnsafeBufferPointer<UInt32>, user: AccountKey, coverage: UnsafeMutableBufferPointer<Double>) -> Int {
        let (tables, k) = (tableCount, hashBits)
        let rows = ids.count / tables
        let buckets = Double(tables << k)
        let i = number(creating: user)
        var record = take(i)
        var row = 0
        while row < rows && !record.isDense {
            for t in 0..<tables { insert(ids[row * tables + t], table: t, into: &record) }
            coverage[row] = Double(record.occupied) / buckets
            row += 1
        }
        if row < rows {
            // The rest of the batch in one pass over the account's bit sets.
            var occupied = record.occupied
            bitSets.withBlock(record.block) { words in
                for r in row..<rows {
                    for t in 0..<tables where Occupancy.setBit(bucket: ids[r * tables + t], table: t, hashBits: k, in: words) {
                        occupied += 1
                    }
                    coverage[r] = Double(occupied) / buckets
                }
            }
            record.occupied = occupied
        }
        let first = record.queryCount + 1
        record.queryCount += rows
        records[i] = record
        return first
    }

    /// `user`'s coverage (fraction of occupied buckets, averaged over tables) and query count,
    /// or nil for an unknown user.
    package func summary(of user: AccountKey) -> (coverage: Double, queryCount: Int)? {
        guard let i = index.number(of: user) else { return nil }
        let record = records[i]
        return (Double(record.occupied) / Double(tableCount << hashBits), record.queryCount)
    }

    /// A copy of `user`'s occupancy and query count, or nil for an unknown user.
    package func state(of user: AccountKey) -> (occupancy: Occupancy, queryCount: Int)? {
        guard let i = index.number(of: user) else { return nil }
        let record = records[i]
        return (occupancy(of: record), record.queryCount)
    }

    /// Sets `user`'s occupancy (of this table's shape) and query count, creating the account
    /// if needed: with `merging`, the union with the account's buckets and the larger of the
    /// two counts (replicas' snapshots of one user overlap in history: the larger count neither
    /// loses queries nor counts shared ones twice); without, the loaded state replaces it.
    package mutating func load(_ loaded: Occupancy, queryCount: Int, for user: AccountKey, merging: Bool) {
        precondition(loaded.hashBits == hashBits && loaded.tableCount == tableCount, "occupancy of another shape")
        let i = number(creating: user)
        var record = take(i)
        var occupancy = loaded
        var count = queryCount
        if merging {
            occupancy = self.occupancy(of: record)
            occupancy.formUnion(loaded)
            count = max(record.queryCount, queryCount)
        }
        store(occupancy, in: &record)
        record.queryCount = count
        records[i] = record
    }

    /// Removes `user`'s account and frees its bit sets; returns whether it existed.
    /// - Complexity: O(1) (the last account takes the removed one's place).
    package mutating func remove(_ user: AccountKey) -> Bool {
        guard let i = index.number(of: user) else { return false }
        if records[i].isDense { bitSets.free(records[i].block) }
        index.remove(user, number: i)
        records.swapAt(i, records.count - 1)
        records.removeLast()
        return true
    }

    // MARK: - Records

    /// The index of `user`'s record, appending an empty one for a new user.
    private mutating func number(creating user: AccountKey) -> Int {
        if let i = index.number(of: user) { return i }
        let i = index.append(user)
        records.append(AccountRecord())
        return i
    }

    /// Moves record `i` out of the array (leaving an empty one), so that its keys array is
    /// uniquely referenced and changes in place.
    private mutating func take(_ i: Int) -> AccountRecord {
        var record = AccountRecord()
        swap(&record, &records[i])
        return record
    }

    /// Marks `bucket` of table `t` occupied in `record`, moving it to bit sets when its keys are
    /// at the sparse limit.
    private mutating func insert(_ bucket: UInt32, table t: Int, into record: inout AccountRecord) {
        let k = hashBits
        if !record.isDense {
            switch Occupancy.insertKey(UInt32(t << k) | bucket, into: &record.keys, limit: sparseLimit) {
            case .present: return
            case .inserted:
                record.occupied += 1
                return
            case .full:
                record.block = bitSets.allocate()
                let keys = record.keys
                bitSets.withBlock(record.block) { Occupancy.setBits(keys, hashBits: k, in: $0) }
                record.keys = []
            }
        }
        if bitSets.withBlock(record.block, { Occupancy.setBit(bucket: bucket, table: t, hashBits: k, in: $0) }) {
            record.occupied += 1
        }
    }

    /// `record`'s buckets as an ``Occupancy``.
    private func occupancy(of record: AccountRecord) -> Occupancy {
        record.isDense
            ? Occupancy(hashBits: hashBits, tableCount: tableCount, denseWords: bitSets.words(of: record.block))
            : Occupancy(hashBits: hashBits, tableCount: tableCount, sortedKeys: record.keys)
    }

    /// Makes `record` hold exactly `occupancy`'s buckets, in the same form.
    private mutating func store(_ occupancy: Occupancy, in record: inout AccountRecord) {
        record.occupied = UInt32(occupancy.occupiedTotal)
        if occupancy.isSparse {
            if record.isDense { bitSets.free(record.block) }
            record.block = BitSetSlab.none
            record.keys = occupancy.sparseKeys
            return
        }
        if !record.isDense { record.block = bitSets.allocate() }
        let words = occupancy.rawWords
        bitSets.withBlock(record.block) { _ = $0.update(fromContentsOf: words) }
        record.keys = []
    }
}
