import Numerics

/// The B4B defense: the one type an inference pipeline calls.
///
/// For each batch of representations a user receives, ``protect(_:user:)``:
/// 1. validates the batch (dimension, size, finiteness) — a bad batch changes nothing;
/// 2. hashes every row into buckets (one GEMM, Block 1) and records them in the user's
///    occupancy; row `i`'s coverage counts rows `0...i` and everything before the batch;
/// 3. maps each row's coverage to sigma (Block 2) and adds Gaussian noise of that sigma,
///    drawn from a stream keyed by (secret, user, the row's exact bytes);
/// 4. applies the user's transform pipeline (Block 3).
///
/// Threading model: `protect` may be called from any number of threads at once, for the
/// same or different users. A user's occupancy update is one short critical section on
/// that user's own lock; there is no lock shared by all users. BLAS calls run on the
/// calling thread with OpenBLAS's process-wide thread count, which a host calling from
/// several threads should set to 1 (``BLASThreads/set(_:)``); see the README.
public final class B4BDefense: Sendable {
    /// The validated configuration.
    public let configuration: DefenseConfiguration
    /// The Block 1 hasher.
    public let hasher: RandomProjectionLSH

    private let secret: ServerSecret
    private let rowHash: RowHash
    private let accounts: AccountRegistry
    private let materials: UserMaterialCache

    /// A defense with the given configuration and server secret.
    /// - Throws: ``ConfigurationError`` when the configuration is invalid.
    public init(configuration: DefenseConfiguration = DefenseConfiguration(), secret: ServerSecret) throws {
        let configuration = try configuration.validated()
        self.configuration = configuration
        self.secret = secret
        switch configuration.hasher {
        case .random(let centred):
            hasher = RandomProjectionLSH(
                randomWithDimension: configuration.dimension, hashBits: configuration.hashBits,
                tableCount: configuration.tableCount, seed: secret.seed(.lshHyperplanes),
                centre: centred ? configuration.calibration?.centre : nil)
        case .fitted(let projection):
            hasher = RandomProjectionLSH(projection)
        }
        rowHash = RowHash(key: secret.seed(.noiseRowHash))
        accounts = AccountRegistry(hashBits: configuration.hashBits, tableCount: configuration.tableCount)
        materials = UserMaterialCache(capacityBytes: configuration.transformCacheBytes)
    }

    // MARK: Protect

    /// Protects a batch of representations for `user`.
    ///
    /// - Parameters:
    ///   - batch: `B x d` clean representations, one per row, `1 <= B <= maxBatchRows`.
    ///   - user: the account id (non-empty).
    /// - Returns: the transformed noisy representations (`B x outputDimension`) with each
    ///   row's coverage and sigma.
    /// - Throws: ``ProtectError``; on any error the user's state is unchanged.
    /// - Complexity: one `B x d x kT` GEMM for hashing, O(B d) for the noise, plus the
    ///   transforms (one `B x d x d` GEMM for a dense affine).
    public func protect(_ batch: MatrixView, user: String) throws -> ProtectedBatch {
        var output = Matrix(rows: batch.rows, columns: configuration.outputDimension)
        let (coverage, sigma) = try output.withMutableView { out in
            try protect(batch, user: user, into: out)
        }
        return ProtectedBatch(representations: output, coverage: coverage, sigma: sigma)
    }

    /// Protects a batch held in a ``Matrix``.
    public func protect(_ batch: Matrix, user: String) throws -> ProtectedBatch {
        try batch.withView { v in try protect(v, user: user) }
    }

