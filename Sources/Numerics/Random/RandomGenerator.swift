// RandomGenerator: a seedable xoshiro256+ generator run as eight independent lanes in
// SIMD8<UInt64>, with vectorised uniform and Gaussian (Box-Muller) fills.

/// A fast, seedable pseudo-random number generator for noise generation.
///
/// Eight independent xoshiro256++ streams run side by side in the lanes of a
/// `SIMD8<UInt64>`, so bulk fills vectorise. The same seed gives the same stream on every
/// platform: the state update is integer arithmetic and the Gaussian transform uses only
/// IEEE-754 basic operations in a fixed order (no platform `log`/`sin`/`sqrt`).
///
/// Not cryptographic: the state can be recovered from outputs. Unpredictability must come
/// from seeds derived from a secret elsewhere (e.g. a keyed hash per row, combined with
/// ``RandomSeed/mixed(with:)``).
///
/// ## Stream layout
/// The generator advances in *steps*; each step yields 512 bits (eight 64-bit lanes).
/// - ``next()`` hands out the eight lanes of one step in lane order, then takes a new step.
/// - Each `Float` fill starts at a fresh step and uses one step per 16 outputs, so a fill of
///   length `n` consumes `ceil(n / 16)` steps; the unused outputs of the last step are
///   discarded. Hence on generators in the same state, a fill of length `n` writes exactly
///   the first `n` values that a fill of any length `m >= n` writes (prefix property), and
///   ``addGaussian(to:standardDeviation:)`` adds exactly the values that
///   ``fillGaussian(_:mean:standardDeviation:)-(UnsafeMutableBufferPointer<Float>,_,_)``
///   (with mean 0 and the same standard deviation) writes.
/// - The `Double` Gaussian fill uses one step per 8 outputs, with the same prefix property.
/// - Fills never consume or disturb the values already buffered for `next()`.
///
/// Gaussian samples come from Box-Muller on 24-bit uniforms, so they are bounded by about
/// 5.89 in absolute value (a tail of probability below 4e-9 is missing); each is within about
/// 1e-6 (relative) of exact Box-Muller on the same bits.
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
    /// All 32 lane words are bijective mixes of the seed words, each also depending on all 256
    /// seed bits, so nearby or partly equal seeds give unrelated streams.
    ///
    /// - Complexity: O(1): four scalar and four 8-lane 64-bit mixes (tens of nanoseconds),
    ///   cheap enough to seed one generator per row.
    @inlinable
    public init(seed: RandomSeed) {
        // d depends on every seed bit; lane word (lane i, word j) mixes seed word j, d and the
        // distinct odd multiple (4i + j + 1) of the golden-ratio constant (SplitMix64 spacing).
        let d = _mix64(seed.w3 ^ _mix64(seed.w2 ^ _mix64(seed.w1 ^ _mix64(seed.w0 ^ 0xB7E1_5162_8AED_2A6B))))
        let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
        let laneIndex = SIMD8<UInt64>(0, 4, 8, 12, 16, 20, 24, 28)
        state = _Xoshiro256PlusX8(
            s0: _mix64(SIMD8(repeating: seed.w0 ^ d) &+ (laneIndex &+ 1) &* gamma),
            s1: _mix64(SIMD8(repeating: seed.w1 ^ d) &+ (laneIndex &+ 2) &* gamma),
            s2: _mix64(SIMD8(repeating: seed.w2 ^ d) &+ (laneIndex &+ 3) &* gamma),
            s3: _mix64(SIMD8(repeating: seed.w3 ^ d) &+ (laneIndex &+ 4) &* gamma)
        )
        // A lane whose four words are all zero would be stuck at zero; it needs a 2^-256
        // coincidence, but cost nothing to rule out.
        let allZero = (state.s0 | state.s1 | state.s2 | state.s3) .== 0
        state.s0.replace(with: gamma, where: allZero)
        pending = .zero
        pendingIndex = 8
    }

    /// The next 64 uniformly distributed random bits (``RandomNumberGenerator`` conformance).
    ///
    /// - Complexity: O(1) amortised; one generator step per eight calls.
    @inlinable
    public mutating func next() -> UInt64 {
        if pendingIndex >= 8 {
            pending = state.step()
            pendingIndex = 0
        }
        let value = pending[pendingIndex]
        pendingIndex &+= 1
        return value
    }

    // MARK: Float fills

    /// Fills `buffer` with independent uniforms in [0, 1), each a multiple of 2^-24
    /// (24 random bits).
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
    /// the values that ``addGaussian(to:standardDeviation:)-(UnsafeMutableBufferPointer<Float>,_)``
    /// adds from the same state.
    ///
    /// - Complexity: O(n), one generator step per 16 values; no heap allocation (1 KiB of stack).
    @inlinable
    public mutating func fillGaussian(
        _ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, standardDeviation: Float = 1
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
    /// standard normal sequence that ``fillGaussian(_:mean:standardDeviation:)-(UnsafeMutableBufferPointer<Float>,_,_)``
    /// would produce from this state. This is the hot path for noising a representation.
    ///
    /// - Complexity: O(n), one generator step per 16 values; no heap allocation (1 KiB of stack).
    @inlinable
    public mutating func addGaussian(to buffer: UnsafeMutableBufferPointer<Float>, standardDeviation: Float) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        let raw = UnsafeMutableRawPointer(base)
        let half = _FloatLanes.scalarCount
        _forEachGaussianBlock(count: count, scale: standardDeviation) { i, a, b in
            if i &+ 2 &* half <= count {
                let offsetA = i &* 4
                let offsetB = (i &+ half) &* 4
                let a0 = raw.loadUnaligned(fromByteOffset: offsetA, as: _FloatLanes.self)
                let b0 = raw.loadUnaligned(fromByteOffset: offsetB, as: _FloatLanes.self)
                raw.storeBytes(of: a0 + a, toByteOffset: offsetA, as: _FloatLanes.self)
                raw.storeBytes(of: b0 + b, toByteOffset: offsetB, as: _FloatLanes.self)
            } else {
                for k in 0..<min(half, count &- i) { base[i &+ k] += a[k] }
                for k in half..<max(half, count &- i) { base[i &+ k] += b[k &- half] }
            }
        }
    }

    /// Calls `body(offset, first, second)` for consecutive blocks of `_gaussianBlockCount` scaled
    /// Gaussian samples covering offsets `0..<count`: `first` holds samples `offset..<offset+16`,
    /// `second` the next 16; the last block may extend past `count` (its extra samples are
    /// discarded). Block b uses generator steps 2b (radii) and 2b + 1 (angles).
    ///
    /// Two phases per chunk of up to 8 blocks: first the generator steps, writing the raw
    /// words to a stack buffer, then the arithmetic. The generator state fills all sixteen SSE
    /// registers, so interleaving it with the arithmetic spills constantly.
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

    /// Fills `buffer` with independent standard normal `Double`s (mean 0, standard deviation 1),
    /// by Box-Muller on 52-bit uniforms with double-precision polynomial log/sin/cos (relative
    /// error around 1e-15; |z| < 8.6). Not vectorised: meant for deriving matrices, not hot loops.
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

    /// ``fillUniform(_:)-(UnsafeMutableBufferPointer<Float>)`` on the whole array. O(n).
    @inlinable
    public mutating func fillUniform(_ array: inout [Float]) {
        array.withUnsafeMutableBufferPointer { fillUniform($0) }
    }

    /// ``fillGaussian(_:mean:standardDeviation:)-(UnsafeMutableBufferPointer<Float>,_,_)`` on the
    /// whole array. O(n).
    @inlinable
    public mutating func fillGaussian(_ array: inout [Float], mean: Float = 0, standardDeviation: Float = 1) {
        array.withUnsafeMutableBufferPointer { fillGaussian($0, mean: mean, standardDeviation: standardDeviation) }
    }

    /// ``addGaussian(to:standardDeviation:)-(UnsafeMutableBufferPointer<Float>,_)`` on the whole
    /// array. O(n).
    @inlinable
    public mutating func addGaussian(to array: inout [Float], standardDeviation: Float) {
        array.withUnsafeMutableBufferPointer { addGaussian(to: $0, standardDeviation: standardDeviation) }
    }

    /// ``fillGaussian(_:)-(UnsafeMutableBufferPointer<Double>)`` on the whole array. O(n).
    public mutating func fillGaussian(_ array: inout [Double]) {
        array.withUnsafeMutableBufferPointer { fillGaussian($0) }
    }
}
