/// The set of buckets a user's representations have fallen into, per hash table, with the
/// number of occupied buckets kept so that coverage is O(1).
///
/// Coverage (the paper's Block 1 measure) is the fraction of occupied buckets,
/// averaged over tables.
///
/// The set has two representations, chosen by size (the value is the same either way; ``==``
/// compares sets, and ``rawWords`` is always the bit-set form):
/// - **sparse**, while few buckets are occupied: a sorted list of 32-bit keys
///   `table · 2^k + bucket`, 4 bytes per occupied bucket. A new account, a one-off caller and a
///   legitimate user who stays in a small region hold a few dozen bytes instead of a bit set.
/// - **dense**, once the list would take more bytes than the bit sets (more than
///   `T · 2^k / 32` buckets, 128 at k = 12 and one table): a `2^k`-bit set per table,
///   `2^k / 8` bytes each (512 B at k = 12).
/// The switch happens on the insert that crosses the limit and is never undone.
public struct Occupancy: Sendable {
    private let bits: UInt8
    private let tables: UInt16
    /// Occupied (table, bucket) pairs over all tables.
    private var occupied: Int
    /// Sparse form: sorted distinct keys `t << k | bucket`; empty once dense.
    private var keys: [UInt32]
    /// Dense form: table t's bits are words[t * wordsPerTable ..< (t + 1) * wordsPerTable];
    /// empty while sparse (a dense set always has at least one word per table).
    private var words: [UInt64]

    /// Hyperplanes per table `k` (each table has `2^k` buckets).
    public var hashBits: Int { Int(bits) }
    /// Number of tables `T`.
    public var tableCount: Int { Int(tables) }

    /// The most tables an occupancy holds: 65535.
    public static let largestTableCount = Int(UInt16.max)

    /// An empty occupancy of `tableCount` tables of `2^hashBits` buckets.
    /// - Precondition: `hashBits` in 1...24, `tableCount` in 1...``largestTableCount``.
    public init(hashBits: Int, tableCount: Int) {
        precondition((1...24).contains(hashBits) && (1...Self.largestTableCount).contains(tableCount),
                     "Occupancy of \(tableCount) tables of 2^\(hashBits) buckets")
        self.bits = UInt8(hashBits)
        self.tables = UInt16(tableCount)
        self.occupied = 0
        self.keys = []
        self.words = []
        if !Self.keysFit(hashBits: hashBits, tableCount: tableCount) {
            words = [UInt64](repeating: 0, count: Self.wordsPerTable(hashBits) * tableCount)
        }
    }

    static func wordsPerTable(_ hashBits: Int) -> Int { max(1, (1 << hashBits) / 64) }

    /// Whether every (table, bucket) pair has a 32-bit key (always, within the configuration's
    /// 64 tables of at most 2^24 buckets).
    private static func keysFit(hashBits: Int, tableCount: Int) -> Bool { tableCount << hashBits < 1 << 32 }

    /// Most keys the sparse form holds: as many bytes as the bit sets.
    private var sparseLimit: Int { Self.sparseLimit(hashBits: hashBits, tableCount: tableCount) }

    /// Most keys the sparse form of this shape holds (as many bytes as its bit sets).
    static func sparseLimit(hashBits: Int, tableCount: Int) -> Int { 2 * wordsPerTable(hashBits) * tableCount }

    /// Buckets per table, `2^k`.
    public var bucketCount: Int { 1 << hashBits }

    /// Whether the set is held as a sorted list of keys (`true`) or as bit sets (`false`):
    /// a memory detail (see the type's documentation), not part of the set's value.
    public var isSparse: Bool { words.isEmpty }

    /// Occupied buckets over all tables.
    /// - Complexity: O(1).
    public var occupiedTotal: Int { occupied }

    /// Occupied buckets in table `t`.
    /// - Complexity: O(log n) sparse, O(2^k / 64) dense.
    public func occupiedCount(table t: Int) -> Int {
        precondition(t >= 0 && t < tableCount, "table \(t) is out of range")
        if isSparse {
            return Self.lowerBound(keys, UInt32((t + 1) << hashBits)) - Self.lowerBound(keys, UInt32(t << hashBits))
        }
        let perTable = Self.wordsPerTable(hashBits)
        return words[t * perTable ..< (t + 1) * perTable].reduce(0) { $0 + $1.nonzeroBitCount }
    }

    /// Fraction of occupied buckets, averaged over tables, in [0, 1].
    /// - Complexity: O(1).
    public var coverage: Double {
        Double(occupied) / Double(bucketCount * tableCount)
    }

    /// Whether `bucket` of table `t` is occupied.
    public func contains(bucket: UInt32, table t: Int) -> Bool {
        precondition(Int(bucket) < bucketCount && t >= 0 && t < tableCount, "bucket \(bucket) of table \(t) is out of range")
        if isSparse {
            let key = UInt32(t << hashBits) | bucket
            let i = Self.lowerBound(keys, key)
            return i < keys.count && keys[i] == key
        }
        let (w, bit) = Self.position(bucket: bucket, table: t, hashBits: hashBits)
        return words[w] & bit != 0
    }

