import Defense
import Foundation
import NumericKernels
import Testing
import TestSupport

/// The query-count-aware price: coverage relative to the pool's at the same number of queries.
@Suite("Relative coverage price")
struct RelativeCostTests {
    private let d = 32
    private let counts = [100, 250, 500, 1000, 2000]

    /// The pool's coverage at `counts`, measured with the defense's own hasher by a throwaway account.
    private func poolCurve(_ configuration: DefenseConfiguration, pool: Matrix) throws -> [Double] {
        let defense = try B4BDefense(configuration: configuration, secret: testSecret)
        let coverage = try defense.track(pool, user: "pool").coverage
        return counts.map { coverage[$0 - 1] }
    }

    private func configured(relative cost: CostFunction, paper: CostFunction = .none, minimumQueries: Int = 200) throws -> DefenseConfiguration {
        var c = smallConfiguration(dimension: d, transforms: [], cost: paper)
        c.hashBits = 8
        c.maxBatchRows = 5000
        let curve = try poolCurve(c, pool: spreadQueries(count: 2000, dimension: d, seed: 90))
        c.relativeCost = RelativeCoverageCost(queryCounts: counts, poolCoverage: curve, cost: cost, minimumQueries: minimumQueries)
        return try c.validated()
    }

    private let steep = CostFunction.exponential(ExponentialCost(lambda: 1e-4, alpha: 0.5, beta: 1))

    @Test func aBroadThiefPaysEarlyATaskUserDoesNot() throws {
        let defense = try B4BDefense(configuration: try configured(relative: steep), secret: testSecret)
        let thief = try defense.track(spreadQueries(count: 600, dimension: d, seed: 91), user: "thief")
        let (task, _) = clusteredQueries(count: 600, dimension: d, clusters: 3, seed: 92)
        let user = try defense.track(task, user: "user")
        // Before the minimum query count nobody pays (the paper's cost is off here).
        #expect(thief.sigma[198] == 0 && user.sigma[198] == 0)
        // From then on the thief, covering buckets as fast as the pool, pays near alpha;
        // the task user, far below the pool's pace, pays little.
        #expect(thief.sigma[599] > 0.2, "\(thief.sigma[599])")
        #expect(user.sigma[599] < thief.sigma[599] / 20, "\(user.sigma[599]) vs \(thief.sigma[599])")
        #expect(defense.queryCount(of: "thief") == 600)
        // currentSigma prices the next query the same way.
        #expect(abs(defense.currentSigma(of: "thief") - thief.sigma[599]) <= 0.05 * thief.sigma[599])
    }

