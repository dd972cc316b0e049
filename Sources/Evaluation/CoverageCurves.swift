import Defense
import NumericKernels

// Coverage curves: the paper's Figures 3 and 10. The fraction of occupied LSH buckets as a
// function of the number of queries, for one dataset, averaged over independent random
// projections and independent random query orders.

// MARK: - Hasher choice

/// Which hyperplanes a ``CoverageExperiment`` hashes with (the engine's three hashers, see
/// ``HasherConfiguration``).
public enum CoverageHasher: Sendable, Equatable {
    /// Gaussian hyperplanes through the origin (the paper's construction). A fresh projection
    /// for every repetition.
    case throughOrigin
    /// Gaussian hyperplanes through `centre` (`d` values, representation units; normally the
    /// mean of a calibration sample, e.g. ``Calibration/centre``). A fresh projection for
    /// every repetition, always through the same centre.
    case centred(centre: [Float])
    /// Sign hyperplanes (normals with i.i.d. ±1 entries, ``NormalEntries/signs``) through the
    /// origin. A fresh projection for every repetition.
    case signsThroughOrigin
    /// Sign hyperplanes through `centre` (as ``centred(centre:)``).
    case signsCentred(centre: [Float])
    /// Hyperplanes along the top principal directions of `sample` (`n x d`, `n >= 2`), thresholds
    /// at the sample's medians (``FittedProjection/principal(sample:hashBits:tableCount:seed:)``).
    /// Fitted once per curve: table 0 is deterministic given the sample, so repetitions differ
    /// only in their query order (and, with several tables, share the same rotations).
    case principal(sample: Matrix)
    /// A stored projection used as is for every repetition, e.g. one
    /// ``FittedProjection/principal(sample:hashBits:tableCount:seed:)`` fitted once and reused
    /// for several datasets (``principal(sample:)`` refits on every curve). Its dimension,
    /// `hashBits` and `tableCount` must match the data and the experiment.
    case fitted(FittedProjection)

    /// The kind, without its data.
    public var kind: CoverageHasherKind {
        switch self {
        case .throughOrigin: .throughOrigin
        case .centred: .centred
        case .signsThroughOrigin: .signsThroughOrigin
        case .signsCentred: .signsCentred
        case .principal: .principal
        case .fitted: .fitted
        }
    }

    /// For the random hashers: the centre their hyperplanes pass through (nil: the origin) and
    /// how their normals' entries are drawn; nil for the principal and stored ones.
    var randomNormals: (centre: [Float]?, entries: NormalEntries)? {
        switch self {
        case .throughOrigin: (nil, .gaussian)
        case .centred(let centre): (centre, .gaussian)
        case .signsThroughOrigin: (nil, .signs)
        case .signsCentred(let centre): (centre, .signs)
        case .principal, .fitted: nil
        }
    }
}

/// The kind of a ``CoverageHasher``, as recorded in a ``CoverageCurve``.
public enum CoverageHasherKind: String, Sendable, Codable, CaseIterable {
    /// Random hyperplanes through the origin.
    case throughOrigin = "origin"
    /// Random hyperplanes through a given centre.
    case centred
    /// Sign hyperplanes through the origin.
    case signsThroughOrigin = "signs-origin"
    /// Sign hyperplanes through a given centre.
    case signsCentred = "signs-centred"
    /// Fitted principal directions with median thresholds.
    case principal
    /// A stored projection.
    case fitted
}

// MARK: - Result

/// Coverage (fraction of occupied buckets, in [0, 1]) against number of queries for one dataset.
///
/// Coverage after `q` queries is the number of occupied buckets divided by `2^k` (averaged
/// over tables when there are several), as ``Occupancy/coverage``; it can never exceed
/// `min(q, 2^k) / 2^k`.
public struct CoverageCurve: Sendable, Equatable, Codable {
    /// The dataset's name, for reports.
    public var name: String
    /// Hyperplanes per table `k`; each table has `2^k` buckets.
    public var hashBits: Int
    /// Hash tables `T` (coverage is averaged over them).
    public var tableCount: Int
    /// The hasher used.
    public var hasher: CoverageHasherKind
    /// Rows in the dataset (the largest possible number of distinct queries).
    public var rowCount: Int
    /// Numbers of queries (strictly increasing, each in `1...rowCount`).
    public var queryCounts: [Int]
    /// Mean coverage over repetitions, one per query count (fraction in [0, 1]).
    public var mean: [Double]
    /// Sample standard deviation over repetitions (denominator `R - 1`; 0 when `R = 1`),
    /// one per query count (fraction).
    public var standardDeviation: [Double]
    /// Raw values: `perRepetition[r][i]` is repetition `r`'s coverage after `queryCounts[i]` queries.
    public var perRepetition: [[Double]]

