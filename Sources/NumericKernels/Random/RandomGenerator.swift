// RandomGenerator: a seedable xoshiro256+ generator run as eight independent lanes in
// SIMD8<UInt64>, with vectorised uniform and Gaussian (Box-Muller) fills. The xoshiro core is
// in Xoshiro256Lanes.swift, the vector arithmetic in VectorMath.swift, seeds in RandomSeed.swift.

/// A fast, seedable pseudo-random number generator for noise generation.
///
/// Eight independent xoshiro256+ generators run side by side in the lanes of a
/// `SIMD8<UInt64>`, so bulk fills vectorise. The same seed gives the same stream on every
/// platform and build: the state update is integer arithmetic and the Gaussian transform uses
/// only IEEE-754 basic operations in a fixed order (no platform `log`, `sin` or `sqrt`).
///
/// Not cryptographic: the state can be recovered from outputs. Unpredictability must come
/// from seeds derived from a secret elsewhere (for example a keyed hash per row, with
/// ``RandomSeed/mixed(with:)``).
///
/// Typical use, one generator per row:
/// ```swift
/// var generator = RandomGenerator(seed: noiseSeed.mixed(with: rowHash))
/// generator.addGaussian(to: row, standardDeviation: sigma)
/// ```
///
/// ## Stream layout
/// The generator advances in *steps*; each step yields eight 64-bit words (lanes 0...7), or
/// sixteen 32-bit words (each lane's low half, then its high half).
/// - ``next()`` returns the eight lanes of one step in lane order, then takes a new step.
/// - Every fill starts at a fresh step and takes whole steps; values of its last step that do
///   not fit are discarded. So, from the same state, a fill of length n writes exactly the
///   first n values that a longer fill writes (prefix property), and a fill of a multiple of
///   16 (Float) or 8 (Double) values is continued seamlessly by the next fill.
/// - Float Gaussians: one step per 16 values. Pair k (0...7) uses 32-bit word k for the radius
///   and word 8 + k for the angle and gives values k (cosine) and 8 + k (sine) of the block:
///   u = ((word >> 8) | 1) / 2^24, r = sqrt(-2 ln u); x = (the 24-bit signed integer in bits
///   7...30) * pi / 2^24, in [-pi/2, pi/2); cosine = r cos x with its sign flipped when bit 31
///   is set, sine = r sin x. `addGaussian(to:standardDeviation:)` adds exactly what
///   `fillGaussian(_:mean:standardDeviation:)` with mean 0 and the same standard deviation
///   writes.
/// - Float uniforms: one step per 16 values, value k = (32-bit word k >> 8) / 2^24.
/// - Double Gaussians: one step per 8 values, the same Box-Muller scheme on 64-bit lanes
///   (pair k uses lanes k and 4 + k, 52-bit uniforms, 53-bit angles).
/// - Fills never consume or disturb values already buffered for `next()`.
///
/// ## Accuracy
/// Float Gaussians are within 1.4e-6 * max(1, |z|) of exact Box-Muller on the same bits
/// (measured). Uniforms with 23 random bits bound them: |z| < 5.77 (the missing tail has
/// probability 8e-9). Double Gaussians are accurate to about 1e-15, |z| < 8.6.
///
/// ## Performance
/// On x86-64 CPUs with AVX2 the Float Gaussian fills run in an AVX2 kernel (target
/// `CNoiseKernels`, chosen at run time, bit-identical to the Swift code); elsewhere the Swift
/// code runs, compiled for the platform baseline (SSE2 on x86-64). `addGaussian` on 2048-float
/// rows with a fresh generator seeded per row, one core of a Zen 3 VM (plain
/// `swift build -c release`): about 1.1-1.25 G samples/s with the kernel, 0.4-0.55 G/s with the
/// Swift code. Seeding takes about 35 ns, `next()` about 1.5 ns.
///
/// Size: 328 bytes, no heap storage. Copying a generator copies its state (the copy repeats
/// the original's future stream).
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    @usableFromInline internal var state: _Xoshiro256PlusX8
    /// Outputs of the last step taken by `next()`; lanes below `pendingIndex` are used.
    @usableFromInline internal var pending: SIMD8<UInt64>
    /// Next lane of `pending` for `next()` to return; 8 means none left.
    @usableFromInline internal var pendingIndex: Int

    /// Creates a generator whose stream is determined by `seed`.
    ///
    /// With `mix` the SplitMix64 finaliser and `fold(a, b)` the XOR of the two halves of the
    /// 128-bit product a * b: `d` is the XOR of `mix` of each seed word, `h[j] = seed word j ^ d`,
    /// and word j of lanes 0...7 is the chain `x[0] = fold(h[j] ^ G, m)`,
    /// `x[i + 1] = fold(x[i] ^ h[j], m)` with `m = h[(j + 1) % 4] ^ K` (G, K fixed constants).
    /// Every state word depends on all 256 seed bits; seeds differing in a single bit give
    /// unrelated streams.
    ///
    /// - Complexity: O(1): 4 mixes and 32 folded multiplies in four parallel chains, about
    ///   35 ns; cheap enough to seed one generator per row.
    @inlinable
    public init(seed: RandomSeed) {
        let d = _mix64(seed.w0 ^ 0xB7E1_5162_8AED_2A6B) ^ _mix64(seed.w1 ^ 0x6A09_E667_F3BC_C909)
            ^ _mix64(seed.w2 ^ 0xBB67_AE85_84CA_A73B) ^ _mix64(seed.w3 ^ 0x3C6E_F372_FE94_F82B)
        let h0 = seed.w0 ^ d, h1 = seed.w1 ^ d, h2 = seed.w2 ^ d, h3 = seed.w3 ^ d
        var x = _Xoshiro256PlusX8(
            s0: _laneWords(h0, h1),
            s1: _laneWords(h1, h2),
            s2: _laneWords(h2, h3),
            s3: _laneWords(h3, h0)
        )
        // An all-zero lane would stay zero forever; it takes a 2^-256 coincidence.
        let zero = SIMD8<UInt64>()
        if any((x.s0 | x.s1 | x.s2 | x.s3) .== zero) {
            for i in 0..<8 where x.s0[i] | x.s1[i] | x.s2[i] | x.s3[i] == 0 { x.s0[i] = 1 }
        }
        state = x
        pending = .zero
        pendingIndex = 8
    }

    /// The next 64 uniformly distributed random bits (``RandomNumberGenerator`` conformance):
    /// the eight lanes of one generator step in lane order, then those of the next step.
    /// As with any xoshiro256+ output, the lowest three or so bits are of lower quality (linear);
    /// the standard library's `random(in:using:)` and `shuffle(using:)` rely on the high bits.
    ///
    /// - Complexity: O(1) amortised; one generator step per eight calls (about 1.5 ns a call).
    @inlinable
    public mutating func next() -> UInt64 {
        if pendingIndex >= 8 { _refill() }
        let value = withUnsafeBytes(of: &pending) {
            $0.load(fromByteOffset: pendingIndex &* 8, as: UInt64.self)
        }
        pendingIndex &+= 1
        return value
    }

    /// Takes one step for `next()`. Out of line so that `next()` itself stays small.
    @usableFromInline @inline(never)
    internal mutating func _refill() {
        pending = state.step()
        pendingIndex = 0
    }

    // MARK: Float fills

    /// Fills `buffer` with independent uniforms in [0, 1), each a multiple of 2^-24 (24 random
    /// bits): `buffer[16 * s + k] = (word k of step s >> 8) / 2^24`, where the sixteen words of a
    /// step are its eight 64-bit lanes split into 32-bit halves, low half first.
    ///
    /// - Complexity: O(n), one generator step per 16 values; no allocation.
    @inlinable
    public mutating func fillUniform(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        let raw = UnsafeMutableRawPointer(base)
        var x = state
        var i = 0
        while i &+ 16 <= count {
            raw.storeBytes(of: _uniformBlock(x.step()), toByteOffset: i &* 4, as: SIMD16<Float>.self)
            i &+= 16
        }
        if i < count {
            let block = _uniformBlock(x.step())
            for k in 0..<(count &- i) { base[i &+ k] = block[k] }
        }
        state = x
    }

    /// Fills `buffer` with Gaussian samples: `buffer[i] = mean + standardDeviation * z[i]`,
    /// `z[i]` independent standard normal (see the type's notes on accuracy and tails).
    ///
    /// Units are those of `mean` and `standardDeviation`. With `mean == 0` this writes exactly
    /// the values that `addGaussian(to:standardDeviation:)` adds from the same state.
    ///
    /// - Complexity: O(n), one generator step per 16 values; no heap allocation (1 KiB of stack).
    public mutating func fillGaussian(
        _ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, standardDeviation: Float = 1
    ) {
        // Not @inlinable: the AVX2 and AVX-512 kernels (CNoiseKernels, the same values) are internal to this module.
        if _gaussianKernel(buffer, source: nil, mean: mean, standardDeviation: standardDeviation, kernel: nil) { return }
        _fillGaussianReference(buffer, mean: mean, standardDeviation: standardDeviation)
    }

    /// The portable Swift implementation of `fillGaussian(_:mean:standardDeviation:)`, and the
    /// reference that the AVX2 kernel matches bit for bit.
    internal mutating func _fillGaussianReference(
        _ buffer: UnsafeMutableBufferPointer<Float>, mean: Float, standardDeviation: Float
    ) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        let raw = UnsafeMutableRawPointer(base)
        let half = _FloatLanes.scalarCount
        _forEachGaussianBlock(count: count, scale: standardDeviation) { i, a, b in
            if i &+ 2 &* half <= count {
                raw.storeBytes(of: a + mean, toByteOffset: i &* 4, as: _FloatLanes.self)
                raw.storeBytes(of: b + mean, toByteOffset: (i &+ half) &* 4, as: _FloatLanes.self)
            } else {
                let (a1, b1) = (a + mean, b + mean)
                for k in 0..<min(half, count &- i) { base[i &+ k] = a1[k] }
                for k in half..<max(half, count &- i) { base[i &+ k] = b1[k &- half] }
            }
        }
    }

    /// Adds Gaussian noise in place: `buffer[i] += standardDeviation * z[i]`, with `z` the same
    /// standard normal sequence that `fillGaussian(_:mean:standardDeviation:)` would produce
    /// from this state. This is the hot path for noising a representation.
    ///
    /// `standardDeviation` is in the units of the buffer's values; 0 leaves them unchanged.
    /// The buffer needs no particular alignment.
    ///
    /// - Complexity: O(n), one generator step per 16 values; no heap allocation (1 KiB of stack).
    public mutating func addGaussian(to buffer: UnsafeMutableBufferPointer<Float>, standardDeviation: Float) {
        // Not @inlinable: the AVX2 and AVX-512 kernels (CNoiseKernels, the same values) are internal to this module.
        addGaussian(UnsafeBufferPointer(buffer), into: buffer, standardDeviation: standardDeviation)
    }

    /// Writes noised copies: `destination[i] = source[i] + standardDeviation * z[i]`, the values
    /// `addGaussian(to:standardDeviation:)` would leave in a copy of `source`, in one pass (no
    /// separate copy: the path for noising a batch into output memory).
    ///
    /// `source` and `destination` hold the same number of values and are either the same memory
    /// (noise added in place) or do not overlap. Units and alignment as in
    /// `addGaussian(to:standardDeviation:)`.
    ///
    /// - Complexity: O(n), one generator step per 16 values; no heap allocation (1 KiB of stack).
    public mutating func addGaussian(
        _ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<Float>, standardDeviation: Float
    ) {
        precondition(source.count == destination.count, "addGaussian: source and destination differ in length")
        if _gaussianKernel(destination, source: source.baseAddress, mean: 0, standardDeviation: standardDeviation, kernel: nil) {
            return
        }
        _addGaussianReference(source.baseAddress, into: destination, standardDeviation: standardDeviation)
    }

    /// The portable Swift implementation of `addGaussian(to:standardDeviation:)` (`source` the
    /// buffer's own memory) and of `addGaussian(_:into:standardDeviation:)`, and the reference
    /// that the AVX2 kernel matches bit for bit. `source` holds `buffer.count` values.
    internal mutating func _addGaussianReference(
        _ source: UnsafePointer<Float>?, into buffer: UnsafeMutableBufferPointer<Float>, standardDeviation: Float
    ) {
        guard let base = buffer.baseAddress, let source else { return }
        let count = buffer.count
        let raw = UnsafeMutableRawPointer(base)
        let input = UnsafeRawPointer(source)
        let half = _FloatLanes.scalarCount
        _forEachGaussianBlock(count: count, scale: standardDeviation) { i, a, b in
            if i &+ 2 &* half <= count {
                let offsetA = i &* 4
                let offsetB = (i &+ half) &* 4
                let a0 = input.loadUnaligned(fromByteOffset: offsetA, as: _FloatLanes.self)
                let b0 = input.loadUnaligned(fromByteOffset: offsetB, as: _FloatLanes.self)
                raw.storeBytes(of: a0 + a, toByteOffset: offsetA, as: _FloatLanes.self)
                raw.storeBytes(of: b0 + b, toByteOffset: offsetB, as: _FloatLanes.self)
            } else {
                for k in 0..<min(half, count &- i) { base[i &+ k] = source[i &+ k] + a[k] }
                for k in half..<max(half, count &- i) { base[i &+ k] = source[i &+ k] + b[k &- half] }
            }
        }
    }

    /// Calls `body(offset, first, second)` for consecutive blocks of `_gaussianBlockCount` (16)
    /// scaled Gaussian samples covering offsets `0..<count`: `first` holds the samples for
    /// `offset..<offset + 8`, `second` those for the next 8; the last block may extend past
    /// `count` (the caller discards the excess). Block b uses generator step b.
    ///
    /// Works in chunks of up to 16 blocks, in two phases: first the generator steps, written to
    /// a 1 KiB stack buffer, then the arithmetic. Interleaved, the eight-lane state (all sixteen
    /// SSE registers) and the arithmetic spill each other constantly; split, each loop runs in
    /// registers and the arithmetic iterations are independent, so they overlap.
    @inlinable @inline(__always)
    internal mutating func _forEachGaussianBlock(
        count: Int, scale: Float, _ body: (_ offset: Int, _ first: _FloatLanes, _ second: _FloatLanes) -> Void
    ) {
        let chunkBlocks = 16
        var x = state
        withUnsafeTemporaryAllocation(of: SIMD8<UInt64>.self, capacity: chunkBlocks) { words in
            var i = 0
            while i < count {
                let blocks = min(chunkBlocks, (count &- i &+ _gaussianBlockCount &- 1) / _gaussianBlockCount)
                x.generate(into: UnsafeMutableRawPointer(words.baseAddress!), steps: blocks)
                for b in 0..<blocks {
                    let (first, second) = _gaussianBlock(words: words[b], scale: scale)
                    body(i, first, second)
                    i &+= _gaussianBlockCount
                }
            }
        }
        state = x
    }

    // MARK: Double fill

    /// Fills `buffer` with independent standard normal `Double`s (mean 0, standard deviation 1)
    /// by Box-Muller on 52-bit uniforms with double-precision series for log, sin and cos
    /// (relative error about 1e-15; |z| < 8.6). Scalar code, about 50 M values per second:
    /// meant for deriving matrices, not for hot loops.
    ///
    /// - Complexity: O(n), one generator step per 8 values; no allocation.
    public mutating func fillGaussian(_ buffer: UnsafeMutableBufferPointer<Double>) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        var i = 0
        while i < count {
            let words = state.step()
            for pair in 0..<4 {
                let radius = _squareRoot(_negTwoLogOfUnit(words[pair]))
                let (c, s) = _unitCircle(words[pair &+ 4])
                if i &+ pair < count { base[i &+ pair] = radius * c }
                if i &+ 4 &+ pair < count { base[i &+ 4 &+ pair] = radius * s }
            }
            i &+= 8
        }
    }

    // MARK: Array conveniences

    /// `fillUniform(_:)` on the whole array. O(n).
    /// Shuffles `array` in place into the same order as `array.shuffle(using: &self)` would,
    /// leaving the generator in the same state: the standard library's Fisher–Yates (element
    /// `i` swaps with element `i + next(upperBound: n - i)`), over the array's buffer instead
    /// of through the generic collection interface. Transforms are derived with it, so the
    /// order must never change: a user's transform is a function of the secret alone.
    @inlinable
    public mutating func shuffle<T>(_ array: inout [T]) {
        let n = array.count
        guard n > 1 else { return }
        // Draw every swap's partner first, then swap: the draws run without waiting on the
        // array, and the swaps without the generator's state in the loop.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: n - 1) { partners in
            for i in 0..<(n - 1) {
                partners[i] = i + Int(truncatingIfNeeded: next(upperBound: UInt(truncatingIfNeeded: n - i)))
            }
            array.withUnsafeMutableBufferPointer { buffer in
                for i in 0..<(n - 1) { buffer.swapAt(i, partners[i]) }
            }
        }
    }

    @inlinable
    public mutating func fillUniform(_ array: inout [Float]) {
        array.withUnsafeMutableBufferPointer { fillUniform($0) }
    }

    /// `fillGaussian(_:mean:standardDeviation:)` on the whole array. O(n).
    @inlinable
    public mutating func fillGaussian(_ array: inout [Float], mean: Float = 0, standardDeviation: Float = 1) {
        array.withUnsafeMutableBufferPointer { fillGaussian($0, mean: mean, standardDeviation: standardDeviation) }
    }

    /// `addGaussian(to:standardDeviation:)` on the whole array. O(n).
    @inlinable
    public mutating func addGaussian(to array: inout [Float], standardDeviation: Float) {
        array.withUnsafeMutableBufferPointer { addGaussian(to: $0, standardDeviation: standardDeviation) }
    }

    /// `fillGaussian(_:)` for `Double` on the whole array. O(n).
    public mutating func fillGaussian(_ array: inout [Double]) {
        array.withUnsafeMutableBufferPointer { fillGaussian($0) }
    }
}
