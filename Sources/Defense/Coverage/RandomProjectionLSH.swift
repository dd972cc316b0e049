import NumericKernels

/// Block 1 of B4B: random-projection locality-sensitive hashing of representations
/// into `2^k` buckets per table.
///
/// A representation `x` (1 x d) falls in bucket `Σ_j bit_j << j` of table `t`, where
/// `bit_j = 1` exactly when `x · p_{t,j} > threshold_{t,j}` (hyperplane `j` of table `t`).
/// Hyperplanes through the origin have threshold 0; a centre `c` folds into the
/// threshold `c · p` (so `(x - c) · p > 0` costs no extra pass). The definition's `x · p` is the
/// sum of the exact products in double precision, left to right (``exactDot(_:_:_:)``): every
/// path gives its bits, and it is within `γ_{d-1} Σ|x_k p_k|` (about 2e-13 of it at d = 2048)
/// of the real dot product, not equal to it.
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
///
/// A lone row is screened first where that pays (``loneRowScreening``): on CPUs with AVX-512
/// VNNI its 16-bit integer copy against integer copies of the normals, summed exactly
/// (``ProjectionDirections/screenWithIntegers(_:into:bound:sumOfSquares:)``: half the bytes to
/// stream from cache, twice the products per instruction; a rigorous bound of about
/// `3e-4 ‖x‖ ‖p‖` at d = 2048); with the AVX2 kernel, its projections onto half-precision copies
/// of the normals (``ProjectionDirections/screen(_:into:sumOfSquares:)``, about `2.3e-4 ‖x‖ ‖p‖`).
/// The screened values decide every bit farther from its threshold than their bound; the few
/// closer bits are projected again in single precision, then by the definition's double sum if
/// still too close. The ids are the same, bit for bit.
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
    // ``underflowNorm(dimension:)`` at this dimension, computed once.
    private let underflowNorm: Double

    /// A hasher over explicit hyperplanes.
    /// - Precondition: `normals` is `d x (hashBits * tableCount)` with `d >= 1`, and
    ///   `thresholds` has `hashBits * tableCount` values; `hashBits` in 1...24, `tableCount` in
    ///   1...``Occupancy/largestTableCount``.
    public init(normals: Matrix, thresholds: [Float], hashBits: Int, tableCount: Int = 1) {
        precondition((1...24).contains(hashBits), "hashBits must be in 1...24, got \(hashBits)")
        precondition((1...Occupancy.largestTableCount).contains(tableCount),
                     "tableCount must be in 1...\(Occupancy.largestTableCount), got \(tableCount)")
        precondition(normals.rows >= 1, "the hyperplanes need a dimension of at least 1, got \(normals.rows)")
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
        var largestEntries = [Double](repeating: 0, count: m)
        for i in 0..<d {
            for j in 0..<m {
                let v = Double(normals[i, j])
                byColumn[j * d + i] = v
                norms[j] += v * v
                largestEntries[j] = max(largestEntries[j], abs(v))
            }
        }
        self.normalsByColumn = byColumn
        self.projection = ProjectionDirections(normals.transposed())
        self.fingerprint = Self.fingerprint(normals: normals, thresholds: thresholds, hashBits: hashBits, tableCount: tableCount)
        self.columnNorms = norms.map { $0.squareRoot() }
        self.thresholdsDouble = thresholds.map(Double.init)
        // Each threshold's slack also covers what a row's float sum of squares can lose to
        // underflow (``underflowNorm(dimension:)``) times the hyperplane's norm and a rounding
        // factor above every path's (`γ_{d+8}`): the C decision computes its bound from the
        // float sum alone. Doubled, a margin for the roundings of this term itself. (About
        // 1e-19 at d = 2048, far below a real embedding's projections.)
        // A host that flushes subnormal results (or inputs) to zero (FTZ/DAZ, set by some math
        // libraries for their threads) also loses each product below Float32's normal range,
        // up to 2^-126 times the largest normal entry per term: the last term covers that.
        self.underflowNorm = Self.underflowNorm(dimension: d)
        let underflow = Self.gamma(roundingTerms: d + 8) * underflowNorm
        self.thresholdSlack = (0..<m).map { c in
            Double(Float.ulpOfOne) * abs(Double(thresholds[c])) + Double(Float.leastNormalMagnitude)
                + underflow * norms[c].squareRoot() * 2 + Double(d) * 0x1p-125 * (1 + largestEntries[c])
        }
    }

    /// Random hyperplanes from `seed` (normals with i.i.d. entries drawn as `entries` says:
    /// N(0, 1) by default, or ±1), through `centre` if given (threshold `centre · p`), else
    /// through the origin.
    /// - Precondition: `d >= 1`, `hashBits` in 1...24, `tableCount` in
    ///   1...``Occupancy/largestTableCount``, `d * hashBits * tableCount` values fit in memory,
    ///   and `centre` (if given) has `d` values.
    public init(randomWithDimension d: Int, hashBits: Int, tableCount: Int = 1, seed: RandomSeed, centre: [Float]? = nil,
                entries: NormalEntries = .gaussian) {
        precondition(d >= 1, "the hyperplanes need a dimension of at least 1, got \(d)")
        precondition((1...24).contains(hashBits) && (1...Occupancy.largestTableCount).contains(tableCount),
                     "hashBits must be in 1...24 and tableCount in 1...\(Occupancy.largestTableCount), got \(hashBits) and \(tableCount)")
        precondition(centre == nil || centre!.count == d, "centre has \(centre!.count) values, expected \(d)")
        var normals = Matrix(rows: d, columns: hashBits * tableCount)
        var generator = RandomGenerator(seed: seed)
        normals.withUnsafeMutableBufferPointer { values in
            switch entries {
            case .gaussian:
                generator.fillGaussian(values)
            case .signs:
                // One bit of the generator per entry, 64 entries per draw.
                var bits: UInt64 = 0
                for k in values.indices {
                    if k % 64 == 0 { bits = generator.next() }
                    values[k] = bits & 1 == 1 ? 1 : -1
                    bits >>= 1
                }
            }
        }
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
    /// - Precondition: `batch` has ``dimension`` columns and `ids` holds exactly `B x T` values.
    /// - Throws: ``NonFiniteValue`` at the first row holding a NaN or an infinity; `ids` is
    ///   then partly written.
    /// - Complexity: `2 B d k T` flops in the projection, plus O(d) for each projection within
    ///   rounding distance of its threshold (rare).
    public func bucketIDs(_ batch: MatrixView, into ids: UnsafeMutableBufferPointer<UInt32>) throws(NonFiniteValue) {
        try bucketIDs(batch, into: ids, path: nil)
    }

    /// ``bucketIDs(_:into:)`` with the projection computed on `path` (`nil`: the fastest one);
    /// for tests and measurements. `screening` chooses a screening pass, row by row: `nil` picks
    /// one for a lone row when `path` is `nil` (``loneRowScreening``), ``Screening/none`` never
    /// screens, the others screen every row. Returns `false`, writing nothing, when the chosen
    /// path or screening cannot run here.
    @discardableResult
    package func bucketIDs(_ batch: MatrixView, into ids: UnsafeMutableBufferPointer<UInt32>,
                           path: ProjectionPath?, screening: Screening? = nil) throws(NonFiniteValue) -> Bool {
        let (b, m) = (batch.rows, hashBits * tableCount)
        precondition(batch.columns == dimension, "batch has \(batch.columns) columns, hasher expects \(dimension)")
        precondition(ids.count == b * tableCount, "ids buffer holds \(ids.count), need \(b * tableCount)")
        switch screening ?? (path == nil && b == 1 ? loneRowScreening : .none) {
        case .none:
            break
        case .halfPrecision:
            guard projection.canScreen else { return false }
            try decideScreened(batch, into: ids)
            return true
        case .integers:
            guard projection.canScreenWithIntegers else { return false }
            // A row whose squares overflow (or hold a NaN) is left to the projection below.
            if try decideScreenedWithIntegers(batch, into: ids) { return true }
        }
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

    /// Which screening pass a lone row takes first on this machine: the integer one where it
    /// runs and pays (``ProjectionDirections/screensWithIntegersFaster``: AVX-512 VNNI and normals
    /// over 48 KiB as floats; 506–631 ns against 749–852 ns for the float kernel's alternating
    /// walks at d = 2048, 12 hyperplanes, rows in L2, alternated runs on a 2-core Intel Xeon),
    /// except for sign hyperplanes, whose lone rows the sign kernel projects from bits; else the
    /// half-precision one where it pays (``ProjectionDirections/screensLoneRowsFaster``: the AVX2
    /// kernel); else none.
    package var loneRowScreening: Screening {
        if projection.screensWithIntegersFaster && !projection.hasSignKernel { return .integers }
        return projection.screensLoneRowsFaster ? .halfPrecision : .none
    }

    /// `γ_{n+2} = (n + 2) u / (1 - (n + 2) u)`, `u = 2^-24`: the rigorous forward-error factor of a
    /// single-precision sum of depth `n`, with two more roundings of slack (the comparison's
    /// subtraction); `Σ|x_k p_k| <= ‖x‖ ‖p‖` turns it into a bound in the row's norm.
    private static func gamma(roundingTerms n: Int) -> Double {
        let nu = Double(n + 2) * Double(Float.ulpOfOne) / 2
        return nu / (1 - nu)
    }

    /// An upper bound on the norm of `row` (row `index` of its batch) from its single-precision
    /// sum of squares `s`.
    /// - Throws: ``NonFiniteValue`` when the row holds a NaN or an infinity.
    @inline(__always)
    private func norm(of row: UnsafeBufferPointer<Float>, sumOfSquares s: Float, index: Int) throws(NonFiniteValue) -> Double {
        if s.isFinite { return norm(ofFiniteSumOfSquares: s) }
        if let j = row.firstIndex(where: { !$0.isFinite }) { throw NonFiniteValue(row: index, column: j, value: row[j]) }
        // Finite but huge values overflowed the float sum: redo it in double.
        return (row.reduce(0.0) { $0 + Double($1) * Double($1) } * normInflation).squareRoot()
    }

    /// The norm bound of a row whose single-precision sum of squares `s` is finite: the value
    /// `b4b_threshold_bits_rows` computes for its bound before the factor `gamma`, plus
    /// ``underflowNorm(dimension:)`` (which the thresholds' slack covers for that C path).
    @inline(__always)
    private func norm(ofFiniteSumOfSquares s: Float) -> Double {
        (Double(s) * normInflation).squareRoot() + underflowNorm
    }

    /// What a float sum of squares of `d` values can lose to underflow, as a norm: each square
    /// and each sum below Float32's normal range is rounded by at most half of `2^-149`, or,
    /// on a host that flushes subnormals to zero (FTZ/DAZ), lost whole, less than `2^-126`
    /// each; so the exact sum is at most the float one (inflated) plus `d 2^-125`, and
    /// `sqrt(a + b) <= sqrt(a) + sqrt(b)`. Without it a row of values below about 1e-19,
    /// whose squares all round to 0, would get a rounding band of nothing and projections
    /// trusted on the wrong side.
    static func underflowNorm(dimension d: Int) -> Double { (Double(d) * 0x1p-125).squareRoot() }

    /// The factor that turns a single-precision sum of squares into an upper bound on the exact
    /// one: a float sum of d non-negative terms is within a factor (1 + γ_d) of the exact sum (in
    /// any order, fused or not), and inflating by 2 d u keeps it above.
    private var normInflation: Double { 1 + 2 * Double(dimension) * Double(Float.ulpOfOne) }

    /// Writes row `index`'s bucket id in every table. Hyperplane `c`'s bit is the sign of
    /// `margin(c)` (projection minus threshold) when that is farther from 0 than `tolerance(c)`
    /// (and finite); the rare bits too close to call come from `resolve(c)`.
    @inline(__always)
    private func writeIDs(row index: Int, into ids: UnsafeMutableBufferPointer<UInt32>, margin: (Int) -> Double,
                          tolerance: (Int) -> Double, resolve: (Int) -> Bool) {
        for t in 0..<tableCount {
            // Signs first, without branching on them (they are coin flips to a branch
            // predictor); then the rare bits too close to call.
            var (id, uncertain): (UInt32, UInt32) = (0, 0)
            for j in 0..<hashBits {
                let c = t * hashBits + j
                let distance = margin(c)
                let magnitude = abs(distance)
                // hashBits <= 24: the shifts need no overflow check.
                id |= UInt32(distance > 0 ? 1 : 0) &<< UInt32(truncatingIfNeeded: j)
                uncertain |= UInt32(magnitude > tolerance(c) && magnitude < .infinity ? 0 : 1) &<< UInt32(truncatingIfNeeded: j)
            }
            ids[index * tableCount + t] = Self.settle(id, doubtful: uncertain) { resolve(t * hashBits + $0) }
        }
    }

    /// Sign packing with the rounding guard: `projections` (`B x k T`, each within
    /// `γ_roundingTerms Σ|x_k p_k|` of the exact dot product) and the rows' float sums of
    /// squares give the bucket ids; projections too close to their threshold to trust are
    /// recomputed exactly.
    private func decide(_ batch: MatrixView, projections: MatrixView, roundingTerms: Int,
                        sumsOfSquares: UnsafeBufferPointer<Float>, into ids: UnsafeMutableBufferPointer<UInt32>) throws(NonFiniteValue) {
        let gamma = Self.gamma(roundingTerms: roundingTerms)
        let (b, m) = (batch.rows, hashBits * tableCount)
        let words = (m + 63) / 64
        guard b > 0 else { return }
        try withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * b * words) { bits throws(NonFiniteValue) in
            let (signs, uncertain) = (bits.baseAddress!, bits.baseAddress! + b * words)
            try withDecisionData { columns, thresholds, norms, slack throws(NonFiniteValue) in
                var i = 0
                while i < b {
                    // Every hyperplane's sign and doubt, for the rows up to the next one whose sum of
                    // squares is not finite, in one call (eight per instruction with AVX-512); their
                    // bounds are `gamma * norm(of:)`, computed the same way in C.
                    let decided = thresholdBits(rows: b - i, projections: projections.row(i).baseAddress!,
                                                stride: projections.rowStride, sumsOfSquares: sumsOfSquares.baseAddress! + i,
                                                gamma: gamma, inflation: normInflation, thresholds: thresholds, scales: norms,
                                                slack: slack, count: m, signs: signs + i * words, uncertain: uncertain + i * words)
                    for r in i ..< i + decided {
                        writeIDs(row: r, signs: signs + r * words, uncertain: uncertain + r * words, into: ids) { c in
                            let rowNorm = norm(ofFiniteSumOfSquares: sumsOfSquares[r])
                            return Self.exactSide(batch.row(r), columns + c * dimension, dimension, threshold: thresholds[c],
                                                  scale: rowNorm * norms[c])
                        }
                    }
                    i += decided
                    guard i < b else { break }
                    // A NaN or an infinity (thrown), or finite values whose squares overflowed.
                    let row = batch.row(i)
                    let rowNorm = try norm(of: row, sumOfSquares: sumsOfSquares[i], index: i)
                    thresholdBits(projections.row(i).baseAddress!, thresholds: thresholds, scales: norms, slack: slack,
                                  bound: gamma * rowNorm, count: m, signs: signs + i * words, uncertain: uncertain + i * words)
                    writeIDs(row: i, signs: signs + i * words, uncertain: uncertain + i * words, into: ids) { c in
                        Self.exactSide(row, columns + c * dimension, dimension, threshold: thresholds[c], scale: rowNorm * norms[c])
                    }
                    i += 1
                }
            }
        }
    }

    /// Sign packing for screened rows: each row's projections come from the half-precision
    /// screening pass (within `‖x‖ screeningErrors[c]`); the few too close to their threshold
    /// are projected again in single precision (within `γ_n Σ|x_k p_k|`), and those still too
    /// close recomputed exactly. The ids are the same as ``decide``'s.
    private func decideScreened(_ batch: MatrixView, into ids: UnsafeMutableBufferPointer<UInt32>) throws(NonFiniteValue) {
        let m = hashBits * tableCount
        let gamma = Self.gamma(roundingTerms: projection.singleDirectionTerms)
        let errors = projection.screeningErrors
        try withUnsafeTemporaryAllocation(of: Double.self, capacity: m) { screened throws(NonFiniteValue) in
            try withDecisionData { columns, thresholds, norms, slack throws(NonFiniteValue) in
                for i in 0..<batch.rows {
                    let row = batch.row(i)
                    var squares: Float = 0
                    let done = projection.screen(row, into: screened, sumOfSquares: &squares)
                    precondition(done, "screening was available when the hasher was built")
                    let norm = try norm(of: row, sumOfSquares: squares, index: i)
                    writeIDs(row: i, into: ids,
                             margin: { screened[$0] - thresholds[$0] },
                             tolerance: { norm * errors[$0] + slack[$0] },
                             resolve: { c in
                                 resolveScreened(row, hyperplane: c, norm: norm, gamma: gamma, columns: columns,
                                                 thresholds: thresholds, norms: norms, slack: slack)
                             })
                }
            }
        }
    }

    /// The side of hyperplane `c` for a screened `row` (of norm at most `norm`) whose screening
    /// left it in doubt: from the single-precision projection when that is farther from the
    /// threshold than its rounding bound (`gamma ‖x‖ ‖p‖`), else from the exact one.
    @inline(__always)
    private func resolveScreened(_ row: UnsafeBufferPointer<Float>, hyperplane c: Int, norm: Double, gamma: Double,
                                 columns: UnsafePointer<Double>, thresholds: UnsafePointer<Double>,
                                 norms: UnsafePointer<Double>, slack: UnsafePointer<Double>) -> Bool {
        let single = Double(projection.project(row, onto: c)) - thresholds[c]
        if abs(single) > gamma * norm * norms[c] + slack[c] && abs(single) < .infinity { return single > 0 }
        return Self.exactSide(row, columns + c * dimension, dimension, threshold: thresholds[c], scale: norm * norms[c])
    }

    /// Sign packing for rows screened with integers
    /// (``ProjectionDirections/screenWithIntegers(_:into:bound:sumOfSquares:)``, within
    /// `β integerScreeningScales[c]` of the exact projections): every hyperplane's sign and doubt
    /// at once, then the few in doubt settled as in ``decideScreened`` (single precision, then
    /// exactly). The ids are the same as ``decide``'s. Returns false, with `ids` partly written,
    /// at the first row whose sum of squares is not finite (the caller then takes the projection
    /// path, which reports a NaN or infinity and handles finite rows whose squares overflow).
    private func decideScreenedWithIntegers(_ batch: MatrixView, into ids: UnsafeMutableBufferPointer<UInt32>) throws(NonFiniteValue) -> Bool {
        let m = hashBits * tableCount
        let words = (m + 63) / 64
        let gamma = Self.gamma(roundingTerms: projection.singleDirectionTerms)
        return try withUnsafeTemporaryAllocation(of: Double.self, capacity: m) { screened throws(NonFiniteValue) -> Bool in
            try withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * words) { bits throws(NonFiniteValue) -> Bool in
                let (signs, uncertain) = (bits.baseAddress!, bits.baseAddress! + words)
                return try projection.integerScreeningScales.withUnsafeBufferPointer { scales throws(NonFiniteValue) -> Bool in
                    try withDecisionData { columns, thresholds, norms, slack throws(NonFiniteValue) -> Bool in
                        for i in 0..<batch.rows {
                            let row = batch.row(i)
                            var (squares, bound): (Float, Double) = (0, 0)
                            let done = projection.screenWithIntegers(row, into: screened, bound: &bound, sumOfSquares: &squares)
                            precondition(done, "integer screening was available when the hasher was built")
                            guard squares.isFinite else { return false }
                            thresholdBits(UnsafePointer(screened.baseAddress!), thresholds: thresholds, scales: scales.baseAddress!,
                                          slack: slack, bound: bound, count: m, signs: signs, uncertain: uncertain)
                            // The row's norm only when a bit is in doubt (a square root).
                            var anyDoubt: UInt64 = 0
                            for w in 0..<words { anyDoubt |= uncertain[w] }
                            let norm = anyDoubt == 0 ? 0 : try norm(of: row, sumOfSquares: squares, index: i)
                            writeIDs(row: i, signs: signs, uncertain: uncertain, into: ids) { c in
                                resolveScreened(row, hyperplane: c, norm: norm, gamma: gamma, columns: columns,
                                                thresholds: thresholds, norms: norms, slack: slack)
                            }
                        }
                        return true
                    }
                }
            }
        }
    }

    /// Writes row `index`'s bucket id in every table from the bit strings of its hyperplanes'
    /// signs and doubts (``thresholdBits(_:thresholds:scales:slack:bound:count:signs:uncertain:)``):
    /// each bit in doubt comes from `resolve(c)` (`c` the hyperplane, counted over all tables).
    @inline(__always)
    private func writeIDs(row index: Int, signs: UnsafePointer<UInt64>, uncertain: UnsafePointer<UInt64>,
                          into ids: UnsafeMutableBufferPointer<UInt32>, resolve: (Int) -> Bool) {
        let k = hashBits
        for t in 0..<tableCount {
            ids[index * tableCount + t] = Self.settle(Self.bitField(signs, from: t * k, width: k),
                                                      doubtful: Self.bitField(uncertain, from: t * k, width: k)) { resolve(t * k + $0) }
        }
    }

    /// `id` with each bit `j` set in `doubtful` (bits too close to their threshold to trust)
    /// replaced by `resolve(j)`, the exact decision.
    @inline(__always)
    private static func settle(_ id: UInt32, doubtful: UInt32, resolve: (Int) -> Bool) -> UInt32 {
        var (id, doubtful) = (id, doubtful)
        while doubtful != 0 {
            let j = doubtful.trailingZeroBitCount
            doubtful &= doubtful - 1
            let bit = UInt32(1) &<< UInt32(truncatingIfNeeded: j)
            id = resolve(j) ? id | bit : id & ~bit
        }
        return id
    }

    /// Bits `from ..< from + width` (`width <= 24`) of the bit string in `words` (bit `b` is bit
    /// `b % 64` of word `b / 64`), as the low bits of the result.
    @inline(__always)
    private static func bitField(_ words: UnsafePointer<UInt64>, from: Int, width: Int) -> UInt32 {
        let (word, shift) = (from >> 6, from & 63)
        var value = words[word] &>> UInt64(shift)
        if shift + width > 64 { value |= words[word + 1] &<< UInt64(64 - shift) }
        return UInt32(truncatingIfNeeded: value & ((1 &<< UInt64(width)) - 1))
    }

    /// Runs `body` with the decision's per-hyperplane data as pointers (no bounds checks in the
    /// per-bit loop): the normals by column in double, the thresholds, the normals' norms and
    /// the thresholds' slack (``decide``).
    @inline(__always)
    private func withDecisionData<R>(_ body: (UnsafePointer<Double>, UnsafePointer<Double>, UnsafePointer<Double>,
                                              UnsafePointer<Double>) throws(NonFiniteValue) -> R) throws(NonFiniteValue) -> R {
        try normalsByColumn.withUnsafeBufferPointer { columns throws(NonFiniteValue) in
            try thresholdsDouble.withUnsafeBufferPointer { thresholds throws(NonFiniteValue) in
                try columnNorms.withUnsafeBufferPointer { norms throws(NonFiniteValue) in
                    try thresholdSlack.withUnsafeBufferPointer { slack throws(NonFiniteValue) in
                        try body(columns.baseAddress!, thresholds.baseAddress!, norms.baseAddress!, slack.baseAddress!)
                    }
                }
            }
        }
    }

    /// `x · p` in double precision, summed strictly left to right (a fixed order, so the
    /// result depends on the row alone). Products of two binary32 values are exact in binary64.
    @inline(never)
    package static func exactDot(_ x: UnsafeBufferPointer<Float>, _ p: UnsafePointer<Double>, _ d: Int) -> Double {
        var s = 0.0
        for i in 0..<d { s += Double(x[i]) * p[i] }
        return s
    }

    /// `exactDot(x, p, d) > threshold`, the definition of a bit too close to call in single
    /// precision, without its chain of `d` dependent additions where possible: the products are
    /// first summed in eight independent lanes. Both sums add the same exact products (`p`
    /// holds binary32 values), each in an order of at most `d - 1` roundings, so each is within
    /// `γ_{d-1} Σ|x_k p_k|` of the exact dot product and the two are within twice that of each
    /// other. `scale` is `‖x‖ ‖p‖` as the callers have it: an upper bound on `‖x‖` times `‖p‖`
    /// computed in double, so at least `Σ|x_k p_k| / (1 + 2 d u)`; the two sums are then within
    /// `3 γ_{d-1} scale`. When the lanes' sum is farther from the threshold than that (with the
    /// subtraction's rounding), it is on the same side as the left-to-right sum; otherwise
    /// (within about 1e-12 of `scale` at d = 2048) the left-to-right sum decides.
    @inline(never)
    package static func exactSide(_ x: UnsafeBufferPointer<Float>, _ p: UnsafePointer<Double>, _ d: Int,
                                  threshold: Double, scale: Double) -> Bool {
        var (even, odd) = (SIMD8<Double>(), SIMD8<Double>())
        var i = 0
        if let start = x.baseAddress {
            let (xs, ps) = (UnsafeRawPointer(start), UnsafeRawPointer(p))
            while i + 16 <= d {
                even += SIMD8<Double>(xs.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
                    * ps.loadUnaligned(fromByteOffset: i * 8, as: SIMD8<Double>.self)
                odd += SIMD8<Double>(xs.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self))
                    * ps.loadUnaligned(fromByteOffset: i * 8 + 64, as: SIMD8<Double>.self)
                i += 16
            }
        }
        var tail = 0.0
        while i < d {
            tail += Double(x[i]) * p[i]
            i += 1
        }
        let u = Double.ulpOfOne / 2
        let n = Double(max(d - 1, 1))
        let gamma = n * u / (1 - n * u)
        let margin = ((even + odd).sum() + tail) - threshold
        // |margin| is within u of the difference it rounds, relatively.
        if scale.isFinite && margin.isFinite && abs(margin) > 3 * gamma * scale * (1 + 4 * u) / (1 - u) { return margin > 0 }
        return exactDot(x, p, d) > threshold
    }
}

/// A screening pass that decides most of a row's bits from cheap approximate projections with a
/// rigorous error bound, before the few in doubt are projected again (for tests and measurements;
/// ``RandomProjectionLSH`` picks one for lone rows by itself).
package enum Screening: Sendable, CaseIterable {
    /// No screening: the rows' projections in single precision decide.
    case none
    /// Half-precision copies of the normals (``ProjectionDirections/screen(_:into:sumOfSquares:)``).
    case halfPrecision
    /// 16-bit integer copies of the row and of the normals, summed exactly
    /// (``ProjectionDirections/screenWithIntegers(_:into:bound:sumOfSquares:)``).
    case integers
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