    /// Creates a curve from measurements; `mean` and `standardDeviation` are computed from
    /// `perRepetition`.
    /// - Precondition: at least one repetition, each with one value per query count.
    public init(name: String, hashBits: Int, tableCount: Int, hasher: CoverageHasherKind, rowCount: Int,
                queryCounts: [Int], perRepetition: [[Double]]) {
        precondition(!perRepetition.isEmpty, "CoverageCurve needs at least one repetition")
        precondition(perRepetition.allSatisfy { $0.count == queryCounts.count },
                     "CoverageCurve: every repetition needs \(queryCounts.count) values")
        self.name = name
        self.hashBits = hashBits
        self.tableCount = tableCount
        self.hasher = hasher
        self.rowCount = rowCount
        self.queryCounts = queryCounts
        self.perRepetition = perRepetition
        let r = Double(perRepetition.count)
        var mean = [Double](repeating: 0, count: queryCounts.count)
        var deviation = [Double](repeating: 0, count: queryCounts.count)
        for i in queryCounts.indices {
            let m = perRepetition.reduce(0) { $0 + $1[i] } / r
            mean[i] = m
            if perRepetition.count > 1 {
                let squares = perRepetition.reduce(0) { $0 + ($1[i] - m) * ($1[i] - m) }
                deviation[i] = (squares / (r - 1)).squareRoot()
            }
        }
        self.mean = mean
        self.standardDeviation = deviation
    }

    /// Buckets per table, `2^k`.
    public var bucketCount: Int { 1 << hashBits }

    /// Number of repetitions `R`.
    public var repetitions: Int { perRepetition.count }

    /// Mean coverage (fraction) after `queries` queries, interpolated linearly between the
    /// measured counts, with coverage 0 at 0 queries; nil beyond the last measured count
    /// (no extrapolation) or for negative `queries`.
    ///
    /// Coverage is concave in the number of queries, so the chord slightly underestimates it
    /// between measured counts; measure at the counts you need to avoid that.
    /// - Complexity: O(log m) for m query counts.
    public func meanCoverage(atQueries queries: Double) -> Double? {
        guard queries.isFinite, queries >= 0, let last = queryCounts.last, queries <= Double(last) else { return nil }
        // First measured count >= queries.
        var (lo, hi) = (0, queryCounts.count - 1)
        while lo < hi {
            let mid = (lo + hi) / 2
            if Double(queryCounts[mid]) >= queries { hi = mid } else { lo = mid + 1 }
        }
        let (q1, c1) = (Double(queryCounts[lo]), mean[lo])
        if q1 == queries { return c1 }
        let (q0, c0) = lo == 0 ? (0.0, 0.0) : (Double(queryCounts[lo - 1]), mean[lo - 1])
        return c0 + (c1 - c0) * (queries - q0) / (q1 - q0)
    }

    /// A standard list of query counts for a dataset of `rowCount` rows: 100, 250, 500, 1000,
    /// 2500, 5000, 10000, ... (1-2.5-5 steps) below `rowCount`, then `rowCount` itself.
    public static func standardQueryCounts(upTo rowCount: Int) -> [Int] {
        guard rowCount > 0 else { return [] }
        var counts: [Int] = []
        var decade = 100
        outer: while true {
            for step in [decade, decade * 5 / 2, decade * 5] {
                if step >= rowCount { break outer }
                counts.append(step)
            }
            decade *= 10
        }
        counts.append(rowCount)
        return counts
    }
}

// MARK: - Errors

