/// The set of buckets a user's representations have fallen into, per hash table:
/// a `2^k`-bit set for each of `T` tables, with counts kept so that coverage is O(T).
///
/// Coverage (the paper's Block 1 measure) is the fraction of occupied buckets,
/// averaged over tables.
public struct Occupancy: Sendable, Equatable {
    /// Hyperplanes per table `k` (each table has `2^k` buckets).
    public let hashBits: Int
    /// Number of tables `T`.
    public let tableCount: Int
    // Table t's bits are words[t * wordsPerTable ..< (t + 1) * wordsPerTable].
    private var words: [UInt64]
    private var counts: [Int]

    /// An empty occupancy.
    public init(hashBits: Int, tableCount: Int) {
        precondition((1...24).contains(hashBits) && tableCount >= 1, "Occupancy of \(tableCount) tables of 2^\(hashBits) buckets")
        self.hashBits = hashBits
        self.tableCount = tableCount
        self.words = [UInt64](repeating: 0, count: Self.wordsPerTable(hashBits) * tableCount)
        self.counts = [Int](repeating: 0, count: tableCount)
    }

    static func wordsPerTable(_ hashBits: Int) -> Int { max(1, (1 << hashBits) / 64) }

    /// Buckets per table, `2^k`.
    public var bucketCount: Int { 1 << hashBits }

    /// Occupied buckets in table `t`.
    /// - Complexity: O(1).
    public func occupiedCount(table t: Int) -> Int { counts[t] }

    /// Fraction of occupied buckets, averaged over tables, in [0, 1].
    /// - Complexity: O(T).
    public var coverage: Double {
        Double(counts.reduce(0, +)) / Double(bucketCount * tableCount)
    }

    /// Whether `bucket` of table `t` is occupied.
    public func contains(bucket: UInt32, table t: Int) -> Bool {
        precondition(Int(bucket) < bucketCount && t < tableCount, "bucket \(bucket) of table \(t) is out of range")
        let (w, bit) = (t * Self.wordsPerTable(hashBits) + Int(bucket) >> 6, UInt64(1) << (UInt64(bucket) & 63))
        return words[w] & bit != 0
    }

    /// Marks `bucket` of table `t` occupied; returns whether it was newly occupied.
    /// - Complexity: O(1).
    @discardableResult
    public mutating func insert(bucket: UInt32, table t: Int) -> Bool {
        precondition(Int(bucket) < bucketCount && t < tableCount, "bucket \(bucket) of table \(t) is out of range")
        let (w, bit) = (t * Self.wordsPerTable(hashBits) + Int(bucket) >> 6, UInt64(1) << (UInt64(bucket) & 63))
        if words[w] & bit != 0 { return false }
        words[w] |= bit
        counts[t] += 1
        return true
    }

    /// Adds every bucket occupied in `other` (same shape): the bitwise OR, which is what two
    /// replicas' records of one user combine to without losing either's buckets.
    public mutating func formUnion(_ other: Occupancy) {
        precondition(other.hashBits == hashBits && other.tableCount == tableCount, "union of occupancies of different shapes")
        for i in words.indices { words[i] |= other.words[i] }
        recount()
    }

    /// The raw bit words (table-major, little-endian bit order within a word), for persistence.
    public var rawWords: [UInt64] { words }

    /// An occupancy from persisted words.
    /// - Throws: ``OccupancyError`` when the word count does not match the shape, or bits
    ///   beyond `2^k` are set (k < 6).
    public init(hashBits: Int, tableCount: Int, rawWords: [UInt64]) throws {
        guard (1...24).contains(hashBits), tableCount >= 1 else {
            throw OccupancyError(message: "unsupported shape: \(tableCount) tables of 2^\(hashBits) buckets")
        }
        let perTable = Self.wordsPerTable(hashBits)
        guard rawWords.count == perTable * tableCount else {
            throw OccupancyError(message: "expected \(perTable * tableCount) words for \(tableCount) tables of 2^\(hashBits) buckets, got \(rawWords.count)")
        }
        if hashBits < 6 {
            let mask = (UInt64(1) << UInt64(1 << hashBits)) &- 1
            guard rawWords.allSatisfy({ $0 & ~mask == 0 }) else {
                throw OccupancyError(message: "bits set beyond bucket \((1 << hashBits) - 1)")
            }
        }
        self.hashBits = hashBits
        self.tableCount = tableCount
        self.words = rawWords
        self.counts = [Int](repeating: 0, count: tableCount)
        recount()
    }

    private mutating func recount() {
        let perTable = Self.wordsPerTable(hashBits)
        for t in 0..<tableCount {
            counts[t] = words[t * perTable ..< (t + 1) * perTable].reduce(0) { $0 + $1.nonzeroBitCount }
        }
    }

    /// Approximate heap bytes held (words and counts, without allocator overhead).
    public var byteCount: Int { words.count * 8 + counts.count * 8 }
}

/// Persisted occupancy that does not fit the expected shape.
public struct OccupancyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public var description: String { "invalid occupancy: \(message)" }
}
