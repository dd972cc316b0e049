import NumericKernels

/// Block 1 of B4B: random-projection locality-sensitive hashing of representations
/// into `2^k` buckets per table.
///
/// A representation `x` (1 x d) falls in bucket `Σ_j bit_j << j` of table `t`, where
/// `bit_j = 1` exactly when `x · p_{t,j} > threshold_{t,j}` (hyperplane `j` of table `t`).
/// Hyperplanes through the origin have threshold 0; a centre `c` folds into the
/// threshold `c · p` (so `(x - c) · p > 0` costs no extra pass).
///
/// A batch (`B x d`) is hashed by projecting it onto the `k T` normals (``ProjectionDirections``:
/// a one-pass AVX2 + FMA kernel that also yields each row's norm, or one GEMM `X · P` plus a
/// norm pass where the CPU lacks those extensions), then packing signs.
///
/// Batch invariance: BLAS may sum a dot product in a different order for different
/// batch shapes, and the kernel sums in yet another order, so a projection within rounding
/// error of its threshold could flip with batching or with the path. A projection is
/// therefore trusted only when it is farther from the threshold than a rigorous bound on
/// its rounding error (`γ_{n+2} ‖x‖ ‖p‖`, `n` the path's summation depth: `d` for BLAS,
/// `ceil(d/8) + 3` for the kernel; plus the threshold's rounding); the rare projections
/// inside that band are recomputed in double precision in a fixed summation order. The
/// bucket id is thus a function of the row alone, identical however rows are batched and
/// whichever path projected them.
public struct RandomProjectionLSH: Sendable {
    /// Representation dimension `d`.
    public let dimension: Int
    /// Hyperplanes per table `k`.
    public let hashBits: Int
    /// Number of tables `T`.
    public let tableCount: Int
    /// `d x (k T)` hyperplane normals, row-major.
    public let normals: Matrix
    /// One threshold per hyperplane (representation units).
    public let thresholds: [Float]

    // The normals as directions ((k T) x d), prepared for the projection kernel.
    private let projection: ProjectionDirections
    // Fallback data: normals by column in double (k T x d), exact double thresholds, column norms,
    // and each threshold's share of the decision's tolerance (its rounding plus the smallest
    // normal, so that a projection of 0 against a threshold of 0 is always recomputed).
    private let normalsByColumn: [Double]
    private let thresholdsDouble: [Double]
    private let columnNorms: [Double]
    private let thresholdSlack: [Double]

    /// A hasher over explicit hyperplanes.
    /// - Precondition: `normals` is `d x (hashBits * tableCount)` and `thresholds` has
    ///   `hashBits * tableCount` values; `hashBits` in 1...24.
    public init(normals: Matrix, thresholds: [Float], hashBits: Int, tableCount: Int = 1) {
        precondition((1...24).contains(hashBits), "hashBits must be in 1...24, got \(hashBits)")
        precondition(normals.columns == hashBits * tableCount,
                     "normals have \(normals.columns) columns, expected \(hashBits) x \(tableCount)")
        precondition(thresholds.count == normals.columns,
                     "\(thresholds.count) thresholds for \(normals.columns) hyperplanes")
        self.dimension = normals.rows
        self.hashBits = hashBits
        self.tableCount = tableCount
        self.normals = normals
        self.thresholds = thresholds
        let (d, m) = (normals.rows, normals.columns)
        var byColumn = [Double](repeating: 0, count: m * d)
        var norms = [Double](repeating: 0, count: m)
        for i in 0..<d {
            for j in 0..<m {
                let v = Double(normals[i, j])
                byColumn[j * d + i] = v
                norms[j] += v * v
            }
        }
        self.normalsByColumn = byColumn
        self.projection = ProjectionDirections(normals.transposed())
        self.fingerprint = Self.fingerprint(normals: normals, thresholds: thresholds, hashBits: hashBits, tableCount: tableCount)
        self.columnNorms = norms.map { $0.squareRoot() }
        self.thresholdsDouble = thresholds.map(Double.init)
        self.thresholdSlack = thresholds.map { Double(Float.ulpOfOne) * abs(Double($0)) + Double(Float.leastNormalMagnitude) }
    }