    @Test func theRelativePriceOnlyAddsToThePapersPrice() throws {
        let paper = CostFunction.exponential(ExponentialCost(lambda: 1e-3, alpha: 0.2, beta: 1))
        let both = try B4BDefense(configuration: try configured(relative: steep, paper: paper), secret: testSecret)
        var plain = try configured(relative: steep, paper: paper)
        plain.relativeCost = nil
        let paperOnly = try B4BDefense(configuration: plain, secret: testSecret)
        // A thief padding its query count with repeats: its relative coverage falls, yet it
        // never pays less than the paper's price.
        let spread = spreadQueries(count: 300, dimension: d, seed: 93)
        let padded = Matrix(rows: 1500, columns: d) { i, j in spread[i % 300, j] }
        let a = try both.track(padded, user: "padder")
        let b = try paperOnly.track(padded, user: "padder")
        #expect(a.coverage == b.coverage)
        for i in 0 ..< 1500 { #expect(a.sigma[i] >= b.sigma[i]) }
        // While its queries are fresh the relative price dominates; padding dilutes it to
        // a fraction of that, down towards the paper's price, never below.
        #expect(a.sigma[250] > 2 * b.sigma[250], "\(a.sigma[250]) vs \(b.sigma[250])")
        #expect(a.sigma[1499] < a.sigma[250] / 5, "\(a.sigma[1499]) vs \(a.sigma[250])")
    }

    @Test func pricesDoNotDependOnBatching() throws {
        let configuration = try configured(relative: steep)
        let rows = spreadQueries(count: 900, dimension: d, seed: 94)
        let whole = try B4BDefense(configuration: configuration, secret: testSecret).track(rows, user: "u")
        let split = try B4BDefense(configuration: configuration, secret: testSecret)
        var sigma: [Float] = []
        var start = 0
        for size in [1, 7, 250, 1, 300, 341] {
            sigma += try split.track(rows.rows(start ..< start + size).copy(), user: "u").sigma
            start += size
        }
        #expect(sigma == whole.sigma)
    }

    @Test func poolCoverageIsInterpolatedAndHeldBeyondTheLastCount() {
        let r = RelativeCoverageCost(queryCounts: [100, 300], poolCoverage: [0.1, 0.3], cost: .none)
        #expect(r.poolCoverage(atQueries: 0) == 0)
        #expect(abs(r.poolCoverage(atQueries: 50) - 0.05) < 1e-12)
        #expect(abs(r.poolCoverage(atQueries: 200) - 0.2) < 1e-12)
        #expect(r.poolCoverage(atQueries: 1000) == 0.3)
        #expect(r.relativeCoverage(coverage: 0.15, queries: 499) == nil)
        #expect(abs((r.relativeCoverage(coverage: 0.15, queries: 500) ?? 0) - 0.5) < 1e-12)
    }

    @Test func queryCountsTravelWithSnapshots() throws {
        let configuration = try configured(relative: steep)
        let a = try B4BDefense(configuration: configuration, secret: testSecret)
        _ = try a.track(spreadQueries(count: 700, dimension: d, seed: 95), user: "u")
        let snapshot = a.exportOccupancy(of: "u")
        #expect(snapshot.queryCount == 700)

        // JSON round trip; a snapshot written before the field existed reads as 0 queries.
        let data = try JSONEncoder().encode(snapshot)
        #expect(try JSONDecoder().decode(OccupancySnapshot.self, from: data) == snapshot)
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        object.removeValue(forKey: "queryCount")
        let old = try JSONDecoder().decode(OccupancySnapshot.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.queryCount == 0 && old.words == snapshot.words)
        // A misspelt key is refused, not read as a missing count (which would reset the price).
        object["querycount"] = 700
        #expect {
            _ = try JSONDecoder().decode(OccupancySnapshot.self, from: JSONSerialization.data(withJSONObject: object))
        } throws: { "\($0)".contains("unknown key 'querycount'") }

        let b = try B4BDefense(configuration: configuration, secret: testSecret)
        _ = try b.track(spreadQueries(count: 100, dimension: d, seed: 96), user: "u")
        try b.importOccupancy(snapshot, for: "u", mode: .merge)
        #expect(b.queryCount(of: "u") == 700)  // the larger count, never the sum
        try b.importOccupancy(old, for: "u", mode: .merge)
        #expect(b.queryCount(of: "u") == 700)
        try b.importOccupancy(old, for: "u", mode: .replace)
        #expect(b.queryCount(of: "u") == 0)

        let negative = OccupancySnapshot(hasherFingerprint: snapshot.hasherFingerprint, hashBits: snapshot.hashBits,
                                         tableCount: snapshot.tableCount, words: snapshot.words, queryCount: -1)
        let before = b.exportOccupancy(of: "u")
        #expect(throws: OccupancyError.self) { try b.importOccupancy(negative, for: "u", mode: .replace) }
        #expect(b.exportOccupancy(of: "u") == before)
        // A count so large that the next query would overflow the counter is refused, in both
        // modes; the largest count allowed is taken, and the account keeps working.
        for count in [Int.max, Int.max - 1, OccupancySnapshot.largestQueryCount + 1] {
            let huge = OccupancySnapshot(hasherFingerprint: snapshot.hasherFingerprint, hashBits: snapshot.hashBits,
                                         tableCount: snapshot.tableCount, words: snapshot.words, queryCount: count)
            for mode in [B4BDefense.ImportMode.merge, .replace] {
                #expect { try b.importOccupancy(huge, for: "u", mode: mode) } throws: {
                    "\($0)".contains("query count \(count), outside 0...9007199254740992")
                }
                #expect(b.exportOccupancy(of: "u") == before)
            }
        }
        let largest = OccupancySnapshot(hasherFingerprint: snapshot.hasherFingerprint, hashBits: snapshot.hashBits,
                                        tableCount: snapshot.tableCount, words: snapshot.words, queryCount: OccupancySnapshot.largestQueryCount)
        try b.importOccupancy(largest, for: "u", mode: .replace)
        _ = try b.protect(spreadQueries(count: 3, dimension: d, seed: 97), user: "u")
        #expect(b.queryCount(of: "u") == OccupancySnapshot.largestQueryCount + 3)
        #expect(b.currentSigma(of: "u").isFinite)
    }

    @Test func configurationIsValidatedAndRoundTrips() throws {
        var c = smallConfiguration(dimension: d)
        c.relativeCost = RelativeCoverageCost(queryCounts: [100, 200], poolCoverage: [0.1, 0.2], cost: steep)
        let decoded = try DefenseConfiguration.decode(from: try c.encoded())
        #expect(decoded == c)
        let bad: [(RelativeCoverageCost, String)] = [
            (RelativeCoverageCost(queryCounts: [100], poolCoverage: [0.1, 0.2], cost: steep), "relativeCost.queryCounts"),
            (RelativeCoverageCost(queryCounts: [200, 100], poolCoverage: [0.1, 0.2], cost: steep), "relativeCost.queryCounts"),
            (RelativeCoverageCost(queryCounts: [100, 200], poolCoverage: [0.3, 0.2], cost: steep), "relativeCost.poolCoverage"),
            (RelativeCoverageCost(queryCounts: [100, 200], poolCoverage: [0, 0.2], cost: steep), "relativeCost.poolCoverage"),
            (RelativeCoverageCost(queryCounts: [100, 200], poolCoverage: [0.1, 0.2], cost: steep, minimumQueries: 0), "relativeCost.minimumQueries"),
            (RelativeCoverageCost(queryCounts: [100, 200], poolCoverage: [0.1, 0.2], cost: .constant(sigma: -1)), "relativeCost.cost.sigma"),
        ]
        for (relative, field) in bad {
            c.relativeCost = relative
            do {
                _ = try c.validated()
                Issue.record("\(field) accepted")
            } catch let error as ConfigurationError {
                #expect(error.field == field, "\(error)")
            }
        }
    }
}
