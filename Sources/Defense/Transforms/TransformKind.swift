import NumericKernels

/// One stage of the per-user transform pipeline, as configured (the parameters that are
/// the same for everyone); each user's random parameters are derived from the server
/// secret and the user id, so nothing per user is stored.
///
/// Magnitudes (`translation`, `magnitude`) are in configured units (see
/// ``DefenseConfiguration/units``).
public enum TransformKind: Sendable, Codable, Equatable {
    /// Dense `y = x Q diag(s) + b`, one GEMM (``AffineTransform``).
    case affine(minScale: Float = 0.5, maxScale: Float = 2, translation: Float = 1)
    /// Per-dimension `y = s ⊙ x + b` (``ScaleShiftTransform``).
    case scaleShift(minScale: Float = 0.5, maxScale: Float = 2, translation: Float = 1)
    /// `count` constant dimensions appended (``PadTransform``).
    case pad(count: Int = 64, magnitude: Float = 1)
    /// `count` constants inserted at secret positions (``AddConstantsTransform``).
    case addConstants(count: Int = 64, magnitude: Float = 1)
    /// A secret permutation of the dimensions (``ShuffleTransform``).
    case shuffle
    /// `outputDimension` random hyperplane bits (``BinaryTransform``), through the calibration
    /// centre when the configuration has one.
    case binary(outputDimension: Int = 4096)

    /// Short stable name, used in seed derivation and reports.
    public var name: String {
        switch self {
        case .affine: "affine"
        case .scaleShift: "scale-shift"
        case .pad: "pad"
        case .addConstants: "add-constants"
        case .shuffle: "shuffle"
        case .binary: "binary"
        }
    }

    /// Output dimension for an input of dimension `d`.
    public func outputDimension(forInput d: Int) -> Int {
        switch self {
        case .affine, .scaleShift, .shuffle: d
        case .pad(let count, _), .addConstants(let count, _): d + count
        case .binary(let m): m
        }
    }

    func validate(position i: Int, inputDimension d: Int) throws {
        func fail(_ field: String, _ m: String) -> ConfigurationError {
            ConfigurationError(field: "transforms[\(i)].\(field)", message: m)
        }
        switch self {
        case .affine(let lo, let hi, let t), .scaleShift(let lo, let hi, let t):
            guard lo.isFinite, hi.isFinite, lo > 0, lo <= hi else {
                throw fail("minScale", "scales need 0 < minScale <= maxScale (finite), got \(lo)...\(hi)")
            }
            guard t.isFinite, t >= 0 else { throw fail("translation", "must be finite and non-negative, got \(t)") }
            if case .affine = self, d > 8192 {
                throw fail("affine", "a dense transform of dimension \(d) would take \(d * d * 4 >> 20) MiB per user; use scaleShift")
            }
        case .pad(let count, let magnitude), .addConstants(let count, let magnitude):
            guard (0...65536).contains(count) else { throw fail("count", "must be in 0...65536, got \(count)") }
            guard magnitude.isFinite, magnitude >= 0 else {
                throw fail("magnitude", "must be finite and non-negative, got \(magnitude)")
            }
        case .shuffle:
            break
        case .binary(let m):
            guard (1...65536).contains(m) else { throw fail("outputDimension", "must be in 1...65536, got \(m)") }
        }
    }

    /// Derives this stage for one user.
    /// - Parameters:
    ///   - d: the stage's input dimension.
    ///   - seed: the user's seed for this stage.
    ///   - unitScale: multiplies configured magnitudes into representation units.
    ///   - centre: the calibration centre, if any (used by `.binary` at the pipeline's input dimension).
    public func make(inputDimension d: Int, seed: RandomSeed, unitScale: Float, centre: [Float]?) -> any RepresentationTransform {
        switch self {
        case .affine(let lo, let hi, let t):
            AffineTransform(dimension: d, scaleRange: lo...hi, translation: t * unitScale, seed: seed)
        case .scaleShift(let lo, let hi, let t):
            ScaleShiftTransform(dimension: d, scaleRange: lo...hi, translation: t * unitScale, seed: seed)
        case .pad(let count, let magnitude):
            PadTransform(dimension: d, count: count, magnitude: magnitude * unitScale, seed: seed)
        case .addConstants(let count, let magnitude):
            AddConstantsTransform(dimension: d, count: count, magnitude: magnitude * unitScale, seed: seed)
        case .shuffle:
            ShuffleTransform(dimension: d, seed: seed)
        case .binary(let m):
            BinaryTransform(dimension: d, outputDimension: m, centre: centre?.count == d ? centre : nil, seed: seed)
        }
    }
}
