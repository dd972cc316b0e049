/// Every setting of the defense in one value, with the paper's defaults.
///
/// Defaults follow Dubiński et al., *Bucks for Buckets (B4B)*, NeurIPS 2023:
/// 2048-dimensional representations, 12 hyperplanes (4096 buckets), the exponential
/// cost of Eq. (1) with lambda = 1e-6, alpha = 1, beta = 0.8. Call ``validated()``
/// (the façade does) to reject inconsistent settings with a message naming the field.
///
/// Codable: a configuration with a fitted hasher and a calibration is saved and
/// loaded as one JSON document (``DefenseConfiguration/encoded()``,
/// ``DefenseConfiguration/decode(from:)``).
public struct DefenseConfiguration: Sendable, Codable, Equatable {
    /// Representation dimension `d` accepted by ``B4BDefense/protect(_:user:)``, at most
    /// ``largestDimension``.
    public var dimension: Int = 2048

    /// The largest representation dimension (2^20: encoders' are in the thousands, and the
    /// hyperplanes of a larger one alone would take gigabytes).
    public static let largestDimension = 1 << 20

    /// The most hyperplane values (`dimension x hashBits x tableCount`) a configuration may
    /// ask of its hasher: 2^26 floats, 256 MiB (the bound on a per-user transform matrix).
    public static let largestHyperplaneValues = 1 << 26
    /// Hyperplanes per hash table `k`; each table has `2^k` buckets. Valid: 1...24.
    public var hashBits: Int = 12
    /// Independent hash tables whose coverages are averaged (the reference evaluation uses 20). Valid: 1...64.
    public var tableCount: Int = 1
    /// How the hyperplanes are chosen (random from the secret, or fitted on a calibration sample).
    public var hasher: HasherConfiguration = .random(centred: false)
    /// Statistics of a public calibration sample (centre, spread); needed by centred hashing,
    /// calibration-relative units and centred binary transforms.
    public var calibration: Calibration? = nil
    /// Map from coverage to noise standard deviation (Block 2 of the paper).
    public var cost: CostFunction = .exponential(ExponentialCost())
    /// Optional query-count-aware price (beyond the paper): when set, a row's sigma is the
    /// larger of ``cost`` and this price of the user's coverage relative to the pool's at the
    /// same number of queries. Default nil (the paper's price alone).
    public var relativeCost: RelativeCoverageCost? = nil
    /// The unit in which sigma, translations and constants are expressed.
    public var units: Units = .absolute
    /// The per-user transform pipeline applied after the noise (Block 3), in order.
    public var transforms: [TransformKind] = [.affine()]
    /// Largest batch (rows) accepted by one call; larger batches are rejected, not truncated.
    public var maxBatchRows: Int = 4096
    /// Memory budget, in bytes, of the cache of derived per-user transforms, shared by all
    /// users (least recently used evicted first; a dense affine transform of d = 2048 takes
    /// 16 MiB). 0 disables caching.
    public var transformCacheBytes: Int = 256 << 20

    /// The paper's defaults.
    public init() {}

    /// The unit of every magnitude in the configuration.
    public enum Units: String, Sendable, Codable, Equatable {
        /// Magnitudes are in the representation's own units.
        case absolute
        /// Magnitudes are multiples of the calibration sample's spread (root-mean-square
        /// per-dimension standard deviation), so one set of parameters transfers between
        /// encoders whose representations differ in scale.
        case calibrationSpread
    }

    /// Number of buckets per table, `2^hashBits`.
    public var bucketCount: Int { 1 << hashBits }

    /// The factor converting configured magnitudes to representation units.
    public var unitScale: Float {
        switch units {
        case .absolute: 1
        case .calibrationSpread: calibration?.spread ?? 1
        }
    }

    /// How much the transforms can enlarge the noise added before them, at most: the product
    /// over the scaling stages of their largest scale, times the square root of the input
    /// dimension for a dense affine transform (its output coordinate sums the whole row, whose
    /// norm its largest scale bounds). 1 without scaling stages.
    public var noiseAmplification: Double {
        stageAmplifications.reduce(1, *)
    }

    /// Each transform stage's largest factor on a coordinate's magnitude: its largest scale,
    /// times the square root of its input dimension for a dense affine transform; 1 for the
    /// stages that do not scale.
    private var stageAmplifications: [Double] {
        var d = dimension
        var factors: [Double] = []
        for t in transforms {
            switch t {
            case .affine(_, let hi, _): factors.append(Double(hi) * Double(d).squareRoot())
            case .scaleShift(_, let hi, _): factors.append(Double(hi))
            default: factors.append(1)
            }
            d = t.outputDimension(forInput: d)
        }
        return factors
    }

    /// The largest sigma noise is drawn with, representation units: ``CostFunction/largestSigma``,
    /// or less where the transforms' ``noiseAmplification`` would carry noise that large
    /// (64 standard deviations) past Float32's range.
    public var largestNoiseSigma: Float {
        Float(min(CostFunction.largestSigma, Double(Float.greatestFiniteMagnitude) / (64 * noiseAmplification)))
    }

    /// The largest input magnitude (representation units) whose answers stay finite: a
    /// quarter of Float32's range over the transforms' ``noiseAmplification``, so that scaled
    /// and mixed coordinates, translations and noise together stay inside the range. Embedding
    /// values are many orders of magnitude below it (about 3.4e38 / 4 without a scaling stage,
    /// 9.4e35 with the default dense affine transform at d = 2048); the gateway refuses larger
    /// values, and a library caller passing larger ones may get infinite answers.
    public var largestInputMagnitude: Float {
        Float(Double(Float.greatestFiniteMagnitude) / (4 * noiseAmplification))
    }

