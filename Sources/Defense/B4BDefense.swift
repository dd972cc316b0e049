import NumericKernels

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
/// the lock of the user's shard (one of 64); there is no lock shared by all users. BLAS calls run on the
/// calling thread with OpenBLAS's process-wide thread count, which a host calling from
/// several threads should set to 1 (``BLASThreads/set(_:)``); see the README.
public final class B4BDefense: Sendable {
    /// The validated configuration.
    public let configuration: DefenseConfiguration
    /// The Block 1 hasher.
    public let hasher: RandomProjectionLSH

    /// The longest user id accepted, in UTF-8 bytes (64 KiB). Accounts are told apart by their
    /// ids' bytes: ids that differ only in Unicode normalisation are different accounts.
    public static let maxUserIDBytes = AccountIDIndex.maxIDBytes

    private let secret: ServerSecret
    /// ``DefenseConfiguration/unitScale``, computed once (it reads the calibration).
    private let unitScale: Float
    /// ``DefenseConfiguration/largestNoiseSigma``, computed once.
    private let largestNoiseSigma: Float
    /// The sigmas noise is drawn at (each row's sigma is rounded down to a rung).
    public let noiseLadder: NoiseLadder
    private let rowHash: RowHash
    private let accounts: AccountRegistry
    private let materials: UserMaterialCache