/// An input a ``CoverageExperiment`` refuses, with a message naming the problem.
public struct CoverageCurveError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public enum Kind: Sendable, Equatable {
        /// The data matrix has no rows or no columns.
        case emptyData(rows: Int, columns: Int)
        /// Data row `row`, column `column` is NaN or infinite.
        case nonFiniteData(row: Int, column: Int)
        /// No query counts were given.
        case noQueryCounts
        /// A query count is zero or negative.
        case nonPositiveQueryCount(Int)
        /// Query counts are not strictly increasing (`previous` then `next`).
        case queryCountsNotIncreasing(previous: Int, next: Int)
        /// `hashBits` outside the engine's 1...24.
        case hashBitsOutOfRange(Int)
        /// Fewer than one table.
        case invalidTableCount(Int)
        /// Fewer than one repetition.
        case invalidRepetitions(Int)
        /// The centre has `actual` values, the data `expected` columns.
        case centreDimension(expected: Int, actual: Int)
        /// The centre contains NaN or infinity.
        case nonFiniteCentre
        /// The principal sample has `actual` columns, the data `expected`.
        case sampleDimension(expected: Int, actual: Int)
        /// Fitting the principal hasher failed (the engine's message).
        case principalFit(String)
        /// A stored projection does not fit the data or the experiment (the problem named).
        case projectionMismatch(String)
    }

    /// What is wrong.
    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    public var description: String {
        let what: String
        switch kind {
        case .emptyData(let r, let c): what = "the data is empty (\(r) x \(c)); need at least one row and one column"
        case .nonFiniteData(let r, let c): what = "data row \(r), column \(c) is NaN or infinite"
        case .noQueryCounts: what = "no query counts given"
        case .nonPositiveQueryCount(let q): what = "query counts must be positive, got \(q)"
        case .queryCountsNotIncreasing(let a, let b): what = "query counts must be strictly increasing, got \(a) then \(b)"
        case .hashBitsOutOfRange(let k): what = "hashBits must be in 1...24 (2 to 16777216 buckets), got \(k)"
        case .invalidTableCount(let t): what = "tableCount must be in 1...\(Occupancy.largestTableCount), got \(t)"
        case .invalidRepetitions(let r): what = "repetitions must be at least 1, got \(r)"
        case .centreDimension(let e, let a): what = "the centre has \(a) values but the data has dimension \(e)"
        case .nonFiniteCentre: what = "the centre contains NaN or infinity"
        case .sampleDimension(let e, let a): what = "the principal sample has dimension \(a) but the data has dimension \(e)"
        case .principalFit(let message): what = "fitting the principal hasher failed: \(message)"
        case .projectionMismatch(let message): what = "the stored projection \(message)"
        }
        return "coverage curve: \(what)"
    }
}

// MARK: - Experiment

/// A coverage-curve measurement: how to hash (bits, tables, hasher), how many independent
/// repetitions, and the seed that makes it reproducible.
///
/// Repetition `r` (0-based) uses its own random projection and its own random query order:
/// - projection: ``RandomProjectionLSH/init(randomWithDimension:hashBits:tableCount:seed:centre:)``
///   with seed ``projectionSeed(repetition:)`` (principal hasher: one fit for all repetitions,
///   rotation seed ``principalSeed``; a stored projection: itself for all repetitions);
/// - queries: the first `q` entries of ``queryOrder(repetition:rowCount:count:)``, a uniformly
///   random sample of rows without replacement in random order.
///
/// Seeds depend only on the base seed and `r`, not on the data or on `hashBits`, so curves
/// measured with the same experiment share random numbers: datasets of equal dimension are
/// hashed with the same hyperplanes, and a bucket-count ablation uses the same query orders
/// for every `k`. Use one seed for curves you compare.
///
/// Pure computation: no I/O.
public struct CoverageExperiment: Sendable {
    /// Hyperplanes per table `k` (`2^k` buckets), in 1...24. Default 12 (the paper's 4096 buckets).
    public var hashBits: Int
    /// Hash tables `T`, in 1...``Occupancy/largestTableCount``. Default 1 (the paper's setting).
    public var tableCount: Int
    /// Independent repetitions `R`, at least 1. Default 5.
    public var repetitions: Int
    /// The hasher. Default ``CoverageHasher/throughOrigin``.
    public var hasher: CoverageHasher
    /// Base seed of every random choice.
    public var seed: RandomSeed

    public init(hashBits: Int = 12, tableCount: Int = 1, repetitions: Int = 5,
                hasher: CoverageHasher = .throughOrigin, seed: RandomSeed) {
        self.hashBits = hashBits
        self.tableCount = tableCount
        self.repetitions = repetitions
        self.hasher = hasher
        self.seed = seed
    }

