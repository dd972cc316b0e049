import NumericKernels

/// The result of ``B4BDefense/protect(_:user:)``.
public struct ProtectedBatch: Sendable {
    /// `B x outputDimension` representations to return to the user (noised, then transformed).
    public let representations: Matrix
    /// Row `i`'s coverage, in [0, 1]: the user's fraction of occupied buckets after rows `0...i`.
    public let coverage: [Double]
    /// Row `i`'s noise standard deviation, representation units (before the transform): the
    /// cost's sigma rounded down to a rung of ``B4BDefense/noiseLadder``.
    public let sigma: [Float]

    /// A batch's answers as ``B4BDefense/protect(_:user:)`` returns them (for callers that
    /// assemble one themselves, such as test doubles of the defense).
    public init(representations: Matrix, coverage: [Double], sigma: [Float]) {
        self.representations = representations
        self.coverage = coverage
        self.sigma = sigma
    }
}

/// Why ``B4BDefense/protect(_:user:)`` rejected a batch. The user's state is unchanged.
public struct ProtectError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem (an open set: new codes may be added).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The batch has no rows.
        public static let emptyBatch = Code("emptyBatch")
        /// The batch has more rows than ``DefenseConfiguration/maxBatchRows``.
        public static let batchTooLarge = Code("batchTooLarge")
        /// The rows do not have ``DefenseConfiguration/dimension`` columns.
        public static let wrongDimension = Code("wrongDimension")
        /// A value is NaN or infinite.
        public static let nonFinite = Code("nonFinite")
        /// The user id is not acceptable (empty, or longer than ``B4BDefense/maxUserIDBytes``).
        public static let invalidUser = Code("invalidUser")
        /// Caller-provided output memory does not fit the batch (an output matrix of the wrong
        /// shape, or a coverage or sigma buffer shorter than the batch).
        public static let outputMismatch = Code("outputMismatch")
        public var description: String { name }
    }

    /// The kind of problem.
    public let code: Code
    /// A message naming the problem (safe to return to the client).
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// A user's occupancy as persisted by a serving layer.
public struct OccupancySnapshot: Sendable, Codable, Equatable {
    /// ``RandomProjectionLSH/fingerprint`` of the hasher the buckets were recorded under.
    public let hasherFingerprint: UInt64
    /// Hyperplanes per table.
    public let hashBits: Int
    /// Number of tables.
    public let tableCount: Int
    /// The occupancy bits (see ``Occupancy/rawWords``).
    public let words: [UInt64]
    /// Rows the user has sent (the relative price's query count), in
    /// 0...``largestQueryCount``. Snapshots written before this field existed decode with 0.
    public let queryCount: Int

    /// The largest query count a snapshot may carry: 2^53 (every count up to it is exact in a
    /// double, as JSON readers hold numbers, and later queries cannot overflow the counter).
    public static let largestQueryCount = 1 << 53

    /// A snapshot from its fields (checked when imported, ``B4BDefense/importOccupancy(_:for:mode:)``).
    public init(hasherFingerprint: UInt64, hashBits: Int, tableCount: Int, words: [UInt64], queryCount: Int = 0) {
        self.hasherFingerprint = hasherFingerprint
        self.hashBits = hashBits
        self.tableCount = tableCount
        self.words = words
        self.queryCount = queryCount
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case hasherFingerprint, hashBits, tableCount, words, queryCount }

    /// Reads a snapshot; a key it does not know is refused (a misspelt `queryCount` would
    /// otherwise read as 0 and reset the user's relative price without a word).
    public init(from decoder: any Decoder) throws {
        _ = try ConfigurationJSON.object(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hasherFingerprint = try c.decode(UInt64.self, forKey: .hasherFingerprint)
        hashBits = try c.decode(Int.self, forKey: .hashBits)
        tableCount = try c.decode(Int.self, forKey: .tableCount)
        words = try c.decode([UInt64].self, forKey: .words)
        queryCount = try c.decodeIfPresent(Int.self, forKey: .queryCount) ?? 0
    }
}