    /// A defense with the given configuration and server secret.
    /// - Throws: ``ConfigurationError`` when the configuration is invalid.
    public init(configuration: DefenseConfiguration = DefenseConfiguration(), secret: ServerSecret) throws {
        let configuration = try configuration.validated()
        self.configuration = configuration
        self.secret = secret
        self.unitScale = configuration.unitScale
        self.largestNoiseSigma = configuration.largestNoiseSigma
        self.noiseLadder = NoiseLadder(configuration: configuration)
        switch configuration.hasher {
        case .random(let centred), .signs(let centred):
            hasher = RandomProjectionLSH(
                randomWithDimension: configuration.dimension, hashBits: configuration.hashBits,
                tableCount: configuration.tableCount, seed: secret.seed(.lshHyperplanes),
                centre: centred ? configuration.calibration?.centre : nil,
                entries: configuration.hasher.randomNormals!.entries)
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
        // Checked before anything sized by the batch is allocated.
        try validate(batch, user: user)
        var output = Matrix(uninitializedRows: batch.rows, columns: configuration.outputDimension)
        let (coverage, sigma) = try output.withMutableView { out in
            try protect(batch, user: user, into: out)
        }
        return ProtectedBatch(representations: output, coverage: coverage, sigma: sigma)
    }

    /// Protects a batch held in a ``Matrix``.
    public func protect(_ batch: Matrix, user: String) throws -> ProtectedBatch {
        try batch.withView { v in try protect(v, user: user) }
    }

    /// Records and prices a batch held in a ``Matrix`` (see ``track(_:user:)``).
    public func track(_ batch: Matrix, user: String) throws -> (coverage: [Double], sigma: [Float]) {
        try batch.withView { v in try track(v, user: user) }
    }

    /// Protects a batch into caller-provided memory (`B x outputDimension`), for pipelines
    /// that reuse their output buffers. Returns each row's coverage and sigma. `output` may be
    /// the batch's own memory (in place, when `outputDimension` equals `dimension`: every row
    /// is read before it is written); any other overlap of the two is not allowed.
    /// - Throws: ``ProtectError`` (`outputMismatch` when `output` is not `B x outputDimension`);
    ///   on any error the user's state and `output` are unchanged.
    public func protect(_ batch: MatrixView, user: String, into output: MutableMatrixView) throws -> (coverage: [Double], sigma: [Float]) {
        try validate(batch, user: user)
        return try withPrices(rows: batch.rows) { coverage, sigma in
            try protect(batch, user: user, into: output, coverage: coverage, sigma: sigma)
        }
    }

    /// Protects a batch entirely into caller-provided memory: the representations into
    /// `output` (`B x outputDimension`), row `i`'s coverage and sigma into `coverage[i]` and
    /// `sigma[i]` (each buffer holds at least `B` values; later values are left as they were).
    /// No arrays are created for the results: the form for serving loops that reuse their
    /// buffers call after call. Same checks and semantics as ``protect(_:user:)``.
    /// - Throws: ``ProtectError`` (`outputMismatch` when a buffer does not fit the batch); on
    ///   any error the user's state and the buffers are unchanged.
    public func protect(_ batch: MatrixView, user: String, into output: MutableMatrixView,
                        coverage: UnsafeMutableBufferPointer<Double>, sigma: UnsafeMutableBufferPointer<Float>) throws {
        try checkBuffers(rows: batch.rows, output: output, coverage: coverage, sigma: sigma)
        try validate(batch, user: user)
        let b = batch.rows
        try withUnsafeTemporaryAllocation(of: UInt32.self, capacity: b * configuration.tableCount) { ids in
            try withUnsafeTemporaryAllocation(of: UInt64.self, capacity: b) { rowKeys in
                try hashRows(batch, into: ids, rowKeys: rowKeys)
                try protect(batch, ids: UnsafeBufferPointer(ids), rowKeys: UnsafeBufferPointer(rowKeys), user: user,
                            into: output, coverage: coverage, sigma: sigma)
            }
        }
    }

    /// The part of ``protect(_:user:into:coverage:sigma:)`` after hashing: records, prices,
    /// noises, transforms.
    private func protect(_ batch: MatrixView, ids: UnsafeBufferPointer<UInt32>, rowKeys: UnsafeBufferPointer<UInt64>,
                         user: String, into output: MutableMatrixView,
                         coverage: UnsafeMutableBufferPointer<Double>, sigma: UnsafeMutableBufferPointer<Float>) throws {
        // Per-user material (cached; deriving a cold user happens here, outside any lock,
        // and before any state changes).
        let material = materials.material(for: user) { deriveMaterial(user) }
        record(ids, user: user, coverage: coverage, sigma: sigma)

        // Noise keyed by the exact clean row and the sigma it is drawn with (a rung of the
        // noise ladder: see ``NoiseLadder`` for why the sigma), written straight into the output when there is
        // no transform, else into a scratch block that the transforms read. Row-local
        // pipelines run over blocks of rows small enough to stay in cache (about 64 KiB of
        // input each); GEMM transforms take the whole batch in one call.
        let (b, d) = (batch.rows, batch.columns)
        let pipeline = material.pipeline
        let blockRows = pipeline.isRowLocal ? max(1, min(b, 16384 / max(d, 1))) : b
        var scratch = pipeline.stages.isEmpty ? Matrix(rows: 0, columns: d) : Matrix(uninitializedRows: blockRows, columns: d)
        for start in stride(from: 0, to: b, by: blockRows) {
            let rows = start ..< min(b, start + blockRows)
            let source = batch.rows(rows)
            // Each row is read once: noised on its way into `target`, or copied when its sigma is 0.
            func addNoise(_ target: MutableMatrixView) {
                for i in 0..<rows.count {
                    let deviation = sigma[rows.lowerBound + i]
                    guard deviation > 0 else {
                        target.rows(i ..< i + 1).copy(from: source.rows(i ..< i + 1))
                        continue
                    }
                    let seed = material.noiseSeed.mixed(with: rowKeys[rows.lowerBound + i]).mixed(with: UInt64(deviation.bitPattern))
                    var generator = RandomGenerator(seed: seed)
                    generator.addGaussian(source.row(i), into: target.row(i), standardDeviation: deviation)
                }
            }
            if pipeline.stages.isEmpty {
                addNoise(output.rows(rows))
            } else {
                scratch.withMutableView { block in
                    let noisy = block.rows(0 ..< rows.count)
                    addNoise(noisy)
                    pipeline.apply(noisy.readOnly, into: output.rows(rows))
                }
            }
        }
    }

    /// Records a batch in `user`'s occupancy and prices it, without producing
    /// representations: coverage tracking alone (Block 1 and 2), e.g. to charge queries
    /// ("bucks") instead of noising them. Same checks and semantics as ``protect(_:user:)``.
    /// - Returns: each row's coverage and the sigma the cost assigns to it (rounded down to a
    ///   rung of ``noiseLadder``: the sigma ``protect(_:user:)`` would draw the row's noise with).
    /// - Throws: ``ProtectError``; on any error the user's state is unchanged.
    public func track(_ batch: MatrixView, user: String) throws -> (coverage: [Double], sigma: [Float]) {
        try validate(batch, user: user)
        return try withPrices(rows: batch.rows) { coverage, sigma in
            try track(batch, user: user, coverage: coverage, sigma: sigma)
        }
    }

    /// Records and prices a batch like ``track(_:user:)``, writing row `i`'s coverage and
    /// sigma into `coverage[i]` and `sigma[i]` (each buffer holds at least `B` values; later
    /// values are left as they were). No arrays are created for the results: the form for
    /// serving loops that reuse their buffers call after call.
    /// - Throws: ``ProtectError`` (`outputMismatch` when a buffer is shorter than the batch); on
    ///   any error the user's state and the buffers are unchanged.
    public func track(_ batch: MatrixView, user: String,
                      coverage: UnsafeMutableBufferPointer<Double>, sigma: UnsafeMutableBufferPointer<Float>) throws {
        try checkBuffers(rows: batch.rows, coverage: coverage, sigma: sigma)
        try validate(batch, user: user)
        try withUnsafeTemporaryAllocation(of: UInt32.self, capacity: batch.rows * configuration.tableCount) { ids in
            try hashRows(batch, into: ids, rowKeys: nil)
            record(UnsafeBufferPointer(ids), user: user, coverage: coverage, sigma: sigma)
        }
    }

    /// Rejects caller-provided buffers that do not fit a batch of `rows` rows: an output that is
    /// not `rows x outputDimension` (when given), price buffers shorter than `rows`.
    private func checkBuffers(rows: Int, output: MutableMatrixView? = nil, coverage: UnsafeMutableBufferPointer<Double>,
                              sigma: UnsafeMutableBufferPointer<Float>) throws {
        if let output, output.rows != rows || output.columns != configuration.outputDimension {
            throw ProtectError(.outputMismatch, "output is \(output.rows) x \(output.columns), expected \(rows) x \(configuration.outputDimension)")
        }
        guard coverage.count >= rows, sigma.count >= rows else {
            throw ProtectError(.outputMismatch, "the batch has \(rows) rows, but the coverage buffer holds \(coverage.count) values and the sigma buffer \(sigma.count)")
        }
    }

    /// Runs `body` with fresh arrays of `rows` coverages and sigmas and returns them filled.
    private func withPrices(rows: Int, _ body: (UnsafeMutableBufferPointer<Double>, UnsafeMutableBufferPointer<Float>) throws -> Void)
        throws -> (coverage: [Double], sigma: [Float]) {
        var coverage = [Double](repeating: 0, count: max(rows, 0))
        var sigma = [Float](repeating: 0, count: max(rows, 0))
        try coverage.withUnsafeMutableBufferPointer { c in try sigma.withUnsafeMutableBufferPointer { s in try body(c, s) } }
        return (coverage, sigma)
    }

    /// Checks a batch's user id, size and dimension (its finiteness is checked as it is
    /// hashed, ``hashRows(_:into:rowKeys:)``). Throws before any state is touched.
    private func validate(_ batch: MatrixView, user: String) throws {
        guard !user.isEmpty else { throw ProtectError(.invalidUser, "user id must not be empty") }
        guard user.utf8.count <= Self.maxUserIDBytes else {
            throw ProtectError(.invalidUser, "user id is \(user.utf8.count) bytes of UTF-8, the limit is \(Self.maxUserIDBytes)")
        }
        guard batch.rows > 0 else { throw ProtectError(.emptyBatch, "batch has no rows") }
        guard batch.rows <= configuration.maxBatchRows else {
            throw ProtectError(.batchTooLarge, "batch has \(batch.rows) rows, the limit is \(configuration.maxBatchRows)")
        }
        guard batch.columns == configuration.dimension else {
            throw ProtectError(.wrongDimension, "representations have dimension \(batch.columns), expected \(configuration.dimension)")
        }
    }

    /// Hashes a validated batch: its bucket ids into `ids` (`B x T`) and, when `rowKeys` is
    /// given (`B` values), each row's keyed hash (the key of its noise stream). Touches no
    /// state; throws ``ProtectError`` (`nonFinite`) at the first NaN or infinity.
    ///
    /// Rows are hashed in blocks of about 256 KiB (32 rows at d = 2048): the hasher reads
    /// each row from memory once (projections and norm in one pass), and each row's keyed hash
    /// is computed right after, while the block is still in the core's L2 cache.
    ///
    /// The callers keep `ids` in temporary storage (no heap allocation for small batches) and
    /// call this directly, not through a closure, so that a call retains nothing per batch.
    private func hashRows(_ batch: MatrixView, into ids: UnsafeMutableBufferPointer<UInt32>,
                          rowKeys: UnsafeMutableBufferPointer<UInt64>?) throws {
        let (b, d, tables) = (batch.rows, batch.columns, configuration.tableCount)
        let blockRows = max(1, min(b, 65_536 / max(d, 1)))
        for start in stride(from: 0, to: b, by: blockRows) {
            let rows = start ..< min(b, start + blockRows)
            let block = UnsafeMutableBufferPointer(rebasing: ids[rows.lowerBound * tables ..< rows.upperBound * tables])
            do throws(NonFiniteValue) {
                try hasher.bucketIDs(batch.rows(rows), into: block)
            } catch {
                throw ProtectError(.nonFinite, "row \(start + error.row), column \(error.column) is \(error.value)")
            }
            if let rowKeys { for i in rows { rowKeys[i] = rowHash.hash(batch.row(i)) } }
        }
    }

    /// Adds hashed rows to `user`'s occupancy (the only state change) and prices them into
    /// `coverage[i]` and `sigma[i]`. Row `i`'s coverage includes rows `0...i`.
    private func record(_ ids: UnsafeBufferPointer<UInt32>, user: String,
                        coverage: UnsafeMutableBufferPointer<Double>, sigma: UnsafeMutableBufferPointer<Float>) {
        let tables = configuration.tableCount
        let b = ids.count / tables
        let firstQuery = accounts.withTable(of: user) { $0.record(ids, user: $1, coverage: coverage) }
        // Row i is the user's query number firstQuery + i. The relative cost (two arrays) is
        // read out of the configuration once per batch, not copied per row.
        let relative = configuration.relativeCost
        for i in 0..<b { sigma[i] = price(coverage: coverage[i], queries: firstQuery + i, relative: relative) }
    }

    /// Sigma (representation units) of a user at `coverage` after `queries` queries: the
    /// paper's cost, or the larger of it and `relative` (the configured relative cost, if any),
    /// rounded down to a rung of ``noiseLadder``, at most
    /// ``DefenseConfiguration/largestNoiseSigma`` (a steeper curve would overflow Float32
    /// noise, or the transforms' output).
    private func price(coverage: Double, queries: Int, relative: RelativeCoverageCost?) -> Float {
        var sigma = configuration.cost.sigma(coverage: coverage)
        if let relative { sigma = max(sigma, relative.sigma(coverage: coverage, queries: queries)) }
        let rung = noiseLadder.roundedDown(Double(sigma) * Double(unitScale))
        return min(Float(rung), largestNoiseSigma)
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
            pipeline: TransformPipeline(stages: fusingGathers(stages), inputDimension: configuration.dimension),
            noiseSeed: secret.seed(.noiseStream, user: user))
    }