    // Purpose tags mixed into the base seed ("proj", "order", "principal" in ASCII).
    private static let projectionTag: UInt64 = 0x7072_6F6A
    private static let orderTag: UInt64 = 0x6F72_6465_72
    private static let principalTag: UInt64 = 0x7072_696E_6369_7061

    /// Seed of repetition `r`'s random projection.
    public func projectionSeed(repetition r: Int) -> RandomSeed {
        seed.mixed(with: Self.projectionTag).mixed(with: UInt64(r))
    }

    /// Seed of repetition `r`'s query order.
    public func orderSeed(repetition r: Int) -> RandomSeed {
        seed.mixed(with: Self.orderTag).mixed(with: UInt64(r))
    }

    /// Seed of the principal hasher's rotations (tables beyond the first).
    public var principalSeed: RandomSeed { seed.mixed(with: Self.principalTag) }

    /// The first `count` rows queried in repetition `r`: distinct indices in `0..<rowCount`,
    /// a uniformly random sample without replacement, in random order.
    ///
    /// A partial Fisher–Yates shuffle of `0..<rowCount` driven by ``orderSeed(repetition:)``:
    /// step `i` swaps position `i` with position `i + j`, `j` uniform in `0..<(rowCount - i)`
    /// (Lemire's multiply-and-reject on ``RandomGenerator/next()``, which uses the high bits).
    /// A shorter order is a prefix of a longer one.
    /// - Precondition: `0 <= count <= rowCount`.
    /// - Complexity: O(rowCount) time and memory.
    public func queryOrder(repetition r: Int, rowCount: Int, count: Int) -> [Int] {
        precondition(count >= 0 && count <= rowCount, "queryOrder: count \(count) outside 0...\(rowCount)")
        var generator = RandomGenerator(seed: orderSeed(repetition: r))
        var order = Array(0..<rowCount)
        for i in 0..<count {
            let j = i + Self.uniformIndex(below: rowCount - i, using: &generator)
            order.swapAt(i, j)
        }
        return Array(order.prefix(count))
    }

    /// A uniform integer in `0..<bound` (bound >= 1): Lemire's nearly divisionless method.
    private static func uniformIndex(below bound: Int, using generator: inout RandomGenerator) -> Int {
        let n = UInt64(bound)
        var product = generator.next().multipliedFullWidth(by: n)
        if product.low < n {
            let threshold = (0 &- n) % n
            while product.low < threshold { product = generator.next().multipliedFullWidth(by: n) }
        }
        return Int(product.high)
    }

    /// The hasher of each repetition, for data of dimension `dimension` (`R` values; with the
    /// principal hasher or a stored projection all are the same).
    /// - Throws: ``CoverageCurveError`` for an invalid configuration or a principal fit that fails.
    public func hashers(dimension: Int) throws -> [RandomProjectionLSH] {
        try validateConfiguration(dimension: dimension)
        let distinct = try distinctHashers(dimension: dimension)
        return (0..<repetitions).map { distinct[min($0, distinct.count - 1)] }
    }

    /// The projections actually built: one per repetition, or a single fitted one.
    private func distinctHashers(dimension d: Int) throws -> [RandomProjectionLSH] {
        switch hasher {
        case .throughOrigin, .centred, .signsThroughOrigin, .signsCentred:
            let (centre, entries) = hasher.randomNormals!
            return (0..<repetitions).map {
                RandomProjectionLSH(randomWithDimension: d, hashBits: hashBits, tableCount: tableCount,
                                    seed: projectionSeed(repetition: $0), centre: centre, entries: entries)
            }
        case .principal(let sample):
            do {
                let fitted = try FittedProjection.principal(sample: sample, hashBits: hashBits,
                                                            tableCount: tableCount, seed: principalSeed)
                return [RandomProjectionLSH(fitted)]
            } catch let error as ConfigurationError {
                throw CoverageCurveError(.principalFit(error.message))
            } catch {
                throw CoverageCurveError(.principalFit(String(describing: error)))
            }
        case .fitted(let projection):
            return [RandomProjectionLSH(projection)]
        }
    }

