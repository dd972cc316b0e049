/// A user id with its hash, computed once per call: the hash picks the account's shard and its
/// slot in the shard's ``AccountIDIndex``. Accounts are told apart by the ids' UTF-8 bytes
/// (two ids that differ only in Unicode normalisation are two accounts, as in a byte-comparing
/// store). (Package access for the tests.)
package struct AccountKey: Sendable {
    /// The user id.
    package let id: String
    /// A hash of the id's UTF-8 bytes, seeded per process (so not predictable from outside).
    package let hash: Int

    /// The key of user id `id`.
    package init(_ id: String) {
        self.id = id
        self.hash = Self.withUTF8(of: id) { AccountIDIndex.hash($0) }
    }

    /// Runs `body` on the id's UTF-8 bytes (see ``withUTF8(of:_:)``).
    package func withUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R { Self.withUTF8(of: id, body) }

    /// Runs `body` on the UTF-8 bytes of `id`: in place for a native string (no copy, and no
    /// reference counting, which the `var` copy that `String.withUTF8` needs would cost on
    /// every call), else from a contiguous copy.
    private static func withUTF8<R>(of id: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = id.utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = id
        return copy.withUTF8(body)
    }

    /// The key of `id` with a given hash (tests: an index built with a hash of their own).
    package init(_ id: String, hash: Int) {
        self.id = id
        self.hash = hash
    }
}

