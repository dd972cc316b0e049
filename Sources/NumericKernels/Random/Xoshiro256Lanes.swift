// The lane-parallel xoshiro256+ core behind `RandomGenerator`.
//
// xoshiro256+ (Blackman and Vigna, 2018): 256 bits of state, period 2^256 - 1, output
// s0 + s3. Its lowest output bits are weak (the lowest few are linear); the fills only use
// bits 7 and up of each 32-bit half, where it passes the standard test batteries.

/// Eight independent xoshiro256+ generators, one per lane of `SIMD8<UInt64>`.
/// One step advances all eight and yields their eight 64-bit outputs (512 bits).
@usableFromInline
internal struct _Xoshiro256PlusX8: Sendable {
    @usableFromInline internal var s0: SIMD8<UInt64>
    @usableFromInline internal var s1: SIMD8<UInt64>
    @usableFromInline internal var s2: SIMD8<UInt64>
    @usableFromInline internal var s3: SIMD8<UInt64>

    @inlinable @inline(__always)
    internal init(s0: SIMD8<UInt64>, s1: SIMD8<UInt64>, s2: SIMD8<UInt64>, s3: SIMD8<UInt64>) {
        self.s0 = s0
        self.s1 = s1
        self.s2 = s2
        self.s3 = s3
    }

    /// Advances every lane once; returns the eight outputs. O(1).
    @inlinable @inline(__always)
    internal mutating func step() -> SIMD8<UInt64> {
        var low = _Xoshiro256PlusX4(s0: s0.lowHalf, s1: s1.lowHalf, s2: s2.lowHalf, s3: s3.lowHalf)
        var high = _Xoshiro256PlusX4(s0: s0.highHalf, s1: s1.highHalf, s2: s2.highHalf, s3: s3.highHalf)
        let result = SIMD8(lowHalf: low.step(), highHalf: high.step())
        self = _Xoshiro256PlusX8(low: low, high: high)
        return result
    }

    /// Takes `steps` steps, writing output j (64 bytes, lanes in order) at
    /// `destination + 64 * j`. Same result as calling `step()` `steps` times.
    ///
    /// Lanes 0...3 and 4...7 are advanced in two separate passes: the whole eight-lane state
    /// would occupy all sixteen SSE registers and spill on every step.
    @inlinable @inline(__always)
    internal mutating func generate(into destination: UnsafeMutableRawPointer, steps: Int) {
        var low = _Xoshiro256PlusX4(s0: s0.lowHalf, s1: s1.lowHalf, s2: s2.lowHalf, s3: s3.lowHalf)
        for j in 0..<steps {
            destination.storeBytes(of: low.step(), toByteOffset: j &* 64, as: SIMD4<UInt64>.self)
        }
        var high = _Xoshiro256PlusX4(s0: s0.highHalf, s1: s1.highHalf, s2: s2.highHalf, s3: s3.highHalf)
        for j in 0..<steps {
            destination.storeBytes(of: high.step(), toByteOffset: j &* 64 &+ 32, as: SIMD4<UInt64>.self)
        }
        self = _Xoshiro256PlusX8(low: low, high: high)
    }

    @inlinable @inline(__always)
    internal init(low: _Xoshiro256PlusX4, high: _Xoshiro256PlusX4) {
        self.init(
            s0: SIMD8(lowHalf: low.s0, highHalf: high.s0),
            s1: SIMD8(lowHalf: low.s1, highHalf: high.s1),
            s2: SIMD8(lowHalf: low.s2, highHalf: high.s2),
            s3: SIMD8(lowHalf: low.s3, highHalf: high.s3)
        )
    }
}

/// Four independent xoshiro256+ generators in `SIMD4<UInt64>` lanes (half of `_Xoshiro256PlusX8`).
@usableFromInline
internal struct _Xoshiro256PlusX4: Sendable {
    @usableFromInline internal var s0: SIMD4<UInt64>
    @usableFromInline internal var s1: SIMD4<UInt64>
    @usableFromInline internal var s2: SIMD4<UInt64>
    @usableFromInline internal var s3: SIMD4<UInt64>

    @inlinable @inline(__always)
    internal init(s0: SIMD4<UInt64>, s1: SIMD4<UInt64>, s2: SIMD4<UInt64>, s3: SIMD4<UInt64>) {
        self.s0 = s0
        self.s1 = s1
        self.s2 = s2
        self.s3 = s3
    }

    /// Advances every lane once; returns the four outputs. O(1), about 30 SSE2 instructions.
    @inlinable @inline(__always)
    internal mutating func step() -> SIMD4<UInt64> {
        let result = s0 &+ s3
        let t = s1 &* (1 << 17)  // s1 << 17
        s2 = _xor(s2, s0)
        s3 = _xor(s3, s1)
        s1 = _xor(s1, s2)
        s0 = _xor(s0, s3)
        s2 = _xor(s2, t)
        s3 = _or(s3 &* (1 << 45), s3 &>> 19)  // rotate left by 45
        return result
    }
}

// Code generation note. In this toolchain only `&+`, `&-`, `&*` and comparisons on integer SIMD
// types are single vector operations in the IR; shifts and bitwise operators are per-lane
// loops that LLVM must re-vectorise. For the xoshiro update that goes wrong in a loop: the
// rotate `(x << 45) | (x >> 19)` is matched per lane as a scalar rotate, which SSE2 has no
// vector form of, and it stays scalar (or becomes a shuffle mess): a quarter of the Gaussian
// fill's time. Writing the left shift as a multiply by a power of two and XOR/OR through
// `SIMDMask` (whose `.^`/`.|` are single vector operations) gives clean psllq/psrlq/por/pxor.

/// Lane-wise XOR as one vector operation.
@inlinable @inline(__always)
internal func _xor(_ a: SIMD4<UInt64>, _ b: SIMD4<UInt64>) -> SIMD4<UInt64> {
    typealias Mask = SIMDMask<SIMD4<Int64>>
    return unsafeBitCast(
        unsafeBitCast(a, to: Mask.self) .^ unsafeBitCast(b, to: Mask.self), to: SIMD4<UInt64>.self)
}

/// Lane-wise OR as one vector operation.
@inlinable @inline(__always)
internal func _or(_ a: SIMD4<UInt64>, _ b: SIMD4<UInt64>) -> SIMD4<UInt64> {
    typealias Mask = SIMDMask<SIMD4<Int64>>
    return unsafeBitCast(
        unsafeBitCast(a, to: Mask.self) .| unsafeBitCast(b, to: Mask.self), to: SIMD4<UInt64>.self)
}
