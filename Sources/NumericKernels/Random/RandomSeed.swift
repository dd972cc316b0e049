// RandomSeed: 256 bits of seed material for `RandomGenerator`, plus cheap derivation of
// per-row seeds.

/// 256 bits of seed material (four 64-bit words) for a ``RandomGenerator``.
///
/// A seed is plain data: equal seeds give identical random streams on every platform.
/// Seeds meant to be unpredictable must themselves be derived from a secret (for example
/// with a keyed hash) elsewhere; nothing here is cryptographic.
///
/// Size: 32 bytes. All operations are O(1).
public struct RandomSeed: Hashable, Sendable {
    @usableFromInline internal var w0: UInt64
    @usableFromInline internal var w1: UInt64
    @usableFromInline internal var w2: UInt64
    @usableFromInline internal var w3: UInt64

    /// The four 64-bit words of the seed, in order (`w0` first).
    public var words: (UInt64, UInt64, UInt64, UInt64) {
        get { (w0, w1, w2, w3) }
        set { (w0, w1, w2, w3) = newValue }
    }

    /// Creates a seed from four 64-bit words. O(1).
    @inlinable
    public init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// Creates a seed from exactly 32 bytes: four little-endian 64-bit words, word 0 first
    /// (bytes 0..<8 are word 0, byte 0 its least significant byte).
    ///
    /// - Precondition: `bytes.count == 32`.
    /// - Complexity: O(32).
    @inlinable
    public init<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        precondition(bytes.count == 32, "RandomSeed(bytes:) needs exactly 32 bytes, got \(bytes.count)")
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var index = 0
        for byte in bytes {
            let value = UInt64(byte) &<< UInt64((index & 7) &* 8)
            switch index >> 3 {
            case 0: words.0 |= value
            case 1: words.1 |= value
            case 2: words.2 |= value
            default: words.3 |= value
            }
            index += 1
        }
        self.init(words.0, words.1, words.2, words.3)
    }

    /// A new seed derived from this one and a 64-bit value, e.g. one seed per row:
    /// `seed.mixed(with: rowHash)`.
    ///
    /// Each output word is a bijective 64-bit mix (the SplitMix64 finaliser) of the matching
    /// input word and a mix of `value`, so distinct values give unrelated seeds (and so
    /// unrelated streams), and distinct seeds mixed with the same value stay distinct.
    /// Not a cryptographic derivation: if the seed is secret the result is as unpredictable as a
    /// good hash of it, nothing more.
    ///
    /// - Complexity: O(1): five 64-bit mixes (a few nanoseconds).
    @inlinable
    public func mixed(with value: UInt64) -> RandomSeed {
        let v = _mix64(value ^ 0x6A09_E667_F3BC_C909)
        return RandomSeed(
            _mix64(w0 ^ (v &+ 0x9E37_79B9_7F4A_7C15)),
            _mix64(w1 ^ (v &+ 0x3C6E_F372_FE94_F82A)),
            _mix64(w2 ^ (v &+ 0xDAA6_6D2C_7DDF_743F)),
            _mix64(w3 ^ (v &+ 0x78DD_E6E5_FD29_F054))
        )
    }
}

extension RandomSeed: CustomStringConvertible {
    /// The four words as 16-digit hexadecimal numbers, word 0 first.
    public var description: String {
        func hex(_ w: UInt64) -> String {
            let digits = String(w, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return "RandomSeed(\(hex(w0)) \(hex(w1)) \(hex(w2)) \(hex(w3)))"
    }
}

/// The SplitMix64 output function: a bijective avalanche mix of 64 bits. O(1).
@inlinable @inline(__always)
internal func _mix64(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z &>> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z &>> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z &>> 31)
}

/// Folded multiply: the XOR of the high and low halves of the 128-bit product `a * b`. A strong
/// one-multiply mixer (not bijective). Deliberately scalar: SSE2 has no 64-bit vector
/// multiply, and a SplitMix64 loop gets auto-vectorised into slow emulated multiplies.
@inlinable @inline(__always)
internal func _foldedMultiply(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let product = a.multipliedFullWidth(by: b)
    return product.high ^ product.low
}

/// Eight generator state words (one per lane) from two seed-derived words: a chain of folded
/// multiplies, `w[0] = fold(a ^ G, m)`, `w[i + 1] = fold(w[i] ^ a, m)` with `m = b ^ K`.
///
/// Written as a serial chain on purpose: eight independent per-lane expressions get
/// "SLP-vectorised" by LLVM into SSE2 code that shuttles every operand between vector and
/// scalar registers for the 128-bit multiplies (measured 3x slower).
@inlinable @inline(__always)
internal func _laneWords(_ a: UInt64, _ b: UInt64) -> SIMD8<UInt64> {
    let m = b ^ 0xA54F_F53A_5F1D_36F1
    let w0 = _foldedMultiply(a ^ 0x9E37_79B9_7F4A_7C15, m)
    let w1 = _foldedMultiply(w0 ^ a, m)
    let w2 = _foldedMultiply(w1 ^ a, m)
    let w3 = _foldedMultiply(w2 ^ a, m)
    let w4 = _foldedMultiply(w3 ^ a, m)
    let w5 = _foldedMultiply(w4 ^ a, m)
    let w6 = _foldedMultiply(w5 ^ a, m)
    let w7 = _foldedMultiply(w6 ^ a, m)
    return SIMD8(w0, w1, w2, w3, w4, w5, w6, w7)
}
