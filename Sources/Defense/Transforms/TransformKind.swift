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

    /// The largest scale, translation or padding magnitude a transform takes (configured units).
    public static let largestMagnitude: Float = 1e6

    /// The most values a per-user transform matrix may hold: 2^26 floats, 256 MiB (a dense
    /// affine transform of dimension 8192, or a binary transform of 2^26 / d outputs).
    public static let largestMatrixValues = 1 << 26

    /// The MiB that `a x b` floats take, for the size messages (in double: the product may
    /// not fit an Int).
    static func mebibytes(floats a: Int, times b: Int) -> Double {
        Double(a) * Double(b) * Double(MemoryLayout<Float>.stride) / 1_048_576
    }

    /// Checks the stage's parameters for inputs of dimension `d` (as
    /// ``DefenseConfiguration/validated()`` does for each stage): scales, translations and
    /// magnitudes in range, counts and matrix sizes within bounds. ``make(inputDimension:seed:unitScale:centre:)``
    /// expects a stage that passes.
    /// - Parameter i: the stage's position in its pipeline, for the error's field name.
    /// - Throws: ``ConfigurationError`` naming the field (`transforms[i].maxScale`, ...).
    public func validate(position i: Int = 0, inputDimension d: Int) throws {
        func fail(_ field: String, _ m: String) -> ConfigurationError {
            ConfigurationError(field: "transforms[\(i)].\(field)", message: m)
        }
        switch self {
        case .affine(let lo, let hi, let t), .scaleShift(let lo, let hi, let t):
            guard lo.isFinite, hi.isFinite, lo > 0, lo <= hi else {
                throw fail("minScale", "scales need 0 < minScale <= maxScale (finite), got \(lo)...\(hi)")
            }
            guard hi <= Self.largestMagnitude else { throw fail("maxScale", "must be at most \(Self.largestMagnitude), got \(hi)") }
            guard t.isFinite, t >= 0, t <= Self.largestMagnitude else {
                throw fail("translation", "must be finite, in 0...\(Self.largestMagnitude), got \(t)")
            }
            if case .affine = self, d * d > Self.largestMatrixValues {
                throw fail("affine", String(format: "a dense transform of dimension %d would take %.0f MiB per user (at most 8192 dimensions: 256 MiB); use scaleShift", d, Self.mebibytes(floats: d, times: d)))
            }
        case .pad(let count, let magnitude), .addConstants(let count, let magnitude):
            guard (0...65536).contains(count) else { throw fail("count", "must be in 0...65536, got \(count)") }
            guard magnitude.isFinite, magnitude >= 0, magnitude <= Self.largestMagnitude else {
                throw fail("magnitude", "must be finite, in 0...\(Self.largestMagnitude), got \(magnitude)")
            }
        case .shuffle:
            break
        case .binary(let m):
            guard (1...65536).contains(m) else { throw fail("outputDimension", "must be in 1...65536, got \(m)") }
            // Its hyperplanes are a d x m matrix per user: the dense affine's bound applies.
            guard d * m <= Self.largestMatrixValues else {
                throw fail("outputDimension", String(format: "%d from input dimension %d would take %.0f MiB of hyperplanes per user (at most 2^26 values, 256 MiB: the most a dense affine transform takes)", m, d, Self.mebibytes(floats: d, times: m)))
            }
        }
    }

    /// Derives this stage for one user.
    /// - Precondition: the stage passes ``validate(position:inputDimension:)`` for `d`, and
    ///   `unitScale` is finite and positive.
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

// JSON (see ``ConfigurationJSON``): `{"affine": {"minScale": 0.5, "maxScale": 2, "translation": 1}}`,
// `{"scaleShift": {...}}` with the same keys, `{"pad": {"count": 64, "magnitude": 1}}`,
// `{"addConstants": {...}}` with the same keys, `{"binary": {"outputDimension": 4096}}`, or
// "shuffle". Every parameter is optional (the default above when left out), and a kind written
// as its bare name ("affine") takes all its defaults.
extension TransformKind {
    /// Each kind by its JSON name, with the defaults of its case.
    private static let defaults: [(name: String, kind: TransformKind)] = [
        ("affine", .affine()), ("scaleShift", .scaleShift()), ("pad", .pad()), ("addConstants", .addConstants()),
        ("shuffle", .shuffle), ("binary", .binary()),
    ]

    /// Reads a transform in any of the forms above (`{"shuffle": {}}` too), refusing unknown names and keys;
    /// a parameter left out keeps its case's default.
    public init(from decoder: any Decoder) throws {
        let (name, parameters) = try ConfigurationJSON.choice(decoder, among: Self.defaults.map(\.name))
        let fallback = Self.defaults.first { $0.name == name }!.kind
        let known = switch fallback {
        case .affine, .scaleShift: ["minScale", "maxScale", "translation"]
        case .pad, .addConstants: ["count", "magnitude"]
        case .binary: ["outputDimension"]
        case .shuffle: [String]()
        }
        let c = try parameters.map { try ConfigurationJSON.object($0, known: known) }
        func value<T: Decodable>(_ key: String, or fallback: T) throws -> T { try c?.value(key, or: fallback) ?? fallback }
        switch fallback {
        case .affine(let lo, let hi, let t):
            self = .affine(minScale: try value("minScale", or: lo), maxScale: try value("maxScale", or: hi),
                           translation: try value("translation", or: t))
        case .scaleShift(let lo, let hi, let t):
            self = .scaleShift(minScale: try value("minScale", or: lo), maxScale: try value("maxScale", or: hi),
                               translation: try value("translation", or: t))
        case .pad(let count, let magnitude):
            self = .pad(count: try value("count", or: count), magnitude: try value("magnitude", or: magnitude))
        case .addConstants(let count, let magnitude):
            self = .addConstants(count: try value("count", or: count), magnitude: try value("magnitude", or: magnitude))
        case .binary(let m): self = .binary(outputDimension: try value("outputDimension", or: m))
        case .shuffle: self = .shuffle
        }
    }

    /// Writes the transform in the form above, every parameter stated.
    public func encode(to encoder: any Encoder) throws {
        func parameters(_ name: String, _ fill: (inout KeyedEncodingContainer<ConfigurationKey>) throws -> Void) throws {
            var c = encoder.container(keyedBy: ConfigurationKey.self)
            var p = c.nestedContainer(keyedBy: ConfigurationKey.self, forKey: ConfigurationKey(name))
            try fill(&p)
        }
        switch self {
        case .affine(let lo, let hi, let t):
            try parameters("affine") { try $0.put(lo, "minScale"); try $0.put(hi, "maxScale"); try $0.put(t, "translation") }
        case .scaleShift(let lo, let hi, let t):
            try parameters("scaleShift") { try $0.put(lo, "minScale"); try $0.put(hi, "maxScale"); try $0.put(t, "translation") }
        case .pad(let count, let magnitude):
            try parameters("pad") { try $0.put(count, "count"); try $0.put(magnitude, "magnitude") }
        case .addConstants(let count, let magnitude):
            try parameters("addConstants") { try $0.put(count, "count"); try $0.put(magnitude, "magnitude") }
        case .binary(let m):
            try parameters("binary") { try $0.put(m, "outputDimension") }
        case .shuffle:
            var c = encoder.singleValueContainer()
            try c.encode("shuffle")
        }
    }
}
