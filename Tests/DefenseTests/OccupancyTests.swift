import Defense
import NumericKernels
import Testing

/// The occupancy against a plain reference: a `Set` of (table, bucket) pairs and bit words
/// laid out as the persistence format documents (table-major, bit `b % 64` of word
/// `t · max(1, 2^k / 64) + b / 64`), built here independently of the engine.
private struct ReferenceOccupancy {
    let hashBits: Int
    let tableCount: Int
    var pairs = Set<Int>()

    init(hashBits: Int, tableCount: Int) {
        self.hashBits = hashBits
        self.tableCount = tableCount
    }

    mutating func insert(bucket: Int, table: Int) -> Bool { pairs.insert(table << hashBits | bucket).inserted }

    func count(table: Int) -> Int { pairs.filter { $0 >> hashBits == table }.count }

    var words: [UInt64] {
        let perTable = max(1, (1 << hashBits) / 64)
        var out = [UInt64](repeating: 0, count: perTable * tableCount)
        for p in pairs {
            let (t, b) = (p >> hashBits, p & ((1 << hashBits) - 1))
            out[t * perTable + b / 64] |= 1 << UInt64(b % 64)
        }
        return out
    }

    /// Most buckets held sparse: as many 4-byte keys as the bit sets have bytes.
    var sparseLimit: Int { max(1, (1 << hashBits) / 64) * tableCount * 8 / 4 }
}