/// The user ids of one shard's accounts and the map from an id to its account's number
/// (`0 ..< count`, the position of the account's record in ``AccountTable``), laid out for a
/// small footprint per account:
/// - the ids' UTF-8 bytes end to end in 64 KiB chunks (an id costs its bytes, where a `String`
///   of more than 15 bytes is an allocation of its own: 48 to 80 bytes more for ids of 16 to 40
///   bytes), with 8 bytes of location per account in a ``ChunkedArray``;
/// - an open-addressing hash table (linear probing) of 32-bit account numbers, at most 3/4 full.
///
/// Removal moves the last account into the freed number (O(1) plus the probe); a removed id's
/// bytes stay in place until dead bytes outweigh live ones, and the chunks are then compacted.
/// (Package access for the tests.)
package struct AccountIDIndex: Sendable {
    /// Ids' bytes end to end in chunks of ``maxIDBytes`` bytes (an id never straddles two);
    /// removed ids leave gaps (``deadBytes``) until compaction.
    private var chunks: [[UInt8]] = []
    /// Bytes stored in ``chunks``, live or dead.
    private var storedBytes = 0
    /// Per account: `chunk << 34 | offset << 17 | length` of its id.
    private var locations = ChunkedArray<UInt64>(chunkShift: 12)
    /// `0` for an empty slot, else an account number plus one; a power of two in size (or empty).
    private var slots: [UInt32] = []
    /// Bytes of removed ids still in the chunks.
    private var deadBytes = 0
    /// The hash function (a parameter for the tests, which force collisions with it).
    private let hashing: @Sendable (UnsafeBufferPointer<UInt8>) -> Int

    /// The longest id the index stores, in UTF-8 bytes: one chunk (64 KiB).
    package static let maxIDBytes = 1 << 16

    /// An empty index hashing ids with ``hash(_:)``.
    package init() { self.hashing = { AccountIDIndex.hash($0) } }

    /// An empty index hashing ids with `hashing` (tests: a poor hash forces collisions). Keys
    /// passed to it must carry `hashing`'s value of their id.
    package init(hashing: @escaping @Sendable (UnsafeBufferPointer<UInt8>) -> Int) { self.hashing = hashing }

    /// The hash of an id's UTF-8 bytes that ``AccountKey`` carries: SipHash through the standard
    /// library's `Hasher`, seeded per process.
    package static func hash(_ utf8: UnsafeBufferPointer<UInt8>) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(utf8))
        return hasher.finalize()
    }

    /// Number of accounts.
    package var count: Int { locations.count }

    /// The id of account `n`.
    package func id(of n: Int) -> String {
        withID(of: n) { String(decoding: $0, as: UTF8.self) }
    }

    /// The account number of `key`, or nil when it has none.
    package func number(of key: AccountKey) -> Int? {
        guard !slots.isEmpty else { return nil }
        return key.withUTF8 { utf8 in
            var slot = key.hash & (slots.count - 1)
            while slots[slot] != 0 {
                let n = Int(slots[slot] - 1)
                if matches(n, utf8) { return n }
                slot = (slot + 1) & (slots.count - 1)
            }
            return nil
        }
    }

    /// Adds `key` (not present; at most ``maxIDBytes`` bytes) as account number ``count``, and
    /// returns that number.
    package mutating func append(_ key: AccountKey) -> Int {
        let n = locations.count
        precondition(n < Int(UInt32.max - 1), "an account index holds fewer than 2^32 - 1 accounts")
        if (n + 1) * 4 > slots.count * 3 { rehash(capacity: max(16, slots.count * 2)) }
        key.withUTF8 { utf8 in
            precondition(utf8.count <= Self.maxIDBytes, "user id of \(utf8.count) bytes, the limit is \(Self.maxIDBytes)")
            locations.append(store(utf8))
        }
        var slot = key.hash & (slots.count - 1)
        while slots[slot] != 0 { slot = (slot + 1) & (slots.count - 1) }
        slots[slot] = UInt32(n + 1)
        return n
    }

    /// Removes account `key`, which has number `n`: the last account, if another, takes number
    /// `n` (its record must move the same way).
    package mutating func remove(_ key: AccountKey, number n: Int) {
        let last = locations.count - 1
        vacate(slot(holding: n, hash: key.hash))
        if last != n { slots[slot(holding: last, hash: hashOfAccount(last))] = UInt32(n + 1) }
        deadBytes += Self.unpack(locations[n]).length
        locations[n] = locations[last]
        locations.removeLast()
        if deadBytes > Self.maxIDBytes && deadBytes * 2 > storedBytes { compact() }
    }

    // MARK: - Internals

    private static func unpack(_ location: UInt64) -> (chunk: Int, offset: Int, length: Int) {
        (Int(location >> 34), Int(location >> 17 & 0x1_FFFF), Int(location & 0x1_FFFF))
    }

    /// Appends `utf8` to the last chunk (a new one when it does not fit) and returns its location.
    private mutating func store(_ utf8: UnsafeBufferPointer<UInt8>) -> UInt64 {
        if chunks.isEmpty || chunks[chunks.count - 1].count + utf8.count > Self.maxIDBytes {
            var chunk = [UInt8]()
            chunk.reserveCapacity(Self.maxIDBytes)
            chunks.append(chunk)
        }
        let c = chunks.count - 1
        let offset = chunks[c].count
        chunks[c].append(contentsOf: utf8)
        storedBytes += utf8.count
        return UInt64(c) << 34 | UInt64(offset) << 17 | UInt64(utf8.count)
    }

    /// Calls `body` with account `n`'s id bytes.
    private func withID<R>(of n: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let (chunk, offset, length) = Self.unpack(locations[n])
        return chunks[chunk].withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[offset ..< offset + length])) }
    }

    /// Whether account `n`'s id is `utf8`.
    private func matches(_ n: Int, _ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        withID(of: n) { id in
            id.count == utf8.count && (id.isEmpty || memcmpEqual(id.baseAddress!, utf8.baseAddress!, id.count))
        }
    }

    private func hashOfAccount(_ n: Int) -> Int {
        withID(of: n) { hashing($0) }
    }

    /// The slot whose entry is account `n` (present), found by probing from `hash`.
    private func slot(holding n: Int, hash: Int) -> Int {
        var slot = hash & (slots.count - 1)
        while slots[slot] != UInt32(n + 1) {
            precondition(slots[slot] != 0, "account \(n) is missing from the index")
            slot = (slot + 1) & (slots.count - 1)
        }
        return slot
    }

    /// Empties `slot`, moving later entries of its probe run back so every entry stays
    /// reachable from its home slot (deletion without tombstones).
    private mutating func vacate(_ slot: Int) {
        let mask = slots.count - 1
        var hole = slot
        var next = (slot + 1) & mask
        while slots[next] != 0 {
            let home = hashOfAccount(Int(slots[next] - 1)) & mask
            // The entry at `next` may move into the hole when its home is not cyclically in (hole, next].
            let distanceToHole = (hole - home) & mask
            let distanceToNext = (next - home) & mask
            if distanceToHole < distanceToNext {
                slots[hole] = slots[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        slots[hole] = 0
    }

    private mutating func rehash(capacity: Int) {
        slots = [UInt32](repeating: 0, count: capacity)
        for n in 0..<locations.count {
            var slot = hashOfAccount(n) & (capacity - 1)
            while slots[slot] != 0 { slot = (slot + 1) & (capacity - 1) }
            slots[slot] = UInt32(n + 1)
        }
    }

    /// Rewrites the chunks with the live ids only, in account order.
    private mutating func compact() {
        let old = chunks
        (chunks, storedBytes, deadBytes) = ([], 0, 0)
        for n in 0..<locations.count {
            let (chunk, offset, length) = Self.unpack(locations[n])
            locations[n] = old[chunk].withUnsafeBufferPointer { store(UnsafeBufferPointer(rebasing: $0[offset ..< offset + length])) }
        }
    }
}

/// Whether `length` bytes at `a` and `b` are equal (eight at a time, then one by one).
@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ length: Int) -> Bool {
    let (x, y) = (UnsafeRawPointer(a), UnsafeRawPointer(b))
    var i = 0
    while i + 8 <= length {
        if x.loadUnaligned(fromByteOffset: i, as: UInt64.self) != y.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < length {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