    /// Marks `bucket` of table `t` occupied; returns whether it was newly occupied.
    /// - Precondition: `bucket < bucketCount` and `t` in `0..<tableCount`.
    /// - Complexity: O(log n + n) sparse (n ≤ `T · 2^k / 32` keys, a short move), O(1) dense;
    ///   the insert that switches to the dense form is O(T · 2^k / 64).
    @discardableResult
    public mutating func insert(bucket: UInt32, table t: Int) -> Bool {
        precondition(Int(bucket) < bucketCount && t >= 0 && t < tableCount, "bucket \(bucket) of table \(t) is out of range")
        if isSparse {
            switch Self.insertKey(UInt32(t << hashBits) | bucket, into: &keys, limit: sparseLimit) {
            case .present: return false
            case .inserted:
                occupied += 1
                return true
            case .full: densify()
            }
        }
        let k = hashBits
        let inserted = words.withUnsafeMutableBufferPointer { Self.setBit(bucket: bucket, table: t, hashBits: k, in: $0) }
        if inserted { occupied += 1 }
        return inserted
    }

    /// What ``insertKey(_:into:limit:)`` did.
    enum SparseInsert { case inserted, present, full }

    /// Inserts `key` into the sorted distinct `keys` unless it is there or `keys` already holds
    /// `limit` keys (then the set must go dense; `keys` is unchanged).
    static func insertKey(_ key: UInt32, into keys: inout [UInt32], limit: Int) -> SparseInsert {
        let i = lowerBound(keys, key)
        if i < keys.count && keys[i] == key { return .present }
        guard keys.count < limit else { return .full }
        keys.insert(key, at: i)
        return .inserted
    }

    /// Sets `bucket` of table `t` in bit-set `words` (this shape's layout); returns whether it
    /// was clear.
    @inline(__always)
    static func setBit(bucket: UInt32, table t: Int, hashBits: Int, in words: UnsafeMutableBufferPointer<UInt64>) -> Bool {
        let (w, bit) = position(bucket: bucket, table: t, hashBits: hashBits)
        if words[w] & bit != 0 { return false }
        words[w] |= bit
        return true
    }

