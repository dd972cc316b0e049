import NumericKernels

/// How the LSH hyperplanes of Block 1 are chosen.
public enum HasherConfiguration: Sendable, Codable, Equatable {
    /// Gaussian hyperplanes derived from the server secret (the paper's construction).
    /// With `centred`, they pass through the calibration centre instead of the origin,
    /// which matters for anisotropic encoders whose representations all lie on one side
    /// of most hyperplanes through the origin.
    case random(centred: Bool)
    /// Sign hyperplanes derived from the server secret: normals with i.i.d. entries +1 or -1,
    /// each with probability 1/2 (``NormalEntries/signs``), through the origin or, with
    /// `centred`, through the calibration centre. In high dimension a dense row's projection onto
    /// such a normal is close to Gaussian, so the buckets behave like the Gaussian hyperplanes'
    /// (the README compares their coverage on real representations); the normals are 1 bit per
    /// entry, and on CPUs with AVX-512 a lone row is projected from those bits (at d = 2048 with
    /// 12 normals, 0.62 µs against 0.89 µs for the Gaussian normals' floats, which stream from L2).
    case signs(centred: Bool)
    /// Hyperplanes and thresholds fitted on a calibration sample (see
    /// ``FittedProjection/principal(sample:hashBits:tableCount:seed:)``), stored in the
    /// configuration so that they are saved and loaded with it.
    case fitted(FittedProjection)
}

extension HasherConfiguration {
    /// For the random hashers (``random(centred:)``, ``signs(centred:)``): how their normals'
    /// entries are drawn and whether they pass through the calibration centre; nil for a fitted one.
    public var randomNormals: (entries: NormalEntries, centred: Bool)? {
        switch self {
        case .random(let centred): (.gaussian, centred)
        case .signs(let centred): (.signs, centred)
        case .fitted: nil
        }
    }
}

/// How the entries of random hyperplane normals are drawn (from a seed derived from the server
/// secret). Entries are unitless; only a normal's direction matters to the buckets.
public enum NormalEntries: String, Sendable, Codable, CaseIterable {
    /// i.i.d. standard normal: the paper's construction.
    case gaussian
    /// i.i.d. +1 or -1, each with probability 1/2.
    case signs
}

/// A stored LSH projection: `d x (k * T)` hyperplane normals and one threshold each.
///
/// Column `t * k + j` is hyperplane `j` of table `t`; bit `j` of a representation's bucket
/// id in table `t` is 1 exactly when `x · p[t*k+j] > threshold[t*k+j]`.
public struct FittedProjection: Sendable, Codable, Equatable {
    /// Representation dimension `d`.
    public var dimension: Int
    /// Hyperplanes per table `k`.
    public var hashBits: Int
    /// Number of tables `T`.
    public var tableCount: Int
    /// Row-major `d x (k * T)` matrix of hyperplane normals.
    public var normals: [Float]
    /// `k * T` thresholds, representation units.
    public var thresholds: [Float]

    /// A projection from its fields as described above (checked by
    /// ``validate(dimension:hashBits:tableCount:)``, or by the configuration that holds it).
    public init(dimension: Int, hashBits: Int, tableCount: Int, normals: [Float], thresholds: [Float]) {
        self.dimension = dimension
        self.hashBits = hashBits
        self.tableCount = tableCount
        self.normals = normals
        self.thresholds = thresholds
    }

    /// Hyperplanes along the sample's top-`k` principal directions, thresholds at the
    /// medians of the sample's projections (so each bit splits the sample in half).
    ///
    /// Table 0 uses the principal directions themselves; each further table uses a random
    /// rotation (from `seed`) of the same `k`-dimensional principal subspace, so tables
    /// differ while all of them look at the directions where the encoder varies most.
    ///
    /// Note: anyone holding the same public sample can recompute table 0; the rotations of
    /// further tables come from `seed` (derive it from the server secret).
    ///
    /// - Parameter sample: `n x d` public calibration representations, `n >= 2`.
    /// - Throws: ``ConfigurationError`` for a too-small or non-finite sample,
    ///   ``LinearAlgebraError`` if the eigen-decomposition fails.
    /// - Complexity: O(n d² + d³) (covariance by one GEMM, eigen-decomposition by `ssyevd`).
    public static func principal(sample: Matrix, hashBits: Int, tableCount: Int = 1, seed: RandomSeed) throws -> FittedProjection {
        let (n, d) = (sample.rows, sample.columns)
        guard (1...24).contains(hashBits) else {
            throw ConfigurationError(field: "hashBits", message: "must be in 1...24, got \(hashBits)")
        }
        guard hashBits <= d else {
            throw ConfigurationError(field: "hashBits", message: "principal hashing needs hashBits <= dimension (\(d)), got \(hashBits)")
        }
        guard (1...Occupancy.largestTableCount).contains(tableCount) else {
            throw ConfigurationError(field: "tableCount", message: "must be in 1...\(Occupancy.largestTableCount), got \(tableCount)")
        }
        let calibration = try Calibration(sample: sample)
        // Centred sample and its covariance (d x d) by one GEMM.
        var centred = sample
        centred.withUnsafeMutableBufferPointer { x in
            for i in 0..<n { for j in 0..<d { x[i * d + j] -= calibration.centre[j] } }
        }
        var covariance = Matrix(rows: d, columns: d)
        centred.withView { c in
            covariance.withMutableView { gemm(c, .transpose, c, .none, into: $0, alpha: 1 / Float(n - 1)) }
        }
        let eigen = try SymmetricEigenDecomposition(covariance)
        // Top-k eigenvectors (values ascend, so take the last k columns), as d x k.
        var top = Matrix(rows: d, columns: hashBits)
        for j in 0..<hashBits {
            let source = d - 1 - j
            for i in 0..<d { top[i, j] = eigen.vectors[i, source] }
        }

        var generator = RandomGenerator(seed: seed)
        let columns = hashBits * tableCount
        var normals = Matrix(rows: d, columns: columns)
        for t in 0..<tableCount {
            var block = top
            if t > 0 {
                var gaussian = [Float](repeating: 0, count: hashBits * hashBits)
                gaussian.withUnsafeMutableBufferPointer { generator.fillGaussian($0) }
                let rotation = try orthonormalFactor(Matrix(rows: hashBits, columns: hashBits, elements: gaussian))
                block = Matrix.product(top, rotation)
            }
            for i in 0..<d { for j in 0..<hashBits { normals[i, t * hashBits + j] = block[i, j] } }
        }
        // Thresholds at the medians of the (uncentred) sample's projections.
        let projections = Matrix.product(sample, normals)
        var thresholds = [Float](repeating: 0, count: columns)
        for j in 0..<columns {
            var column = (0..<n).map { projections[$0, j] }
            column.sort()
            thresholds[j] = n % 2 == 1 ? column[n / 2] : (column[n / 2 - 1] + column[n / 2]) / 2
        }
        return FittedProjection(dimension: d, hashBits: hashBits, tableCount: tableCount,
                                normals: normals.elements, thresholds: thresholds)
    }