    /// Protects a batch into caller-provided memory (`B x outputDimension`), for pipelines
    /// that reuse their output buffers. Returns each row's coverage and sigma.
    public func protect(_ batch: MatrixView, user: String, into output: MutableMatrixView) throws -> (coverage: [Double], sigma: [Float]) {
        let d = configuration.dimension
        guard !user.isEmpty else { throw ProtectError(.invalidUser, "user id must not be empty") }
        guard batch.rows > 0 else { throw ProtectError(.emptyBatch, "batch has no rows") }
        guard batch.rows <= configuration.maxBatchRows else {
            throw ProtectError(.batchTooLarge, "batch has \(batch.rows) rows, the limit is \(configuration.maxBatchRows)")
        }
        guard batch.columns == d else {
            throw ProtectError(.wrongDimension, "representations have dimension \(batch.columns), expected \(d)")
        }
        precondition(output.rows == batch.rows && output.columns == configuration.outputDimension,
                     "output is \(output.rows) x \(output.columns), expected \(batch.rows) x \(configuration.outputDimension)")

        // 1. Validate and measure every row before touching any state.
        let b = batch.rows
        var norms = [Double](repeating: 0, count: b)
        for i in 0..<b {
            let row = batch.row(i)
            var s: Float = 0
            for j in 0..<d { s += row[j] * row[j] }
            // A NaN or infinity anywhere makes the float sum non-finite; find where.
            if !s.isFinite {
                if let j = row.firstIndex(where: { !$0.isFinite }) {
                    throw ProtectError(.nonFinite, "row \(i), column \(j) is \(row[j])")
                }
                s = 0
                for j in 0..<d { s += (row[j] / 1e19) * (row[j] / 1e19) }  // finite but huge: rescaled norm
                norms[i] = Double(s).squareRoot() * 1e19
            } else {
                // A float sum of d non-negative terms is within a factor (1 + γ_d) of the exact
                // one; inflating by 2 d u keeps the norm an upper bound, as the hasher's
                // rounding bound requires.
                norms[i] = (Double(s) * (1 + 2 * Double(d) * Double(Float.ulpOfOne))).squareRoot()
            }
        }

        // 2. Per-user material (cached; deriving a cold user happens here, outside any lock).
        let material = materials.material(for: user) { deriveMaterial(user) }

        // 3. Buckets (one GEMM), then the occupancy update: the only state change.
        let tables = configuration.tableCount
        var ids = [UInt32](repeating: 0, count: b * tables)
        norms.withUnsafeBufferPointer { n in
            ids.withUnsafeMutableBufferPointer { hasher.bucketIDs(batch, rowNorms: n, into: $0) }
        }
        let account = accounts.account(user)
        let coverage: [Double] = account.occupancy.withLock { occupancy in
            var coverage = [Double](repeating: 0, count: b)
            for i in 0..<b {
                for t in 0..<tables { occupancy.insert(bucket: ids[i * tables + t], table: t) }
                coverage[i] = occupancy.coverage
            }
            return coverage
        }
        let unit = configuration.unitScale
        let sigma = coverage.map { configuration.cost.sigma(coverage: $0) * unit }

        // 4. Noise into a scratch batch, keyed by the exact clean row.
        var noisy = Matrix(batch)
        noisy.withMutableView { v in
            for i in 0..<b where sigma[i] > 0 {
                let seed = material.noiseSeed.mixed(with: rowHash.hash(batch.row(i)))
                var generator = RandomGenerator(seed: seed)
                generator.addGaussian(to: v.row(i), standardDeviation: sigma[i])
            }
        }

        // 5. The user's transforms.
        noisy.withView { material.pipeline.apply($0, into: output) }
        return (coverage, sigma)
    }

    // MARK: Per-user material

    private func deriveMaterial(_ user: String) -> UserMaterial {
        var stages: [any RepresentationTransform] = []
        var d = configuration.dimension
        let unit = configuration.unitScale
        // The calibration centre is carried through the stages so a binary stage can put
        // its hyperplanes through the centre of whatever space it sees.
        var centre = configuration.calibration.map { Matrix(rows: 1, columns: d, elements: $0.centre) }
        for (i, kind) in configuration.transforms.enumerated() {
            let seed = secret.seed(SeedPurpose("transform/\(i)/\(kind.name)"), user: user)
            let stage = kind.make(inputDimension: d, seed: seed, unitScale: unit, centre: centre?.elements)
            centre = centre.map { stage.apply($0) }
            stages.append(stage)
            d = stage.outputDimension
        }
        return UserMaterial(
            pipeline: TransformPipeline(stages: stages, inputDimension: configuration.dimension),
            noiseSeed: secret.seed(.noiseStream, user: user))
    }

