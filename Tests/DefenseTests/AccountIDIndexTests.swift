import Defense
import NumericKernels
import Testing

/// The hash functions the index is tried with: the real one, and poor ones that make every id
/// (or ids of one length) collide, so that probe runs wrap around the table and removals must
/// shift entries back.
enum IndexHashing: String, CaseIterable, CustomTestStringConvertible {
    case standard, constant, byLength

    var function: @Sendable (UnsafeBufferPointer<UInt8>) -> Int {
        switch self {
        case .standard: { AccountIDIndex.hash($0) }
        // Near the top of a 16-slot table, so runs wrap past the last slot.
        case .constant: { _ in 13 }
        case .byLength: { $0.count * 7 }
        }
    }

    var testDescription: String { rawValue }
}

/// Checks `index` against `model` (id -> number): the same count, every id found at its number
/// and named by it, the numbers a permutation of `0 ..< count`, `absent` ids not found.
private func expectAgrees(_ index: AccountIDIndex, _ model: [String: Int], absent: [String], key: (String) -> AccountKey,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(index.count == model.count, sourceLocation: sourceLocation)
    for (id, n) in model {
        #expect(index.number(of: key(id)) == n, "\(id)", sourceLocation: sourceLocation)
        #expect(index.id(of: n) == id, sourceLocation: sourceLocation)
    }
    #expect(Set(model.values) == Set(0..<model.count), sourceLocation: sourceLocation)
    for id in absent { #expect(index.number(of: key(id)) == nil, "\(id)", sourceLocation: sourceLocation) }
}

@Suite("Account id index: packed user ids and their hash table")
struct AccountIDIndexTests {
    /// A random mix of inserts and removals, checked after every step against a dictionary that
    /// models the numbering (the last account takes a removed one's number).
    @Test("agrees with a dictionary over inserts and swap removals", arguments: IndexHashing.allCases)
    func agreesWithModel(hashing: IndexHashing) {
        let hash = hashing.function
        let key = { (id: String) in AccountKey(id, hash: id.utf8.withContiguousStorageIfAvailable(hash)!) }
        var index = AccountIDIndex(hashing: hash)
        var model: [String: Int] = [:]
        var random = RandomGenerator(seed: RandomSeed(0x1D5, 0xB0C4, 0, 2))
        // Ids of 1 to 70 bytes: short, around the 15-byte inline limit of String, long; some
        // non-ASCII.
        let pool = (0..<120).map { i -> String in
            let stem = i % 3 == 0 ? "üser-\(i)" : "user-\(i)"
            return stem + String(repeating: "x", count: Int.random(in: 0...60, using: &random))
        }
        let steps = hashing == .standard ? 1500 : 600
        for step in 0..<steps {
            let id = pool[Int.random(in: 0..<pool.count, using: &random)]
            if let n = model[id] {
                if Bool.random(using: &random) {
                    index.remove(key(id), number: n)
                    let last = model.count - 1
                    if let moved = model.first(where: { $0.value == last })?.key, moved != id { model[moved] = n }
                    model[id] = nil
                }
            } else {
                #expect(index.append(key(id)) == model.count)
                model[id] = model.count
            }
            if step % 25 == 0 || hashing != .standard {
                expectAgrees(index, model, absent: pool.filter { model[$0] == nil }.prefix(5).map { $0 }, key: key)
            }
        }
        expectAgrees(index, model, absent: pool.filter { model[$0] == nil }, key: key)
    }

    /// Removing most ids compacts the byte storage; the ids left are intact and found, and new
    /// ones can be added after.
    @Test("compaction after many removals keeps the remaining ids")
    func compaction() {
        var index = AccountIDIndex()
        let ids = (0..<3000).map { "account-\($0)-" + String(repeating: "k", count: $0 % 40) }
        for id in ids { _ = index.append(AccountKey(id)) }
        var model = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        for (i, id) in ids.enumerated() where i % 10 != 0 {
            let n = model[id]!
            index.remove(AccountKey(id), number: n)
            let last = model.count - 1
            if let moved = model.first(where: { $0.value == last })?.key, moved != id { model[moved] = n }
            model[id] = nil
        }
        expectAgrees(index, model, absent: ids.filter { model[$0] == nil }, key: { AccountKey($0) })
        for id in ["after-1", "after-2-" + String(repeating: "z", count: 50)] {
            model[id] = index.append(AccountKey(id))
        }
        expectAgrees(index, model, absent: ["account-1-k"], key: { AccountKey($0) })
    }

    /// Ids are compared as bytes: a precomposed and a decomposed "é" are two accounts (String's
    /// `==` would call them equal), and a prefix of an id is not the id.
    @Test("ids are told apart by their UTF-8 bytes")
    func byteIdentity() {
        var index = AccountIDIndex()
        let precomposed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(precomposed == decomposed)
        let a = index.append(AccountKey(precomposed))
        #expect(index.number(of: AccountKey(decomposed)) == nil)
        let b = index.append(AccountKey(decomposed))
        #expect(a != b)
        #expect(index.number(of: AccountKey(precomposed)) == a)
        #expect(index.number(of: AccountKey(decomposed)) == b)
        #expect(Array(index.id(of: b).utf8) == Array(decomposed.utf8))
        #expect(index.number(of: AccountKey("caf")) == nil)
    }
}

@Suite("User ids at the defense's boundary")
struct UserIDLimitTests {
    private func defense() throws -> B4BDefense {
        try B4BDefense(configuration: smallConfiguration(dimension: 16, transforms: []), secret: testSecret)
    }

    /// An id over the limit is refused with `invalidUser` by protect and track, and by an import,
    /// and nothing is stored; an id at the limit is accepted.
    @Test("ids longer than maxUserIDBytes are refused and leave no state")
    func tooLong() throws {
        let defense = try defense()
        let batch = spreadQueries(count: 2, dimension: 16, seed: 61)
        let long = String(repeating: "a", count: B4BDefense.maxUserIDBytes + 1)
        #expect { try defense.protect(batch, user: long) } throws: { ($0 as? ProtectError)?.code == .invalidUser }
        #expect { try defense.track(batch, user: long) } throws: { ($0 as? ProtectError)?.code == .invalidUser }
        let snapshot = defense.exportOccupancy(of: "nobody")
        #expect(throws: OccupancyError.self) { try defense.importOccupancy(snapshot, for: long) }
        #expect(defense.userCount == 0)
        let longest = String(repeating: "é", count: B4BDefense.maxUserIDBytes / 2)
        _ = try defense.track(batch, user: longest)
        #expect(defense.users == [longest])
        #expect(defense.queryCount(of: longest) == 2)
    }

    /// The defense keeps accounts whose ids differ only in normalisation apart, and forgets one
    /// without touching the other.
    @Test("canonically equivalent ids are separate accounts")
    func separateAccounts() throws {
        let defense = try defense()
        _ = try defense.track(spreadQueries(count: 3, dimension: 16, seed: 62), user: "caf\u{E9}")
        _ = try defense.track(spreadQueries(count: 1, dimension: 16, seed: 63), user: "cafe\u{301}")
        #expect(defense.queryCount(of: "caf\u{E9}") == 3)
        #expect(defense.queryCount(of: "cafe\u{301}") == 1)
        #expect(defense.removeUser("cafe\u{301}"))
        #expect(defense.queryCount(of: "caf\u{E9}") == 3)
        #expect(defense.userCount == 1)
    }
}

@Suite("Chunked array: per-account arrays that grow without copying")
struct ChunkedArrayTests {
    /// Appends, in-place changes, swaps and removals across chunk boundaries (chunks of four)
    /// agree with a plain array.
    @Test("agrees with an array across chunk boundaries")
    func agreesWithArray() {
        var chunked = ChunkedArray<[Int]>(chunkShift: 2)
        var plain: [[Int]] = []
        for i in 0..<23 {
            chunked.append([i])
            plain.append([i])
        }
        for i in stride(from: 0, to: 23, by: 3) {
            chunked[i].append(100 + i)
            plain[i].append(100 + i)
        }
        chunked.swapAt(1, 22)
        plain.swapAt(1, 22)
        chunked.swapAt(5, 5)
        for _ in 0..<6 {
            chunked.removeLast()
            plain.removeLast()
        }
        chunked.append([-1])
        plain.append([-1])
        #expect(chunked.count == plain.count)
        #expect((0..<chunked.count).map { chunked[$0] } == plain)
        while chunked.count > 0 { chunked.removeLast() }
        chunked.append([7])
        #expect(chunked.count == 1 && chunked[0] == [7])
    }
}
