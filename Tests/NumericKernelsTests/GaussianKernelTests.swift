import NumericKernels
import Testing

/// The AVX2 kernel of the Float Gaussian fills (CNoiseKernels) and its AVX-512 build against the
/// Swift reference: the same bits for every value, and the same generator state afterwards.
///
/// Uses the package-level `fillGaussian(_:mean:standardDeviation:kernel:)`,
/// `addGaussian(to:standardDeviation:kernel:)` and `addGaussian(_:into:standardDeviation:kernel:)`,
/// which name the implementation explicitly. On a CPU
/// without AVX2 (or AVX-512) the comparisons with that kernel are skipped, visibly, with the reason.
@Suite("AVX2 and AVX-512 Gaussian kernels")
struct GaussianKernelTests {
    static let hasAVX2 = GaussianKernel.avx2.isAvailable
    static let noAVX2 = "this CPU has no AVX2: only the Swift reference can run here, the AVX2 kernel is untested"
    static let hasAVX512 = GaussianKernel.avx512.isAvailable
    static let noAVX512 = "this CPU has no AVX-512 F and DQ: the AVX-512 build of the kernel is untested here"

    /// Seeds for the randomised comparison: 4000 in optimised builds; 400 in debug builds, where
    /// the unoptimised Swift reference is about 100 times slower.
    static let seedCount: Int = {
        #if DEBUG
        return 400
        #else
        return 4000
        #endif
    }()

