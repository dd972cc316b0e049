/// The seeded 64-bit hash that sends a character n-gram to a feature column of
/// ``HashedNGramFeatures``.
///
/// Recipe, over the n-gram's UTF-8 bytes `b_1 ... b_m` (all arithmetic modulo 2⁶⁴):
/// 1. FNV-1a: `h = 0xcbf29ce484222325 XOR seed`; for each byte, `h = (h XOR b) * 0x100000001b3`.
/// 2. The SplitMix64 finaliser, so every output bit depends on every input bit (FNV-1a alone
///    mixes its low bits poorly, and the column is `hash mod F`):
///    `h ^= h >> 30; h *= 0xbf58476d1ce4e5b9; h ^= h >> 27; h *= 0x94d049bb133111eb; h ^= h >> 31`.
///
/// It is not a cryptographic hash and does not need to be: the thief's features are public.
/// Being streaming (step 1 absorbs one byte at a time), the n-grams starting at one position
/// are hashed in one pass: the state after the 2-gram continues into the 3-gram.
public enum NGramHash {
    /// FNV-1a's 64-bit offset basis.
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    /// FNV-1a's 64-bit prime.
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The hash of `bytes` under `seed`.
    /// - Complexity: O(bytes).
    public static func hash<Bytes: Sequence<UInt8>>(_ bytes: Bytes, seed: UInt64) -> UInt64 {
        var state = initialState(seed: seed)
        for byte in bytes { absorb(byte, into: &state) }
        return finalize(state)
    }

    /// The FNV-1a state before any byte.
    @inline(__always)
    static func initialState(seed: UInt64) -> UInt64 { offsetBasis ^ seed }

    /// One FNV-1a step.
    @inline(__always)
    static func absorb(_ byte: UInt8, into state: inout UInt64) {
        state = (state ^ UInt64(byte)) &* prime
    }

    /// The SplitMix64 finaliser applied to an FNV-1a state.
    @inline(__always)
    static func finalize(_ state: UInt64) -> UInt64 {
        var h = state
        h ^= h >> 30
        h = h &* 0xbf58_476d_1ce4_e5b9
        h ^= h >> 27
        h = h &* 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return h
    }
}