    /// The transform pipeline of `user` (derived or from the cache). Evaluators use it to
    /// undo an account's transform; it is secret in deployment.
    public func transform(for user: String) -> TransformPipeline {
        materials.material(for: user) { deriveMaterial(user) }.pipeline
    }

    // MARK: State

    /// Current coverage of `user` (0 for an unknown user).
    public func coverage(of user: String) -> Double {
        accounts.existingAccount(user)?.occupancy.withLock { $0.coverage } ?? 0
    }

    /// Sigma the next query of `user` would get if it fell in an already occupied bucket
    /// (representation units).
    public func currentSigma(of user: String) -> Float {
        configuration.cost.sigma(coverage: coverage(of: user)) * configuration.unitScale
    }

    /// Number of accounts with state.
    public var userCount: Int { accounts.count }

    /// Number of users whose derived transforms are currently cached.
    public var cachedTransformCount: Int { materials.count }

    /// Every user with state (unordered).
    public var users: [String] { accounts.users }

    /// A copy of `user`'s occupancy for persistence (empty for an unknown user).
    public func exportOccupancy(of user: String) -> OccupancySnapshot {
        let occupancy = accounts.existingAccount(user)?.occupancy.withLock { $0 }
            ?? Occupancy(hashBits: configuration.hashBits, tableCount: configuration.tableCount)
        return OccupancySnapshot(hasherFingerprint: hasher.fingerprint, hashBits: occupancy.hashBits,
                                 tableCount: occupancy.tableCount, words: occupancy.rawWords)
    }

    /// How ``importOccupancy(_:for:mode:)`` combines a snapshot with existing state.
    public enum ImportMode: Sendable {
        /// Union with what the user already has (never loses a bucket; the safe default).
        case merge
        /// Replace the user's occupancy with the snapshot.
        case replace
    }

    /// Loads persisted occupancy for `user`.
    /// - Throws: ``OccupancyError`` when the snapshot belongs to another hasher or has the
    ///   wrong shape; the user's state is then unchanged.
    public func importOccupancy(_ snapshot: OccupancySnapshot, for user: String, mode: ImportMode = .merge) throws {
        guard !user.isEmpty else { throw OccupancyError(message: "user id must not be empty") }
        guard snapshot.hasherFingerprint == hasher.fingerprint else {
            throw OccupancyError(message: "snapshot was recorded under a different hasher (fingerprint \(snapshot.hasherFingerprint), this defense uses \(hasher.fingerprint))")
        }
        guard snapshot.hashBits == configuration.hashBits, snapshot.tableCount == configuration.tableCount else {
            throw OccupancyError(message: "snapshot has \(snapshot.tableCount) tables of 2^\(snapshot.hashBits) buckets, configuration has \(configuration.tableCount) of 2^\(configuration.hashBits)")
        }
        let loaded = try Occupancy(hashBits: snapshot.hashBits, tableCount: snapshot.tableCount, rawWords: snapshot.words)
        accounts.account(user).occupancy.withLock { occupancy in
            switch mode {
            case .merge: occupancy.formUnion(loaded)
            case .replace: occupancy = loaded
            }
        }
    }

    /// Forgets `user`'s state entirely; returns whether there was any. (An operator action:
    /// a forgotten user starts again at zero coverage.)
    @discardableResult
    public func removeUser(_ user: String) -> Bool { accounts.remove(user) }
}

extension SeedPurpose {
    /// The LSH hyperplanes of a random hasher.
    static let lshHyperplanes = SeedPurpose("lsh/hyperplanes")
    /// The key of the row hash that keys each row's noise stream.
    static let noiseRowHash = SeedPurpose("noise/row-hash")
    /// Each user's noise streams.
    static let noiseStream = SeedPurpose("noise/stream")
}
