import Defense
import NumericKernels
import Testing

/// Deterministic bucket ids from the engine's seeded generator.
private struct IDGenerator {
    var random: RandomGenerator
    init(state: UInt64) { random = RandomGenerator(seed: RandomSeed(state, 0xB0C4, 0, 1)) }
    /// A `rows x tables` batch of bucket ids below `2^hashBits`, drawn from the lowest `spread`
    /// buckets (a small spread keeps an account sparse longer).
    mutating func batch(rows: Int, tables: Int, hashBits: Int, spread: Int? = nil) -> [UInt32] {
        let range = UInt32(min(spread ?? (1 << hashBits), 1 << hashBits))
        return (0..<rows * tables).map { _ in UInt32.random(in: 0..<range, using: &random) }
    }
}

/// Records `ids` for `user` in `table`; returns each row's coverage and the first query number.
private func record(_ ids: [UInt32], user: String, in table: inout AccountTable) -> ([Double], Int) {
    var coverage = [Double](repeating: -1, count: ids.count / table.tableCount)
    let first = ids.withUnsafeBufferPointer { i in
        coverage.withUnsafeMutableBufferPointer { table.record(i, user: AccountKey(user), coverage: $0) }
    }
    return (coverage, first)
}

/// The occupancy a plain ``Occupancy`` reaches from the same inserts, and its coverage per row.
private func reference(_ ids: [UInt32], into occupancy: inout Occupancy) -> [Double] {
    let tables = occupancy.tableCount
    return (0..<ids.count / tables).map { row in
        for t in 0..<tables { occupancy.insert(bucket: ids[row * tables + t], table: t) }
        return occupancy.coverage
    }
}

@Suite("Account table: compact per-shard account state")
struct AccountTableTests {
    @Test("Batches give the same coverage per row, the same occupancy and the same form as an Occupancy fed the same buckets",
          arguments: [(6, 1), (6, 3), (12, 1), (12, 2)])
    func recordsMatchOccupancy(_ shape: (Int, Int)) {
        let (k, tables) = shape
        var table = AccountTable(hashBits: k, tableCount: tables)
        var generator = IDGenerator(state: UInt64(k * 100 + tables))
        var expected = Occupancy(hashBits: k, tableCount: tables)
        var queries = 0
        // Small batches first (the account stays sparse), then batches that cross the switch to
        // bit sets inside a batch, then batches recorded into bit sets.
        for rows in [1, 3, 7, 40, 90, 200, 1, 256] {
            let ids = generator.batch(rows: rows, tables: tables, hashBits: k)
            let (coverage, first) = record(ids, user: "u", in: &table)
            #expect(coverage == reference(ids, into: &expected))
            #expect(first == queries + 1)
            queries += rows
            let state = table.state(of: AccountKey("u"))
            #expect(state?.occupancy == expected)
            #expect(state?.occupancy.isSparse == expected.isSparse)
            #expect(state?.queryCount == queries)
            #expect(table.summary(of: AccountKey("u"))?.coverage == expected.coverage)
        }
        #expect(!expected.isSparse, "the batches must reach the bit-set form")
        #expect(table.denseCount == 1)
    }