    /// The transform pipeline of `user` (derived or from the cache). Evaluators use it to
    /// undo an account's transform; it is secret in deployment. Any string is derived (the
    /// user id checks of ``protect(_:user:)`` do not apply), and a cold derivation takes time
    /// (up to about a second for the dense affine transform at d = 2048) and a place in the
    /// cache.
    public func transform(for user: String) -> TransformPipeline {
        materials.material(for: user) { deriveMaterial(user) }.pipeline
    }

    // MARK: State

    /// Current coverage of `user` (0 for an unknown user).
    public func coverage(of user: String) -> Double {
        summary(of: user).coverage
    }

    /// Rows `user` has sent (0 for an unknown user).
    public func queryCount(of user: String) -> Int {
        summary(of: user).queryCount
    }

    /// `user`'s coverage and query count (zeros for an unknown user).
    private func summary(of user: String) -> (coverage: Double, queryCount: Int) {
        accounts.withTable(of: user) { $0.summary(of: $1) } ?? (0, 0)
    }

    /// Sigma the next query of `user` would get if it fell in an already occupied bucket
    /// (representation units).
    public func currentSigma(of user: String) -> Float {
        let (coverage, queries) = summary(of: user)
        return price(coverage: coverage, queries: queries + 1, relative: configuration.relativeCost)
    }

