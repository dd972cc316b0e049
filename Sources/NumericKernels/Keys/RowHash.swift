/// A fast keyed 64-bit hash of a representation's bytes.
///
/// Used to key each row's noise stream by the exact clean representation (so a
/// repeated query gets the same noise and averaging repeats removes nothing)
/// without a cryptographic hash of kilobytes per row. The key comes from the
/// server secret; the hash is a multiply-fold construction with four independent
/// lanes (each 128-bit product of two key-mixed words folded to 64 bits), so it runs at
/// over ten bytes per cycle. It is not a MAC: its output is never shown to users, only used to seed
/// a stream that is itself keyed by the secret.
public struct RowHash: Sendable, Hashable {
    // Odd multipliers (mixed from the key) and initial lane states (the key itself, so
    // every bit of the key matters even where two multipliers coincide).
    @usableFromInline let k0, k1, k2, k3: UInt64
    @usableFromInline let s0, s1, s2, s3: UInt64

    /// A hash keyed by `seed`'s four words.
    public init(key seed: RandomSeed) {
        let w = seed.words
        func mix(_ x: UInt64) -> UInt64 {
            var z = x &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        k0 = mix(w.0) | 1
        k1 = mix(w.1) | 1
        k2 = mix(w.2) | 1
        k3 = mix(w.3) | 1
        s0 = w.0
        s1 = w.1
        s2 = w.2
        s3 = w.3
    }

    @inlinable @inline(__always)
    static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let p = a.multipliedFullWidth(by: b)
        return p.high ^ p.low
    }

    /// The hash of `values` (their exact bit patterns: `-0.0` and `0.0` differ).
    /// - Complexity: O(n), one 128-bit multiply per 16 bytes, in 4 parallel lanes.
    @inlinable
    public func hash(_ values: UnsafeBufferPointer<Float>) -> UInt64 {
        let n = values.count
        var h0 = s0 ^ 0x9E37_79B9_7F4A_7C15
        var h1 = s1 ^ 0xC2B2_AE3D_27D4_EB4F
        var h2 = s2 ^ 0x1656_67B1_9E37_79F9
        var h3 = s3 ^ 0x27D4_EB2F_1656_67C5
        guard let base = values.baseAddress else { return Self.fold(h0 ^ k1, UInt64(n) ^ k2) }
        let raw = UnsafeRawPointer(base)
        var i = 0
        // 64 bytes (16 floats) per step: each lane folds two words with one 128-bit multiply.
        while i + 16 <= n {
            let p = raw + i * 4
            let w0 = p.loadUnaligned(as: UInt64.self)
            let w1 = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let w2 = p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
            let w3 = p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            let w4 = p.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
            let w5 = p.loadUnaligned(fromByteOffset: 40, as: UInt64.self)
            let w6 = p.loadUnaligned(fromByteOffset: 48, as: UInt64.self)
            let w7 = p.loadUnaligned(fromByteOffset: 56, as: UInt64.self)
            h0 = Self.fold(w0 ^ k0, w1 ^ h0)
            h1 = Self.fold(w2 ^ k1, w3 ^ h1)
            h2 = Self.fold(w4 ^ k2, w5 ^ h2)
            h3 = Self.fold(w6 ^ k3, w7 ^ h3)
            i += 16
        }
        // 32 bytes (8 floats) per step, one 64-bit word per lane.
        while i + 8 <= n {
            let p = raw + i * 4
            let w0 = p.loadUnaligned(as: UInt64.self)
            let w1 = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let w2 = p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
            let w3 = p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            h0 = Self.fold(h0 ^ w0, k0)
            h1 = Self.fold(h1 ^ w1, k1)
            h2 = Self.fold(h2 ^ w2, k2)
            h3 = Self.fold(h3 ^ w3, k3)
            i += 8
        }
        while i < n {
            h0 = Self.fold(h0 ^ UInt64(base[i].bitPattern) ^ (UInt64(i) << 32), k0)
            i += 1
        }
        var h = Self.fold(h0 ^ k2, h1 ^ k3)
        h = Self.fold(h ^ h2, k1 ^ UInt64(n))
        h = Self.fold(h ^ h3, k0)
        return Self.fold(h, k3 ^ 0x2545_F491_4F6C_DD1D)
    }
}