    private func validateConfiguration(dimension d: Int) throws {
        guard (1...24).contains(hashBits) else { throw CoverageCurveError(.hashBitsOutOfRange(hashBits)) }
        guard (1...Occupancy.largestTableCount).contains(tableCount) else { throw CoverageCurveError(.invalidTableCount(tableCount)) }
        guard repetitions >= 1 else { throw CoverageCurveError(.invalidRepetitions(repetitions)) }
        switch hasher {
        case .throughOrigin, .signsThroughOrigin: break
        case .centred(let centre), .signsCentred(let centre):
            guard centre.count == d else { throw CoverageCurveError(.centreDimension(expected: d, actual: centre.count)) }
            guard centre.allSatisfy(\.isFinite) else { throw CoverageCurveError(.nonFiniteCentre) }
        case .principal(let sample):
            guard sample.columns == d else { throw CoverageCurveError(.sampleDimension(expected: d, actual: sample.columns)) }
        case .fitted(let p):
            func mismatch(_ m: String) -> CoverageCurveError { CoverageCurveError(.projectionMismatch(m)) }
            guard p.dimension == d else { throw mismatch("has dimension \(p.dimension), the data \(d)") }
            guard p.hashBits == hashBits else { throw mismatch("has \(p.hashBits) bits per table, the experiment \(hashBits)") }
            guard p.tableCount == tableCount else { throw mismatch("has \(p.tableCount) tables, the experiment \(tableCount)") }
            guard p.normals.count == d * hashBits * tableCount, p.thresholds.count == hashBits * tableCount else {
                throw mismatch("holds \(p.normals.count) normals and \(p.thresholds.count) thresholds, expected \(d * hashBits * tableCount) and \(hashBits * tableCount)")
            }
            guard p.normals.allSatisfy(\.isFinite), p.thresholds.allSatisfy(\.isFinite) else { throw mismatch("contains NaN or infinity") }
        }
    }

    /// Validates query counts and caps them at `rowCount`: counts above it are dropped and
    /// `rowCount` itself is measured instead (once).
    private static func cappedQueryCounts(_ counts: [Int], rowCount: Int) throws -> [Int] {
        guard let first = counts.first else { throw CoverageCurveError(.noQueryCounts) }
        guard first > 0 else { throw CoverageCurveError(.nonPositiveQueryCount(first)) }
        for (a, b) in zip(counts, counts.dropFirst()) where b <= a {
            throw CoverageCurveError(b <= 0 ? .nonPositiveQueryCount(b) : .queryCountsNotIncreasing(previous: a, next: b))
        }
        var capped = counts.filter { $0 < rowCount }
        if counts.last! >= rowCount { capped.append(rowCount) }
        return capped
    }

    /// Measures the coverage curve of `data`.
    ///
    /// Each row is hashed once under every repetition's projection: all `R` projections are
    /// stacked into one `d x (k T R)` hasher, so the whole measurement is one GEMM pass over
    /// the data (in blocks of rows) plus, per repetition, one walk along its query order that
    /// fills an ``Occupancy`` incrementally and reads the coverage at every query count.
    ///
    /// - Parameters:
    ///   - name: the dataset's name, copied into the curve.
    ///   - data: `n x d` representations, one query per row (finite).
    ///   - queryCounts: numbers of queries at which to read coverage: positive, strictly
    ///     increasing. Counts above `n` are dropped and `n` is measured instead, so a standard
    ///     list serves datasets of any size (see ``CoverageCurve/standardQueryCounts(upTo:)``).
    /// - Returns: the curve; coverage values are fractions in [0, 1].
    /// - Throws: ``CoverageCurveError`` for empty or non-finite data, invalid query counts,
    ///   `hashBits` outside 1...24, `tableCount` or `repetitions` below 1, a centre of the wrong
    ///   dimension or non-finite, a principal sample of the wrong dimension or a failed fit, a
    ///   stored projection that does not match.
    /// - Complexity: O(n d k T R) for hashing (one GEMM, `R = 1` for the principal hasher or a
    ///   stored projection), plus
    ///   O(n + q T) per repetition for the query order and the walk (q the largest count),
    ///   plus the principal fit (O(m d² + d³) for an `m x d` sample).
    public func curve(name: String, data: Matrix, queryCounts: [Int]) throws -> CoverageCurve {
        let (n, d) = (data.rows, data.columns)
        guard n > 0, d > 0 else { throw CoverageCurveError(.emptyData(rows: n, columns: d)) }
        let counts = try Self.cappedQueryCounts(queryCounts, rowCount: n)
        try validateConfiguration(dimension: d)
        let projections = try distinctHashers(dimension: d)
        let ids = try Self.bucketIDs(data, projections: projections)
        let stride = tableCount * projections.count
        let maxCount = counts.last!

        var values: [[Double]] = []
        values.reserveCapacity(repetitions)
        for r in 0..<repetitions {
            let order = queryOrder(repetition: r, rowCount: n, count: maxCount)
            let offset = min(r, projections.count - 1) * tableCount
            var occupancy = Occupancy(hashBits: hashBits, tableCount: tableCount)
            var row = [Double]()
            row.reserveCapacity(counts.count)
            var next = 0
            for (position, index) in order.enumerated() {
                let base = index * stride + offset
                for t in 0..<tableCount { occupancy.insert(bucket: ids[base + t], table: t) }
                if position + 1 == counts[next] {
                    row.append(occupancy.coverage)
                    next += 1
                }
            }
            values.append(row)
        }
        return CoverageCurve(name: name, hashBits: hashBits, tableCount: tableCount, hasher: hasher.kind,
                             rowCount: n, queryCounts: counts, perRepetition: values)
    }