    @Test("Many accounts held as bit sets, across slab chunks, keep their own buckets; removing one (the last takes its place) changes no other")
    func accountsStayApart() {
        let (k, tables) = (12, 1)
        var table = AccountTable(hashBits: k, tableCount: tables)
        var generator = IDGenerator(state: 7)
        var expected: [String: Occupancy] = [:]
        // 150 accounts (more than two 64-block chunks at 512 B a block); every third stays sparse.
        for a in 0..<150 {
            let user = "account-\(a)"
            let rows = a % 3 == 0 ? 20 : 300
            let ids = generator.batch(rows: rows, tables: tables, hashBits: k)
            var occupancy = Occupancy(hashBits: k, tableCount: tables)
            _ = reference(ids, into: &occupancy)
            _ = record(ids, user: user, in: &table)
            expected[user] = occupancy
        }
        #expect(table.count == 150)
        #expect(table.denseCount == 100)
        for a in stride(from: 0, to: 150, by: 4) {
            let removed = table.remove(AccountKey("account-\(a)"))
            #expect(removed)
            expected["account-\(a)"] = nil
        }
        let removedTwice = table.remove(AccountKey("account-0"))
        #expect(!removedTwice)
        #expect(table.count == expected.count)
        #expect(Set(table.users) == Set(expected.keys))
        for (user, occupancy) in expected { #expect(table.state(of: AccountKey(user))?.occupancy == occupancy, "\(user)") }
        #expect(table.state(of: AccountKey("account-0")) == nil)
        #expect(table.summary(of: AccountKey("account-4")) == nil)
    }

    @Test("A removed account's bit sets are cleared before another account gets them, and a returning user starts from zero")
    func freedBlocksAreCleared() {
        var table = AccountTable(hashBits: 12, tableCount: 1)
        var generator = IDGenerator(state: 11)
        _ = record(generator.batch(rows: 1000, tables: 1, hashBits: 12), user: "first", in: &table)
        #expect(table.denseCount == 1)
        let removed = table.remove(AccountKey("first"))
        #expect(removed)
        #expect(table.denseCount == 0)
        let ids = generator.batch(rows: 300, tables: 1, hashBits: 12)
        var occupancy = Occupancy(hashBits: 12, tableCount: 1)
        let coverage = reference(ids, into: &occupancy)
        let (recorded, first) = record(ids, user: "second", in: &table)
        #expect(recorded == coverage)
        #expect(table.state(of: AccountKey("second"))?.occupancy == occupancy)
        #expect(table.denseCount == 1)
        let (again, firstAgain) = record([5], user: "first", in: &table)
        #expect(again == [1.0 / 4096])
        #expect((first, firstAgain) == (1, 1))
    }

    @Test("Loading merges (union, larger query count) or replaces, in either form, and frees bit sets it no longer needs",
          arguments: [(20, 20), (20, 400), (400, 20), (400, 400)])
    func loadMergesAndReplaces(_ rows: (Int, Int)) {
        let (k, tables) = (12, 2)
        var generator = IDGenerator(state: UInt64(rows.0 * 1000 + rows.1))
        // Spread over 300 buckets so that 20 rows stay sparse and 400 rows go dense.
        let own = generator.batch(rows: rows.0, tables: tables, hashBits: k, spread: 300)
        let other = generator.batch(rows: rows.1, tables: tables, hashBits: k, spread: 300)
        var mine = Occupancy(hashBits: k, tableCount: tables)
        _ = reference(own, into: &mine)
        var loaded = Occupancy(hashBits: k, tableCount: tables)
        _ = reference(other, into: &loaded)
        var union = mine
        union.formUnion(loaded)

        var table = AccountTable(hashBits: k, tableCount: tables)
        _ = record(own, user: "u", in: &table)
        table.load(loaded, queryCount: 5, for: AccountKey("u"), merging: true)
        #expect(table.state(of: AccountKey("u"))?.occupancy == union)
        #expect(table.state(of: AccountKey("u"))?.queryCount == max(rows.0, 5))
        #expect(table.denseCount == (union.isSparse ? 0 : 1))

        table.load(loaded, queryCount: 5, for: AccountKey("u"), merging: false)
        #expect(table.state(of: AccountKey("u"))?.occupancy == loaded)
        #expect(table.state(of: AccountKey("u"))?.queryCount == 5)
        #expect(table.denseCount == (loaded.isSparse ? 0 : 1))

        // Recording after a load continues from the loaded state.
        let more = generator.batch(rows: 30, tables: tables, hashBits: k)
        var continued = loaded
        let (coverage, first) = record(more, user: "u", in: &table)
        #expect(coverage == reference(more, into: &continued))
        #expect(first == 6)
        #expect(table.state(of: AccountKey("u"))?.occupancy == continued)

        // Loading creates an account that does not exist yet.
        table.load(loaded, queryCount: 9, for: AccountKey("new"), merging: true)
        #expect(table.state(of: AccountKey("new"))?.occupancy == loaded)
        #expect(table.state(of: AccountKey("new"))?.queryCount == 9)
    }

    @Test("The slab hands out cleared blocks, reuses freed ones first, and keeps blocks of different numbers apart")
    func slabBlocks() {
        var slab = BitSetSlab(wordsPerBlock: 3)
        let blocks = (0..<3000).map { _ in slab.allocate() }
        #expect(Set(blocks).count == 3000)
        #expect(slab.count == 3000)
        for b in blocks {
            #expect(slab.words(of: b) == [0, 0, 0])
            slab.withBlock(b) { $0.update(repeating: UInt64(b) + 1) }
        }
        #expect(blocks.allSatisfy { slab.words(of: $0) == [UInt64($0) + 1, UInt64($0) + 1, UInt64($0) + 1] })
        slab.free(blocks[1500])
        #expect(slab.count == 2999)
        let again = slab.allocate()
        #expect(again == blocks[1500])
        #expect(slab.words(of: again) == [0, 0, 0])
        #expect(slab.words(of: blocks[1499]) == [1500, 1500, 1500])
    }
}