    /// Gaussian hyperplanes (i.i.d. N(0, 1) normals) from `seed`, through `centre` if
    /// given (threshold `centre · p`), else through the origin.
    public init(randomWithDimension d: Int, hashBits: Int, tableCount: Int = 1, seed: RandomSeed, centre: [Float]? = nil) {
        precondition(centre == nil || centre!.count == d, "centre has \(centre!.count) values, expected \(d)")
        var normals = Matrix(rows: d, columns: hashBits * tableCount)
        var generator = RandomGenerator(seed: seed)
        normals.withUnsafeMutableBufferPointer { generator.fillGaussian($0) }
        var thresholds = [Float](repeating: 0, count: hashBits * tableCount)
        if let centre {
            // Thresholds in double: c · p, rounded once.
            for j in 0..<thresholds.count {
                var s = 0.0
                for i in 0..<d { s += Double(centre[i]) * Double(normals[i, j]) }
                thresholds[j] = Float(s)
            }
        }
        self.init(normals: normals, thresholds: thresholds, hashBits: hashBits, tableCount: tableCount)
    }

    /// A hasher over a stored projection.
    public init(_ fitted: FittedProjection) {
        self.init(normals: Matrix(rows: fitted.dimension, columns: fitted.hashBits * fitted.tableCount, elements: fitted.normals),
                  thresholds: fitted.thresholds, hashBits: fitted.hashBits, tableCount: fitted.tableCount)
    }

    /// Buckets per table, `2^k`.
    public var bucketCount: Int { 1 << hashBits }

    /// A 64-bit fingerprint of the hyperplanes and thresholds: occupancy recorded under
    /// one hasher is meaningless under another, so snapshots carry it. Computed once, at
    /// construction (it hashes the whole `d x kT` matrix).
    public let fingerprint: UInt64