    /// One curve per bucket count: the same data, queries and seed with `hashBits` replaced by
    /// each value of `hashBitsList` in turn (the bucket-count ablation). Every curve uses the
    /// same query orders (they depend on the seed and repetition only).
    /// - Parameter hashBitsList: default 8, 10, 12, 14, 16 (256 to 65536 buckets).
    /// - Throws: as ``curve(name:data:queryCounts:)``, for the first offending `k`.
    public func bucketAblation(name: String, data: Matrix, queryCounts: [Int],
                               hashBitsList: [Int] = [8, 10, 12, 14, 16]) throws -> [CoverageCurve] {
        try hashBitsList.map { k in
            var experiment = self
            experiment.hashBits = k
            return try experiment.curve(name: name, data: data, queryCounts: queryCounts)
        }
    }

    // MARK: Hashing

    /// Bucket ids of every row under every projection: `ids[i * (T P) + p * T + t]` is row `i`'s
    /// bucket in table `t` of projection `p`. The projections are stacked into one hasher of
    /// `T P` tables, applied in blocks of rows (bounded scratch, data read once).
    /// - Throws: ``CoverageCurveError/Kind/nonFiniteData(row:column:)`` at the first NaN or infinity.
    private static func bucketIDs(_ data: Matrix, projections: [RandomProjectionLSH]) throws -> [UInt32] {
        let first = projections[0]
        let stacked: RandomProjectionLSH
        if projections.count == 1 {
            stacked = first
        } else {
            let (d, m) = (first.dimension, first.hashBits * first.tableCount)
            let columns = m * projections.count
            var normals = [Float](repeating: 0, count: d * columns)
            for (p, projection) in projections.enumerated() {
                projection.normals.withUnsafeBufferPointer { source in
                    for i in 0..<d {
                        for j in 0..<m { normals[i * columns + p * m + j] = source[i * m + j] }
                    }
                }
            }
            stacked = RandomProjectionLSH(normals: Matrix(rows: d, columns: columns, elements: normals),
                                          thresholds: projections.flatMap(\.thresholds),
                                          hashBits: first.hashBits, tableCount: first.tableCount * projections.count)
        }
        let (n, tables) = (data.rows, stacked.tableCount)
        // About 1 MiB of data per block: the hasher's projection scratch stays small.
        let blockRows = max(64, min(n, (1 << 18) / max(data.columns, 1)))
        var ids = [UInt32](repeating: 0, count: n * tables)
        try data.withView { view in
            try ids.withUnsafeMutableBufferPointer { all in
                for start in Swift.stride(from: 0, to: n, by: blockRows) {
                    let rows = start ..< min(n, start + blockRows)
                    do throws(NonFiniteValue) {
                        try stacked.bucketIDs(view.rows(rows), into: UnsafeMutableBufferPointer(rebasing: all[rows.lowerBound * tables ..< rows.upperBound * tables]))
                    } catch {
                        throw CoverageCurveError(.nonFiniteData(row: start + error.row, column: error.column))
                    }
                }
            }
        }
        return ids
    }
}
