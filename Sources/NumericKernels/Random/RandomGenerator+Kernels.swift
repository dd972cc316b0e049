// The choice between the implementations of RandomGenerator's Float Gaussian fills: the portable
// Swift code (the reference, in RandomGenerator.swift and VectorMath.swift) and the AVX2 kernel of
// the CNoiseKernels target and its AVX-512 build, which compute the same values bit for bit.

internal import CNoiseKernels

/// An implementation of `RandomGenerator`'s Float Gaussian fills. The public fills choose
/// themselves (the widest kernel the CPU can run); naming one is for tests and measurements.
package enum GaussianKernel: Sendable, CaseIterable {
    /// The portable Swift implementation: the reference, on every platform.
    case reference
    /// The AVX2 kernel (CNoiseKernels), bit-identical to `reference`. Only on x86-64 CPUs with AVX2.
    case avx2
    /// The AVX2 kernel's AVX-512 build (sixteen lanes, two blocks of the fill per register),
    /// bit-identical to `reference`. Only on x86-64 CPUs with AVX-512 F and DQ.
    case avx512

    /// Whether this kernel can run on this machine (the CPU is queried once per process).
    package var isAvailable: Bool {
        switch self {
        case .reference: true
        case .avx2, .avx512: b4b_noise_level() >= level
        }
    }

    /// The kernel level of CNoiseKernels (`b4b_noise_level`) this implementation runs (0: Swift).
    var level: Int32 {
        switch self {
        case .reference: 0
        case .avx2: 1
        case .avx512: 2
        }
    }
}

extension RandomGenerator {
    /// `fillGaussian(_:mean:standardDeviation:)` computed by `kernel`.
    ///
    /// - Returns: `false`, leaving the generator and the buffer untouched, when `kernel` is not
    ///   available on this machine.
    package mutating func fillGaussian(
        _ buffer: UnsafeMutableBufferPointer<Float>, mean: Float, standardDeviation: Float, kernel: GaussianKernel
    ) -> Bool {
        switch kernel {
        case .reference:
            _fillGaussianReference(buffer, mean: mean, standardDeviation: standardDeviation)
            return true
        case .avx2, .avx512:
            return _gaussianKernel(buffer, source: nil, mean: mean, standardDeviation: standardDeviation, kernel: kernel)
        }
    }

    /// `addGaussian(to:standardDeviation:)` computed by `kernel`.
    ///
    /// - Returns: `false`, leaving the generator and the buffer untouched, when `kernel` is not
    ///   available on this machine.
    package mutating func addGaussian(
        to buffer: UnsafeMutableBufferPointer<Float>, standardDeviation: Float, kernel: GaussianKernel
    ) -> Bool {
        addGaussian(UnsafeBufferPointer(buffer), into: buffer, standardDeviation: standardDeviation, kernel: kernel)
    }

    /// `addGaussian(_:into:standardDeviation:)` computed by `kernel`.
    ///
    /// - Returns: `false`, leaving the generator and `destination` untouched, when `kernel` is not
    ///   available on this machine.
    package mutating func addGaussian(
        _ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<Float>,
        standardDeviation: Float, kernel: GaussianKernel
    ) -> Bool {
        precondition(source.count == destination.count, "addGaussian: source and destination differ in length")
        switch kernel {
        case .reference:
            _addGaussianReference(source.baseAddress, into: destination, standardDeviation: standardDeviation)
            return true
        case .avx2, .avx512:
            return _gaussianKernel(destination, source: source.baseAddress, mean: 0, standardDeviation: standardDeviation,
                                   kernel: kernel)
        }
    }

    /// The Float Gaussian fill in a CNoiseKernels kernel (`kernel`, or the widest this CPU runs when
    /// nil): `buffer[i] = source[i] + standardDeviation * z[i]` when `source` is given (`buffer`'s
    /// own memory or memory apart from it, `buffer.count` values), else
    /// `buffer[i] = standardDeviation * z[i] + mean`; advances the generator as the Swift fills do
    /// (one step per 16 values). Returns `false`, changing nothing, when the kernel cannot run here.
    ///
    /// The kernel reads and writes `state` as 32 consecutive `UInt64`s (s0 of lanes 0...7, then s1,
    /// s2, s3): the layout of `_Xoshiro256PlusX8`, four `SIMD8<UInt64>` stored in declaration order.
    internal mutating func _gaussianKernel(
        _ buffer: UnsafeMutableBufferPointer<Float>, source: UnsafePointer<Float>?, mean: Float, standardDeviation: Float,
        kernel: GaussianKernel?
    ) -> Bool {
        precondition(
            MemoryLayout<_Xoshiro256PlusX8>.size == 32 * MemoryLayout<UInt64>.size,
            "the AVX2 kernel expects the generator state as 32 consecutive UInt64")
        let level = kernel?.level ?? b4b_noise_level()
        guard level >= 1, b4b_noise_level() >= level else { return false }
        guard let base = buffer.baseAddress else { return true }
        let count = buffer.count
        return withUnsafeMutablePointer(to: &state) { statePointer in
            statePointer.withMemoryRebound(to: UInt64.self, capacity: 32) { words in
                b4b_noise_gaussian_f32_at(level, words, base, source, count, mean, standardDeviation) != 0
            }
        }
    }

    /// Whether the stored layout of the generator state is the one the AVX2 kernel reads (four
    /// `SIMD8<UInt64>` words at byte offsets 0, 64, 128, 192). For the tests.
    package static var _stateLayoutMatchesAVX2Kernel: Bool {
        typealias State = _Xoshiro256PlusX8
        return MemoryLayout<State>.size == 256
            && MemoryLayout<State>.offset(of: \State.s0) == 0 && MemoryLayout<State>.offset(of: \State.s1) == 64
            && MemoryLayout<State>.offset(of: \State.s2) == 128 && MemoryLayout<State>.offset(of: \State.s3) == 192
    }
}