    /// Output dimension of the transform pipeline for inputs of ``dimension``.
    public var outputDimension: Int {
        transforms.reduce(dimension) { $1.outputDimension(forInput: $0) }
    }

    /// Checks every field; returns `self` unchanged or throws naming the first bad field.
    public func validated() throws -> DefenseConfiguration {
        func fail(_ field: String, _ why: String) -> ConfigurationError { ConfigurationError(field: field, message: why) }
        guard (1...Self.largestDimension).contains(dimension) else {
            throw fail("dimension", "must be in 1...\(Self.largestDimension), got \(dimension)")
        }
        guard (1...24).contains(hashBits) else { throw fail("hashBits", "must be in 1...24, got \(hashBits)") }
        guard (1...64).contains(tableCount) else { throw fail("tableCount", "must be in 1...64, got \(tableCount)") }
        // The hasher holds d x k x T floats (and builds them through doubles): bounded like a
        // per-user transform matrix, so that no configuration that validates fails to build.
        guard dimension * hashBits * tableCount <= Self.largestHyperplaneValues else {
            throw fail("tableCount", String(format: "%d tables of %d hyperplanes at dimension %d would take %.0f MiB of hyperplanes (at most 2^26 values, 256 MiB)",
                                            tableCount, hashBits, dimension, TransformKind.mebibytes(floats: dimension, times: hashBits * tableCount)))
        }
        guard maxBatchRows >= 1 else { throw fail("maxBatchRows", "must be at least 1, got \(maxBatchRows)") }
        guard transformCacheBytes >= 0 else { throw fail("transformCacheBytes", "must be non-negative, got \(transformCacheBytes)") }
        try cost.validate()
        try relativeCost?.validate()
        if let calibration {
            try calibration.validate(dimension: dimension)
        }
        if units == .calibrationSpread && calibration == nil {
            throw fail("units", "calibrationSpread needs a calibration (centre and spread of a public sample)")
        }
        switch hasher {
        case .random(let centred), .signs(let centred):
            if centred && calibration == nil {
                throw fail("hasher", "a centred random hasher needs a calibration (its centre)")
            }
        case .fitted(let projection):
            try projection.validate(dimension: dimension, hashBits: hashBits, tableCount: tableCount)
        }
        var d = dimension
        for (i, t) in transforms.enumerated() {
            try t.validate(position: i, inputDimension: d)
            d = t.outputDimension(forInput: d)
        }
        // Enough scaling stages multiply past a double's range: no finite bound on the answers
        // (and `0 x infinity` below would be NaN, which no comparison refuses).
        guard noiseAmplification.isFinite else {
            throw fail("transforms", "their scales together multiply values by more than a double holds (\(transforms.count) stages); use fewer or smaller scales")
        }
        let constants = constantContributions
        let reach = constantReach
        if !(reach <= Self.largestConstantReach), let largest = constants.max(by: { $0.reach < $1.reach }) {
            throw fail("transforms[\(largest.position)]", String(
                format: "adds constants that reach %.3g in representation units after the later stages' scales (all stages together %.3g, at most a quarter of Float32's range, %.3g): lower the translations or padded magnitudes, or the calibration spread they are multiplied by (%.3g)",
                largest.reach, reach, Self.largestConstantReach, Double(unitScale)))
        }
        return self
    }

    /// The most the transforms' constants (translations, padded and inserted constants) may
    /// add to an output coordinate, representation units: a quarter of Float32's range, so
    /// that with inputs below ``largestInputMagnitude`` (another quarter) and the noise,
    /// answers stay finite.
    public static let largestConstantReach = Double(Float.greatestFiniteMagnitude) / 4

    /// The most the transforms' constants (translations, padded and inserted constants) can
    /// add to an output coordinate, representation units: each constant's magnitude times
    /// ``unitScale`` times what the scaling stages after it can multiply a value by, summed
    /// over the stages. At most ``largestConstantReach`` in a valid configuration.
    public var constantReach: Double {
        constantContributions.reduce(0) { $0 + $1.reach }
    }

    /// For each stage that adds constants, the most they can add to an output coordinate
    /// (representation units): the constant's magnitude times ``unitScale`` times what the
    /// scaling stages after it can multiply a value by (as in ``noiseAmplification``).
    var constantContributions: [(position: Int, reach: Double)] {
        let factors = stageAmplifications
        var result: [(position: Int, reach: Double)] = []
        for (i, t) in transforms.enumerated() {
            let constant: Float
            switch t {
            case .affine(_, _, let c), .scaleShift(_, _, let c), .pad(_, let c), .addConstants(_, let c): constant = c
            case .shuffle, .binary: continue
            }
            let after = factors[(i + 1)...].reduce(1, *)
            result.append((i, Double(constant) * Double(unitScale) * after))
        }
        return result
    }
}

/// A configuration field with an invalid value.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The offending field, e.g. `"hashBits"` or `"transforms[1].count"`.
    public let field: String
    /// What is wrong with it.
    public let message: String

    /// An error naming `field` and what is wrong with it.
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "invalid configuration: \(field) \(message)" }
}
