/// A query-count-aware price, beyond the paper: a user's coverage relative to what a broad
/// public pool covers with the same number of queries.
///
/// The paper prices a user by its fraction of occupied buckets alone, whatever the number of
/// queries it took to get there. A thief drawing queries from a broad pool occupies buckets as
/// fast as the pool does, so its *relative coverage* `c_user(q) / c_pool(q)` stays near 1 from
/// its first few hundred queries, while a user of one task re-uses its region's buckets and
/// falls well below 1. Pricing the relative coverage charges a broad thief early, long before
/// its absolute coverage is high.
///
/// The engine combines both prices: `sigma = max(cost(c), relative.cost(c / c_pool(q)))`.
/// Taking the maximum means the relative price can only add noise: a thief who pads its
/// query count with repeated or near-duplicate queries (which lowers its relative coverage)
/// still pays at least the paper's price. Below ``minimumQueries`` the relative price is not
/// applied, because every user's first queries land in new buckets (relative coverage 1 for
/// everyone).
public struct RelativeCoverageCost: Sendable, Codable, Equatable {
    /// Numbers of queries at which the pool's coverage was measured (strictly increasing, >= 1),
    /// with the same hasher, bucket count and tables as the defense (e.g. by `b4b calibrate`).
    public var queryCounts: [Int]
    /// The pool's mean coverage (fraction of buckets) after each of ``queryCounts`` queries;
    /// positive and non-decreasing.
    public var poolCoverage: [Double]
    /// Maps relative coverage (a ratio, 1 = covering as fast as the pool) to sigma, in the
    /// configuration's units; e.g. Eq. (1) with beta = 1.
    public var cost: CostFunction
    /// Queries a user must have sent before the relative price applies. Default ``defaultMinimumQueries``.
    public var minimumQueries: Int

    /// The default of ``minimumQueries``: 500 queries.
    public static let defaultMinimumQueries = 500

    /// The price from a measured pool curve (checked by ``validate()``).
    public init(queryCounts: [Int], poolCoverage: [Double], cost: CostFunction, minimumQueries: Int = RelativeCoverageCost.defaultMinimumQueries) {
        self.queryCounts = queryCounts
        self.poolCoverage = poolCoverage
        self.cost = cost
        self.minimumQueries = minimumQueries
    }

    /// The pool's coverage after `queries` queries: linear between measured counts (from 0
    /// coverage at 0 queries), the last measured value beyond the last count (the pool's
    /// coverage only grows, so this under-estimates it and errs towards a higher relative
    /// coverage, that is, towards charging more).
    /// - Precondition: the price passes ``validate()``.
    public func poolCoverage(atQueries queries: Int) -> Double {
        guard let last = queryCounts.last, queries < last else { return poolCoverage.last ?? 1 }
        guard queries > 0 else { return 0 }
        let i = queryCounts.firstIndex { $0 >= queries }!
        let (q1, c1) = (Double(queryCounts[i]), poolCoverage[i])
        let (q0, c0) = i == 0 ? (0.0, 0.0) : (Double(queryCounts[i - 1]), poolCoverage[i - 1])
        return c0 + (c1 - c0) * (Double(queries) - q0) / (q1 - q0)
    }

    /// The relative coverage of a user with coverage `coverage` after `queries` queries, or
    /// nil below ``minimumQueries``.
    public func relativeCoverage(coverage: Double, queries: Int) -> Double? {
        guard queries >= minimumQueries else { return nil }
        let expected = poolCoverage(atQueries: queries)
        return expected > 0 ? coverage / expected : nil
    }

    /// Sigma of the relative price (configuration units; 0 below ``minimumQueries``).
    public func sigma(coverage: Double, queries: Int) -> Float {
        relativeCoverage(coverage: coverage, queries: queries).map { cost.sigma(coverage: $0) } ?? 0
    }

    /// Checks the price (as ``DefenseConfiguration/validated()`` does): measured query counts
    /// and pool coverages of equal, non-zero length, counts positive and strictly increasing,
    /// coverages non-decreasing in (0, 1], a minimum query count of at least 1, a valid cost. ``poolCoverage(atQueries:)`` expects one that passes.
    /// - Throws: ``ConfigurationError`` naming the field.
    public func validate() throws {
        func fail(_ field: String, _ why: String) -> ConfigurationError {
            ConfigurationError(field: "relativeCost.\(field)", message: why)
        }
        guard !queryCounts.isEmpty, queryCounts.count == poolCoverage.count else {
            throw fail("queryCounts", "needs one pool coverage per query count, got \(queryCounts.count) counts and \(poolCoverage.count) coverages")
        }
        guard queryCounts[0] >= 1, zip(queryCounts, queryCounts.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("queryCounts", "must be strictly increasing and at least 1, got \(queryCounts)")
        }
        guard poolCoverage.allSatisfy({ $0.isFinite && $0 > 0 && $0 <= 1 }),
              zip(poolCoverage, poolCoverage.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw fail("poolCoverage", "must be non-decreasing fractions in (0, 1], got \(poolCoverage)")
        }
        guard minimumQueries >= 1 else { throw fail("minimumQueries", "must be at least 1, got \(minimumQueries)") }
        do { try cost.validate() } catch let error as ConfigurationError {
            throw ConfigurationError(field: "relativeCost.\(error.field)", message: error.message)
        }
    }
}

extension RelativeCoverageCost {
    /// Reads `queryCounts`, `poolCoverage` and `cost` (required) and `minimumQueries` (``defaultMinimumQueries`` when
    /// left out), refusing unknown keys.
    public init(from decoder: any Decoder) throws {
        let c = try ConfigurationJSON.object(decoder, known: ["queryCounts", "poolCoverage", "cost", "minimumQueries"])
        self.init(queryCounts: try c.value("queryCounts"), poolCoverage: try c.value("poolCoverage"), cost: try c.value("cost"),
                  minimumQueries: try c.value("minimumQueries", or: Self.defaultMinimumQueries))
    }
}