    /// Lengths around the block size (16), the chunk size of the Swift code (256) and the
    /// representation sizes (384, 2048).
    static let lengths = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 383, 384, 385, 1000, 1536, 2047, 2048, 2049, 4111]
    static let deviations: [Float] = [1, 0.37, 0, 1e-6, 1234.5, -2, Float.leastNonzeroMagnitude]
    static let means: [Float] = [3.25, 0, -1e4, -0.0, 0.001]

    enum Operation: CaseIterable, CustomStringConvertible {
        /// `fillGaussian`, `addGaussian(to:)` (in place), `addGaussian(_:into:)` (a noised copy of
        /// a separate source, which starts at another offset from a 64-byte boundary).
        case fill, add, addInto
        var description: String {
            switch self {
            case .fill: "fillGaussian"
            case .add: "addGaussian(to:)"
            case .addInto: "addGaussian(_:into:)"
            }
        }
    }

    /// Runs `operation` with the reference and with `kernel`, from the same generator (with
    /// `consumed` values of `next()` already taken) on the same data, in buffers starting `offset`
    /// floats past a 64-byte boundary with guard values on both sides; then continues both
    /// generators (`next()`, a fill). Returns a description of the first difference, or nil.
    static func mismatch(
        seed: RandomSeed, consumed: Int, operation: Operation, count: Int, offset: Int, mean: Float, deviation: Float,
        kernel: GaussianKernel
    ) -> String? {
        let guardCount = 8
        let total = offset + count + guardCount
        let sentinel = Float(bitPattern: 0x7FC0_0B4B)
        var initial = [Float](repeating: sentinel, count: total)
        // Representation-like values to add to; the fill must overwrite whatever is there.
        var values = RandomGenerator(seed: seed.mixed(with: 0xDA7A))
        var uniforms = [Float](repeating: 0, count: count)
        values.fillUniform(&uniforms)
        let addends = uniforms.map { $0 * 8 - 4 }
        if operation == .add {
            for i in 0..<count { initial[offset + i] = addends[i] }
        }
        let sourceOffset = (offset + 5) % 16
        let source = UnsafeMutableRawPointer.allocate(byteCount: (sourceOffset + count) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: sourceOffset + count)
        defer { source.deallocate() }
        for i in 0..<count { source[sourceOffset + i] = addends[i] }
        var generator = RandomGenerator(seed: seed)
        for _ in 0..<consumed { _ = generator.next() }

        var results: [[UInt32]] = []
        var continuations: [[UInt64]] = []
        for kernel in [GaussianKernel.reference, kernel] {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: total * 4, alignment: 64)
            defer { memory.deallocate() }
            let all = memory.bindMemory(to: Float.self, capacity: total)
            for i in 0..<total { all[i] = initial[i] }
            let buffer = UnsafeMutableBufferPointer(start: all + offset, count: count)
            var g = generator
            let ran = switch operation {
            case .fill: g.fillGaussian(buffer, mean: mean, standardDeviation: deviation, kernel: kernel)
            case .add: g.addGaussian(to: buffer, standardDeviation: deviation, kernel: kernel)
            case .addInto:
                g.addGaussian(UnsafeBufferPointer(start: source + sourceOffset, count: count), into: buffer,
                              standardDeviation: deviation, kernel: kernel)
            }
            guard ran else { return "\(kernel) did not run" }
            results.append((0..<total).map { all[$0].bitPattern })
            if (0..<count).contains(where: { source[sourceOffset + $0].bitPattern != addends[$0].bitPattern }) {
                return "\(kernel), \(operation), \(count) values: the source changed"
            }
            // The state afterwards: the rest of the next() buffer, a new step, then a fill.
            var next = (0..<10).map { _ in g.next() }
            var after = [Float](repeating: 0, count: 35)
            _ = after.withUnsafeMutableBufferPointer { g.fillGaussian($0, mean: 0, standardDeviation: 1, kernel: .reference) }
            next += after.map { UInt64($0.bitPattern) }
            continuations.append(next)
        }
        let context = "\(operation), \(count) values at offset \(offset), mean \(mean), sd \(deviation), \(seed), \(consumed) next() before"
        if let i = (0..<total).first(where: { results[0][$0] != results[1][$0] }) {
            let place = i < offset ? "guard before" : (i >= offset + count ? "guard after" : "value \(i - offset)")
            return "\(context): \(place) differs: reference \(hex(results[0][i])), \(kernel) \(hex(results[1][i]))"
        }
        if continuations[0] != continuations[1] { return "\(context): the generator continues differently" }
        return nil
    }

    static func hex(_ bits: UInt32) -> String { "0x" + String(bits, radix: 16) }

    /// The first index where `a` and `b` differ in bits, with both bit patterns; nil if none.
    static func firstDifference(_ a: [Float], _ b: [Float]) -> String? {
        guard a.count == b.count else { return "counts \(a.count) and \(b.count)" }
        guard let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) else { return nil }
        return "index \(i): \(hex(a[i].bitPattern)) vs \(hex(b[i].bitPattern))"
    }

    // MARK: Tests

    @Test("The generator state is laid out as the AVX2 kernel reads it (32 consecutive UInt64)")
    func stateLayout() {
        #expect(RandomGenerator._stateLayoutMatchesAVX2Kernel)
    }

    @Test("The reference runs everywhere; an unavailable kernel reports it and changes nothing")
    func availability() {
        #expect(GaussianKernel.reference.isAvailable)
        #expect(!Self.hasAVX512 || Self.hasAVX2, "a CPU with the AVX-512 build runs the AVX2 kernel too")
        for (kernel, available) in [(GaussianKernel.avx2, Self.hasAVX2), (.avx512, Self.hasAVX512)] {
            var generator = RandomGenerator(seed: RandomSeed(1, 2, 3, 4))
            let untouched = generator
            var values = [Float](repeating: 7, count: 40)
            let ran = values.withUnsafeMutableBufferPointer {
                generator.addGaussian(to: $0, standardDeviation: 1, kernel: kernel)
            }
            #expect(ran == available, "\(kernel)")
            if !ran {
                var a = generator, b = untouched
                #expect(values == [Float](repeating: 7, count: 40))
                #expect((0..<20).map { _ in a.next() } == (0..<20).map { _ in b.next() })
            }
        }
    }

    /// Every length, offset, sd and mean with a fixed seed, `kernel` against the reference.
    static func checkGrid(_ kernel: GaussianKernel) {
        let seed = RandomSeed(0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210, 0x0F0F_0F0F_F0F0_F0F0, 42)
        var checked = 0
        for operation in Operation.allCases {
            for count in Self.lengths {
                for deviation in Self.deviations + [.infinity, .nan] {
                    for offset in 0..<8 {
                        let mean = Self.means[(offset + count) % Self.means.count]
                        let problem = Self.mismatch(
                            seed: seed, consumed: offset % 3, operation: operation, count: count, offset: offset,
                            mean: mean, deviation: deviation, kernel: kernel)
                        #expect(problem == nil, "\(problem ?? "")")
                        if problem != nil { return }
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == Operation.allCases.count * Self.lengths.count * (Self.deviations.count + 2) * 8)
    }

    /// Thousands of seeds and lengths, `kernel` against the reference.
    static func checkManySeeds(_ kernel: GaussianKernel) {
        let base = RandomSeed(0x5EED_0000_0000_0001, 0xB4B, 0xA5A5_5A5A_A5A5_5A5A, 7)
        var lengthGenerator = RandomGenerator(seed: base.mixed(with: 0x1E46))
        for i in 0..<Self.seedCount {
            let seed = base.mixed(with: UInt64(i))
            // A listed length and a random one up to 3000, alternately.
            let count = i.isMultiple(of: 2)
                ? Self.lengths[(i / 2) % Self.lengths.count] : Int(lengthGenerator.next() % 3001)
            let deviation = Self.deviations[i % Self.deviations.count]
            let mean = Self.means[i % Self.means.count]
            for operation in Operation.allCases {
                let problem = Self.mismatch(
                    seed: seed, consumed: i % 9, operation: operation, count: count, offset: i % 8, mean: mean,
                    deviation: deviation, kernel: kernel)
                #expect(problem == nil, "seed \(i): \(problem ?? "")")
                if problem != nil { return }
            }
        }
    }

    @Test("AVX2 and reference: bit-identical values and state on every length, offset, sd and mean (fixed seed)",
          .enabled(if: GaussianKernelTests.hasAVX2, Comment(rawValue: GaussianKernelTests.noAVX2)))
    func grid() { Self.checkGrid(.avx2) }

    @Test("AVX2 and reference: bit-identical values and state for thousands of seeds",
          .enabled(if: GaussianKernelTests.hasAVX2, Comment(rawValue: GaussianKernelTests.noAVX2)))
    func manySeeds() { Self.checkManySeeds(.avx2) }

    @Test("AVX-512 and reference: bit-identical values and state on every length, offset, sd and mean (fixed seed)",
          .enabled(if: GaussianKernelTests.hasAVX512, Comment(rawValue: GaussianKernelTests.noAVX512)))
    func gridAVX512() { Self.checkGrid(.avx512) }

    @Test("AVX-512 and reference: bit-identical values and state for thousands of seeds",
          .enabled(if: GaussianKernelTests.hasAVX512, Comment(rawValue: GaussianKernelTests.noAVX512)))
    func manySeedsAVX512() { Self.checkManySeeds(.avx512) }

    @Test("The public fills take the widest kernel here and give the reference's values",
          .enabled(if: GaussianKernelTests.hasAVX2, Comment(rawValue: GaussianKernelTests.noAVX2)))
    func publicFillsMatchReference() {
        let seed = RandomSeed(9, 8, 7, 6)
        for count in [0, 5, 16, 384, 2049] {
            var public1 = RandomGenerator(seed: seed), reference = RandomGenerator(seed: seed)
            var a = [Float](repeating: 0.5, count: count), b = a
            public1.addGaussian(to: &a, standardDeviation: 0.25)
            _ = b.withUnsafeMutableBufferPointer { reference.addGaussian(to: $0, standardDeviation: 0.25, kernel: .reference) }
            #expect(Self.firstDifference(a, b) == nil, "addGaussian, count \(count)")
            public1.fillGaussian(&a, mean: -1, standardDeviation: 3)
            _ = b.withUnsafeMutableBufferPointer { reference.fillGaussian($0, mean: -1, standardDeviation: 3, kernel: .reference) }
            #expect(Self.firstDifference(a, b) == nil, "fillGaussian, count \(count)")
            #expect(public1.next() == reference.next())
        }
    }

    /// Every kernel this CPU runs (the reference always; those it cannot run are compared with
    /// the reference, on this operation too, by the grid tests, which are skipped visibly).
    @Test("A noised copy of a separate source has the bits an in-place add leaves in a copy, and the same generator state",
          arguments: GaussianKernel.allCases.filter(\.isAvailable))
    func noisedCopyIsCopyThenAdd(kernel: GaussianKernel) {
        let seed = RandomSeed(0xC0FF_EE00, 17, 0xABCD, 3)
        for count in [0, 1, 15, 16, 17, 64, 2048, 2049] {
            var values = RandomGenerator(seed: seed.mixed(with: UInt64(count)))
            var source = [Float](repeating: 0, count: count)
            values.fillGaussian(&source, mean: 0.5, standardDeviation: 2)
            let original = source
            for deviation: Float in [0.3, 0, 1e-6] {
                var inPlace = RandomGenerator(seed: seed), copied = inPlace
                var expected = source
                _ = expected.withUnsafeMutableBufferPointer { inPlace.addGaussian(to: $0, standardDeviation: deviation, kernel: kernel) }
                var destination = [Float](repeating: .nan, count: count)
                _ = source.withUnsafeBufferPointer { s in
                    destination.withUnsafeMutableBufferPointer { copied.addGaussian(s, into: $0, standardDeviation: deviation, kernel: kernel) }
                }
                #expect(Self.firstDifference(destination, expected) == nil, "\(kernel), count \(count), sd \(deviation)")
                #expect(source == original, "the source was written")
                #expect(inPlace.next() == copied.next(), "\(kernel), count \(count): the generators part")
            }
        }
    }
}