@Suite("Occupancy: sparse and dense forms hold the same set")
struct OccupancyTests {
    @Test("Inserts, membership, counts and coverage agree with a reference set before and after the switch to bit sets",
          arguments: [(3, 2), (6, 1), (12, 1), (12, 3), (16, 1)])
    func insertsAgreeWithReference(_ shape: (Int, Int)) throws {
        let (k, tables) = shape
        var occupancy = Occupancy(hashBits: k, tableCount: tables)
        var reference = ReferenceOccupancy(hashBits: k, tableCount: tables)
        var random = RandomGenerator(seed: RandomSeed(UInt64(k), UInt64(tables), 7, 11))
        // Enough inserts to pass the switch three times over (small shapes fill up).
        let inserts = min(3 * reference.sparseLimit + 50, 4 * (tables << k))
        var sawSparse = false, sawDense = false
        for i in 0..<inserts {
            let (b, t) = (Int(random.next() % UInt64(1 << k)), Int(random.next() % UInt64(tables)))
            let inserted = occupancy.insert(bucket: UInt32(b), table: t)
            #expect(inserted == reference.insert(bucket: b, table: t), "insert \(i): bucket \(b) table \(t)")
            #expect(occupancy.isSparse == (reference.pairs.count <= reference.sparseLimit), "form after insert \(i) (\(reference.pairs.count) buckets)")
            if occupancy.isSparse { sawSparse = true } else { sawDense = true }
            if i % 97 == 0 || i == inserts - 1 {
                for _ in 0..<20 {
                    let (pb, pt) = (Int(random.next() % UInt64(1 << k)), Int(random.next() % UInt64(tables)))
                    #expect(occupancy.contains(bucket: UInt32(pb), table: pt) == reference.pairs.contains(pt << k | pb))
                }
                for t in 0..<tables { #expect(occupancy.occupiedCount(table: t) == reference.count(table: t)) }
                #expect(occupancy.occupiedTotal == reference.pairs.count)
                #expect(occupancy.coverage == Double(reference.pairs.count) / Double(tables << k))
                #expect(occupancy.rawWords == reference.words)
            }
        }
        #expect(sawSparse && sawDense, "the run must cover both forms")
    }

    @Test("Persisted words load back to an equal set, held sparse when few buckets are set",
          arguments: [(4, 2), (12, 1), (12, 3)])
    func persistenceRoundTrip(_ shape: (Int, Int)) throws {
        let (k, tables) = shape
        var random = RandomGenerator(seed: RandomSeed(UInt64(k), UInt64(tables), 13, 17))
        var occupancy = Occupancy(hashBits: k, tableCount: tables)
        let limit = ReferenceOccupancy(hashBits: k, tableCount: tables).sparseLimit
        while occupancy.occupiedTotal < limit + 5 {
            let restored = try Occupancy(hashBits: k, tableCount: tables, rawWords: occupancy.rawWords)
            #expect(restored == occupancy)
            #expect(restored.isSparse == (occupancy.occupiedTotal <= limit))
            #expect(restored.rawWords == occupancy.rawWords)
            occupancy.insert(bucket: UInt32(random.next() % UInt64(1 << k)), table: Int(random.next() % UInt64(tables)))
        }
    }

    @Test("Union of every pair of forms equals the union of the reference sets",
          arguments: [(2, 3), (3, 300), (40, 90), (100, 100), (200, 10), (200, 300)])
    func unionAgreesWithReference(_ sizes: (Int, Int)) {
        let (k, tables) = (12, 1)
        var random = RandomGenerator(seed: RandomSeed(UInt64(sizes.0), UInt64(sizes.1), 19, 23))
        var (a, b) = (Occupancy(hashBits: k, tableCount: tables), Occupancy(hashBits: k, tableCount: tables))
        var (ra, rb) = (ReferenceOccupancy(hashBits: k, tableCount: tables), ReferenceOccupancy(hashBits: k, tableCount: tables))
        // Overlapping draws: both sides from the first 300 buckets.
        for _ in 0..<sizes.0 {
            let x = Int(random.next() % 300)
            a.insert(bucket: UInt32(x), table: 0); _ = ra.insert(bucket: x, table: 0)
        }
        for _ in 0..<sizes.1 {
            let x = Int(random.next() % 300)
            b.insert(bucket: UInt32(x), table: 0); _ = rb.insert(bucket: x, table: 0)
        }
        let (formA, formB) = (a.isSparse, b.isSparse)
        a.formUnion(b)
        let union = ra.pairs.union(rb.pairs)
        #expect(a.occupiedTotal == union.count, "sparse \(formA) ∪ sparse \(formB)")
        #expect(a.isSparse == (formA && formB && union.count <= ra.sparseLimit))
        var expected = ReferenceOccupancy(hashBits: k, tableCount: tables)
        expected.pairs = union
        #expect(a.rawWords == expected.words)
        #expect(a.contains(bucket: UInt32(union.first!), table: 0))
    }

    @Test("isSuperset(ofRawWords:) agrees with reference subset tests in both forms", arguments: [20, 400])
    func supersetOfWords(_ size: Int) {
        let (k, tables) = (12, 2)
        var random = RandomGenerator(seed: RandomSeed(UInt64(size), 29, 31, 37))
        var occupancy = Occupancy(hashBits: k, tableCount: tables)
        var reference = ReferenceOccupancy(hashBits: k, tableCount: tables)
        for _ in 0..<size {
            let (b, t) = (Int(random.next() % 500), Int(random.next() % 2))
            occupancy.insert(bucket: UInt32(b), table: t); _ = reference.insert(bucket: b, table: t)
        }
        #expect(occupancy.isSparse == (size == 20))
        for trial in 0..<200 {
            // Candidates: some of the set's own pairs, plus (every other trial) one random pair.
            var candidate = ReferenceOccupancy(hashBits: k, tableCount: tables)
            for p in reference.pairs where random.next() % 3 == 0 { candidate.pairs.insert(p) }
            if trial % 2 == 1 { candidate.pairs.insert(Int(random.next() % 2) << k | Int(random.next() % 600)) }
            #expect(occupancy.isSuperset(ofRawWords: candidate.words) == candidate.pairs.isSubset(of: reference.pairs))
        }
        #expect(occupancy.isSuperset(ofRawWords: [UInt64](repeating: 0, count: 2 * 64)))
        #expect(!occupancy.isSuperset(ofRawWords: [0, 0]))  // wrong shape
    }

    @Test("Sets in different forms compare by value")
    func equalityIsBySet() throws {
        var dense = Occupancy(hashBits: 6, tableCount: 1)
        for b in 0..<40 { dense.insert(bucket: UInt32(b), table: 0) }
        #expect(!dense.isSparse)  // one 64-bucket table is one word: it holds 2 keys sparse
        var sparse = Occupancy(hashBits: 6, tableCount: 1)
        sparse.insert(bucket: 1, table: 0)
        #expect(sparse.isSparse && sparse != dense)
        let reloaded = try Occupancy(hashBits: 6, tableCount: 1, rawWords: dense.rawWords)
        #expect(reloaded == dense)
        var other = Occupancy(hashBits: 6, tableCount: 1)
        other.insert(bucket: 2, table: 0)
        #expect(other != sparse)
        #expect(Occupancy(hashBits: 6, tableCount: 1) != Occupancy(hashBits: 6, tableCount: 2))
    }

    @Test("The largest configured shape (64 tables of 2^24 buckets) stays sparse and counts its last table")
    func largestShape() {
        var occupancy = Occupancy(hashBits: 24, tableCount: 64)
        let inserted = [occupancy.insert(bucket: (1 << 24) - 1, table: 63), occupancy.insert(bucket: 0, table: 63),
                        occupancy.insert(bucket: 5, table: 0), occupancy.insert(bucket: 0, table: 63)]
        #expect(inserted == [true, true, true, false])
        #expect(occupancy.isSparse && occupancy.byteCount < 1024)
        #expect(occupancy.occupiedCount(table: 63) == 2 && occupancy.occupiedCount(table: 0) == 1
                && occupancy.occupiedCount(table: 1) == 0)
        #expect(occupancy.contains(bucket: (1 << 24) - 1, table: 63) && !occupancy.contains(bucket: (1 << 24) - 1, table: 62))
        #expect(occupancy.coverage == 3.0 / Double(64 << 24))
    }
}