    /// Adds every bucket occupied in `other` (same shape): the union, which is what two
    /// replicas' records of one user combine to without losing either's buckets.
    public mutating func formUnion(_ other: Occupancy) {
        precondition(other.hashBits == hashBits && other.tableCount == tableCount, "union of occupancies of different shapes")
        if isSparse && other.isSparse {
            keys = Self.mergeSorted(keys, other.keys)
            occupied = keys.count
            if occupied > sparseLimit { densify() }
            return
        }
        if isSparse { densify() }
        if other.isSparse {
            let k = hashBits
            words.withUnsafeMutableBufferPointer { Self.setBits(other.keys, hashBits: k, in: $0) }
        } else {
            for i in words.indices { words[i] |= other.words[i] }
        }
        occupied = words.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    /// Whether every bucket set in `rawWords` (the ``rawWords`` layout of this shape) is
    /// occupied here; false when the word count does not fit this shape.
    /// - Complexity: O(words + set bits · log n) sparse, O(words) dense.
    public func isSuperset(ofRawWords rawWords: [UInt64]) -> Bool {
        guard rawWords.count == Self.wordsPerTable(hashBits) * tableCount else { return false }
        if !isSparse { return zip(rawWords, words).allSatisfy { $0 & ~$1 == 0 } }
        return Self.allKeys(of: rawWords, hashBits: hashBits) { key in
            let at = Self.lowerBound(keys, key)
            return at < keys.count && keys[at] == key
        }
    }

    /// The raw bit words (table-major, little-endian bit order within a word), for persistence.
    /// The same words whichever form the set is held in.
    public var rawWords: [UInt64] {
        isSparse ? bitWords(of: keys) : words
    }

    /// An occupancy from persisted words (held sparse when few bits are set).
    /// - Throws: ``OccupancyError`` when the shape is unsupported, the word count does not
    ///   match the shape, or bits beyond `2^k` are set (k < 6).
    public init(hashBits: Int, tableCount: Int, rawWords: [UInt64]) throws {
        guard (1...24).contains(hashBits), (1...Int(UInt16.max)).contains(tableCount) else {
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
        self.init(hashBits: hashBits, tableCount: tableCount)
        let count = rawWords.reduce(0) { $0 + $1.nonzeroBitCount }
        if isSparse && count <= sparseLimit {
            keys.reserveCapacity(count)
            _ = Self.allKeys(of: rawWords, hashBits: hashBits) { key in
                keys.append(key)
                return true
            }
        } else {
            words = rawWords
        }
        occupied = count
    }

    /// Approximate heap bytes held (the keys or the words, without allocator overhead).
    public var byteCount: Int { keys.capacity * 4 + words.capacity * 8 }

    /// The sparse form's sorted keys (`t << k | bucket`); empty once dense.
    var sparseKeys: [UInt32] { keys }

    /// An occupancy of this shape holding exactly `sortedKeys` (sorted, distinct, in range, at
    /// most ``sparseLimit(hashBits:tableCount:)`` of them) in the sparse form.
    init(hashBits: Int, tableCount: Int, sortedKeys: [UInt32]) {
        self.init(hashBits: hashBits, tableCount: tableCount)
        precondition(isSparse && sortedKeys.count <= sparseLimit, "too many keys for the sparse form")
        keys = sortedKeys
        occupied = sortedKeys.count
    }

    /// An occupancy of this shape held as bit sets, with exactly the bits of `denseWords` (this
    /// shape's layout, no bits beyond `2^k`).
    init(hashBits: Int, tableCount: Int, denseWords: [UInt64]) {
        self.init(hashBits: hashBits, tableCount: tableCount)
        precondition(denseWords.count == Self.wordsPerTable(hashBits) * tableCount, "bit sets of the wrong size")
        words = denseWords
        occupied = denseWords.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    // MARK: - Representation

    /// Moves the sparse keys into bit sets (the count is unchanged).
    private mutating func densify() {
        words = bitWords(of: keys)
        keys = []
    }

    /// The bit-set words of this shape with exactly `keys` set.
    private func bitWords(of keys: [UInt32]) -> [UInt64] {
        var out = [UInt64](repeating: 0, count: Self.wordsPerTable(hashBits) * tableCount)
        out.withUnsafeMutableBufferPointer { Self.setBits(keys, hashBits: hashBits, in: $0) }
        return out
    }

    /// Sets the bit of every key in `keys` in bit-set `words` (this shape's layout).
    static func setBits(_ keys: [UInt32], hashBits: Int, in words: UnsafeMutableBufferPointer<UInt64>) {
        for key in keys {
            let (w, bit) = position(key: key, hashBits: hashBits)
            words[w] |= bit
        }
    }

    /// Calls `body` with the key of every bit set in `rawWords`, in ascending order, until it
    /// returns false; returns whether it never did.
    private static func allKeys(of rawWords: [UInt64], hashBits: Int, _ body: (UInt32) -> Bool) -> Bool {
        for (i, word) in rawWords.enumerated() {
            var rest = word
            while rest != 0 {
                if !body(key(word: i, bit: rest.trailingZeroBitCount, hashBits: hashBits)) { return false }
                rest &= rest &- 1
            }
        }
        return true
    }

    /// Word index and bit mask of `bucket` in table `t`.
    private static func position(bucket: UInt32, table t: Int, hashBits: Int) -> (Int, UInt64) {
        (t * wordsPerTable(hashBits) + Int(bucket) >> 6, UInt64(1) << (UInt64(bucket) & 63))
    }

    private static func position(key: UInt32, hashBits: Int) -> (Int, UInt64) {
        let k = UInt32(hashBits)
        return position(bucket: key & ((1 << k) - 1), table: Int(key >> k), hashBits: hashBits)
    }

    /// The key of bit `bit` of raw word `word` (k < 6 packs one table per word).
    private static func key(word: Int, bit: Int, hashBits: Int) -> UInt32 {
        let perTable = wordsPerTable(hashBits)
        let t = word / perTable
        let bucket = (word % perTable) * 64 + bit
        return UInt32(t << hashBits | bucket)
    }

    /// First index whose key is not below `key`.
    private static func lowerBound(_ keys: [UInt32], _ key: UInt32) -> Int {
        keys.withUnsafeBufferPointer { k in
            var (low, high) = (0, k.count)
            while low < high {
                let mid = (low + high) >> 1
                if k[mid] < key { low = mid + 1 } else { high = mid }
            }
            return low
        }
    }

    /// The sorted distinct union of two sorted distinct key lists.
    private static func mergeSorted(_ a: [UInt32], _ b: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(a.count + b.count)
        var (i, j) = (0, 0)
        while i < a.count && j < b.count {
            if a[i] < b[j] { out.append(a[i]); i += 1 }
            else if b[j] < a[i] { out.append(b[j]); j += 1 }
            else { out.append(a[i]); i += 1; j += 1 }
        }
        out.append(contentsOf: a[i...])
        out.append(contentsOf: b[j...])
        return out
    }
}

extension Occupancy: Equatable {
    /// Same shape and the same occupied buckets, whichever form each side is held in.
    public static func == (lhs: Occupancy, rhs: Occupancy) -> Bool {
        guard lhs.hashBits == rhs.hashBits, lhs.tableCount == rhs.tableCount, lhs.occupied == rhs.occupied else { return false }
        switch (lhs.isSparse, rhs.isSparse) {
        case (true, true): return lhs.keys == rhs.keys
        case (false, false): return lhs.words == rhs.words
        default: return lhs.rawWords == rhs.rawWords
        }
    }
}

/// Persisted occupancy that does not fit the expected shape.
public struct OccupancyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the occupancy or snapshot.
    public let message: String
    public var description: String { "invalid occupancy: \(message)" }
    /// An error with `message` (for callers that check snapshots of their own).
    public init(message: String) { self.message = message }
}