    /// Number of accounts with state.
    public var userCount: Int { accounts.count }

    /// Number of users whose derived transforms are currently cached.
    public var cachedTransformCount: Int { materials.count }

    /// Bytes of the cached derived transforms: at most ``DefenseConfiguration/transformCacheBytes``
    /// (unless one user's transforms alone exceed it).
    public var cachedTransformBytes: Int { materials.byteCount }

    /// Every user with state (unordered).
    public var users: [String] { accounts.users }

    /// A copy of `user`'s occupancy for persistence (empty for an unknown user).
    public func exportOccupancy(of user: String) -> OccupancySnapshot {
        let state = accounts.withTable(of: user) { $0.state(of: $1) }
            ?? (occupancy: Occupancy(hashBits: configuration.hashBits, tableCount: configuration.tableCount), queryCount: 0)
        return OccupancySnapshot(hasherFingerprint: hasher.fingerprint, hashBits: state.occupancy.hashBits,
                                 tableCount: state.occupancy.tableCount, words: state.occupancy.rawWords,
                                 queryCount: state.queryCount)
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
        guard user.utf8.count <= Self.maxUserIDBytes else {
            throw OccupancyError(message: "user id is \(user.utf8.count) bytes of UTF-8, the limit is \(Self.maxUserIDBytes)")
        }
        // The fields a snapshot carries are compared first, so that a mismatch is named
        // (hashBits 10 vs 12) rather than reported as a fingerprint alone.
        guard snapshot.hashBits == configuration.hashBits else {
            throw OccupancyError(message: "snapshot has hashBits \(snapshot.hashBits), this configuration has hashBits \(configuration.hashBits)")
        }
        guard snapshot.tableCount == configuration.tableCount else {
            throw OccupancyError(message: "snapshot has tableCount \(snapshot.tableCount), this configuration has tableCount \(configuration.tableCount)")
        }
        guard snapshot.hasherFingerprint == hasher.fingerprint else {
            throw OccupancyError(message: "snapshot was recorded under a different hasher (fingerprint \(snapshot.hasherFingerprint), this defense uses \(hasher.fingerprint)): another dimension, hasher, calibration or secret")
        }
        let loaded = try Occupancy(hashBits: snapshot.hashBits, tableCount: snapshot.tableCount, rawWords: snapshot.words)
        guard (0...OccupancySnapshot.largestQueryCount).contains(snapshot.queryCount) else {
            throw OccupancyError(message: "snapshot has query count \(snapshot.queryCount), outside 0...\(OccupancySnapshot.largestQueryCount) (2^53)")
        }
        accounts.withTable(of: user) { $0.load(loaded, queryCount: snapshot.queryCount, for: $1, merging: mode == .merge) }
    }

    /// Forgets `user`'s state entirely; returns whether there was any. (An operator action:
    /// a forgotten user starts again at zero coverage.)
    @discardableResult
    public func removeUser(_ user: String) -> Bool { accounts.withTable(of: user) { $0.remove($1) } }
}

extension SeedPurpose {
    /// The LSH hyperplanes of a random hasher.
    static let lshHyperplanes = SeedPurpose("lsh/hyperplanes")
    /// The key of the row hash that keys each row's noise stream.
    static let noiseRowHash = SeedPurpose("noise/row-hash")
    /// Each user's noise streams.
    static let noiseStream = SeedPurpose("noise/stream")
}