    /// Checks that the projection fits a configuration of `expected` dimensions, `k`
    /// hyperplanes per table and `t` tables, with finite normals and thresholds.
    /// - Throws: ``ConfigurationError`` naming the field.
    public func validate(dimension expected: Int, hashBits k: Int, tableCount t: Int) throws {
        func fail(_ m: String) -> ConfigurationError { ConfigurationError(field: "hasher.fitted", message: m) }
        guard dimension == expected else { throw fail("has dimension \(dimension), configuration has \(expected)") }
        guard hashBits == k else { throw fail("has \(hashBits) bits per table, configuration has \(k)") }
        guard tableCount == t else { throw fail("has \(tableCount) tables, configuration has \(t)") }
        guard normals.count == dimension * hashBits * tableCount else {
            throw fail("has \(normals.count) normal values, expected \(dimension * hashBits * tableCount)")
        }
        guard thresholds.count == hashBits * tableCount else {
            throw fail("has \(thresholds.count) thresholds, expected \(hashBits * tableCount)")
        }
        guard normals.allSatisfy(\.isFinite), thresholds.allSatisfy(\.isFinite) else { throw fail("contains NaN or infinity") }
    }
}

// JSON (see ``ConfigurationJSON``): `{"random": {"centred": true}}` or `{"signs": {"centred": false}}`
// (`centred` optional, false by default; the bare names "random" and "signs" are the same
// through the origin), or `{"fitted": {...}}` with a ``FittedProjection``.
extension HasherConfiguration {
    /// Reads a hasher in any of the forms above (and the earlier `_0` form), refusing unknown names and keys.
    public init(from decoder: any Decoder) throws {
        let (name, parameters) = try ConfigurationJSON.choice(decoder, among: ["random", "signs", "fitted"])
        func centred() throws -> Bool {
            try parameters.map { try ConfigurationJSON.object($0, known: ["centred"]).value("centred", or: false) } ?? false
        }
        switch name {
        case "random": self = .random(centred: try centred())
        case "signs": self = .signs(centred: try centred())
        default:
            guard let parameters else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "'fitted' needs its projection: {\"fitted\": {\"dimension\": ..., \"hashBits\": ..., \"tableCount\": ..., \"normals\": [...], \"thresholds\": [...]}}"))
            }
            self = .fitted(try FittedProjection(from: ConfigurationJSON.unwrappingPositional(parameters)))
        }
    }

    /// Writes the hasher in the form above, every parameter stated.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: ConfigurationKey.self)
        func random(_ name: String, centred: Bool) throws {
            var parameters = c.nestedContainer(keyedBy: ConfigurationKey.self, forKey: ConfigurationKey(name))
            try parameters.put(centred, "centred")
        }
        switch self {
        case .random(let centred): try random("random", centred: centred)
        case .signs(let centred): try random("signs", centred: centred)
        case .fitted(let projection): try c.put(projection, "fitted")
        }
    }
}

extension FittedProjection {
    /// Reads every field (all required), refusing unknown keys.
    public init(from decoder: any Decoder) throws {
        let c = try ConfigurationJSON.object(decoder, known: ["dimension", "hashBits", "tableCount", "normals", "thresholds"])
        self.init(dimension: try c.value("dimension"), hashBits: try c.value("hashBits"), tableCount: try c.value("tableCount"),
                  normals: try c.value("normals"), thresholds: try c.value("thresholds"))
    }
}