    private static func fingerprint(normals: Matrix, thresholds: [Float], hashBits: Int, tableCount: Int) -> UInt64 {
        let key = RowHash(key: RandomSeed(0x6234_6268_6173_6865, 0x7266_696E_6765_7270, 0x0000_0000_0000_0001, UInt64(hashBits) << 8 | UInt64(tableCount)))
        let a = normals.withUnsafeBufferPointer { key.hash($0) }
        let b = thresholds.withUnsafeBufferPointer { key.hash($0) }
        return a ^ (b &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Bucket ids of a batch, each row read once.
    ///
    /// - Parameters:
    ///   - batch: `B x d` representations.
    ///   - ids: output, `B x T` row-major: `ids[i * T + t]` is row `i`'s bucket in table `t`.
    /// - Throws: ``NonFiniteValue`` at the first row holding a NaN or an infinity; `ids` is
    ///   then partly written.
    /// - Complexity: `2 B d k T` flops in the projection, plus O(d) for each projection within
    ///   rounding distance of its threshold (rare).
    public func bucketIDs(_ batch: MatrixView, into ids: UnsafeMutableBufferPointer<UInt32>) throws(NonFiniteValue) {
        try bucketIDs(batch, into: ids, path: nil)
    }

    /// ``bucketIDs(_:into:)`` with the projection computed on `path` (`nil`: the fastest one);
    /// for tests and measurements. Returns `false`, writing nothing, when `path` cannot run here.
    @discardableResult
    package func bucketIDs(_ batch: MatrixView, into ids: UnsafeMutableBufferPointer<UInt32>,
                           path: ProjectionPath?) throws(NonFiniteValue) -> Bool {
        let (b, m) = (batch.rows, hashBits * tableCount)
        precondition(batch.columns == dimension, "batch has \(batch.columns) columns, hasher expects \(dimension)")
        precondition(ids.count == b * tableCount, "ids buffer holds \(ids.count), need \(b * tableCount)")
        guard b > 0 else { return path?.isAvailable ?? true }
        return try withUnsafeTemporaryAllocation(of: Float.self, capacity: b * m + b) { scratch throws(NonFiniteValue) -> Bool in
            let projections = MutableMatrixView(UnsafeMutableBufferPointer(rebasing: scratch[0 ..< b * m]), rows: b, columns: m)
            let squares = UnsafeMutableBufferPointer(rebasing: scratch[b * m ..< b * m + b])
            let terms: Int
            if let path {
                guard let n = projection.project(batch, into: projections, sumsOfSquares: squares, path: path) else { return false }
                terms = n
            } else {
                terms = projection.project(batch, into: projections, sumsOfSquares: squares)
            }
            try decide(batch, projections: projections.readOnly, roundingTerms: terms,
                       sumsOfSquares: UnsafeBufferPointer(squares), into: ids)
            return true
        }
    }

    /// Sign packing with the rounding guard: `projections` (`B x k T`, each within
    /// `γ_roundingTerms Σ|x_k p_k|` of the exact dot product) and the rows' float sums of
    /// squares give the bucket ids; projections too close to their threshold to trust are
    /// recomputed exactly.
    private func decide(_ batch: MatrixView, projections: MatrixView, roundingTerms: Int,
                        sumsOfSquares: UnsafeBufferPointer<Float>, into ids: UnsafeMutableBufferPointer<UInt32>) throws(NonFiniteValue) {
        let (b, d) = (batch.rows, dimension)
        // Rigorous forward-error factor of the projections, γ_n = n u / (1 - n u), with two
        // more roundings of slack (the comparison's subtraction); Σ|x_k p_k| <= ‖x‖ ‖p‖.
        let u = Double(Float.ulpOfOne) / 2
        let nu = Double(roundingTerms + 2) * u
        let gamma = nu / (1 - nu)
        // A float sum of d non-negative terms is within a factor (1 + γ_d) of the exact one
        // (in any order, fused or not); inflating by 2 d u keeps the norm an upper bound.
        let inflation = 1 + 2 * Double(d) * Double(Float.ulpOfOne)
        let (thresholds, norms, slack) = (thresholdsDouble, columnNorms, thresholdSlack)
        try normalsByColumn.withUnsafeBufferPointer { columns throws(NonFiniteValue) in
            for i in 0..<b {
                let row = batch.row(i)
                let s = sumsOfSquares[i]
                let norm: Double
                if s.isFinite {
                    norm = (Double(s) * inflation).squareRoot()
                } else if let j = row.firstIndex(where: { !$0.isFinite }) {
                    throw NonFiniteValue(row: i, column: j, value: row[j])
                } else {
                    // Finite but huge values overflowed the float sum: redo it in double.
                    norm = (row.reduce(0.0) { $0 + Double($1) * Double($1) } * inflation).squareRoot()
                }
                let bound = gamma * norm
                let proj = projections.row(i)
                for t in 0..<tableCount {
                    // Signs first, without branching on them (they are coin flips to a branch
                    // predictor); then the rare bits too close to call, recomputed exactly.
                    var id: UInt32 = 0
                    var uncertain: UInt32 = 0
                    for j in 0..<hashBits {
                        let c = t * hashBits + j
                        let margin = Double(proj[c]) - thresholds[c]
                        id |= UInt32(margin > 0 ? 1 : 0) << UInt32(j)
                        uncertain |= UInt32(abs(margin) > bound * norms[c] + slack[c] ? 0 : 1) << UInt32(j)
                    }
                    while uncertain != 0 {
                        let j = uncertain.trailingZeroBitCount
                        uncertain &= uncertain - 1
                        let c = t * hashBits + j
                        let above = Self.exactDot(row, columns.baseAddress! + c * d, d) > thresholds[c]
                        id = above ? id | 1 << UInt32(j) : id & ~(1 << UInt32(j))
                    }
                    ids[i * tableCount + t] = id
                }
            }
        }
    }

    /// `x · p` in double precision, summed strictly left to right (a fixed order, so the
    /// result depends on the row alone). Products of two binary32 values are exact in binary64.
    @inline(never)
    static func exactDot(_ x: UnsafeBufferPointer<Float>, _ p: UnsafePointer<Double>, _ d: Int) -> Double {
        var s = 0.0
        for i in 0..<d { s += Double(x[i]) * p[i] }
        return s
    }
}

/// A NaN or an infinity in a batch: hashing refuses the batch (no sign is defined).
public struct NonFiniteValue: Error, Sendable, Equatable {
    /// Row of the first offending value, counted from the batch's first row.
    public let row: Int
    /// Its column.
    public let column: Int
    /// The value itself (NaN, +inf or -inf).
    public let value: Float

    /// The offending value `value` at (`row`, `column`).
    public init(row: Int, column: Int, value: Float) {
        self.row = row
        self.column = column
        self.value = value
    }

    /// Equal when position and kind agree (all NaNs are alike).
    public static func == (a: NonFiniteValue, b: NonFiniteValue) -> Bool {
        a.row == b.row && a.column == b.column && (a.value == b.value || (a.value.isNaN && b.value.isNaN))
    }
}
