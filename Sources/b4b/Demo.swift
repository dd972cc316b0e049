import ArgumentParser
import Defense
import Foundation
import NumericKernels

/// `b4b demo`: a legitimate user and a stealing user query the same protected API with
/// generated data; their coverage and noise are printed side by side as queries accumulate.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show coverage and noise of a legitimate user and a thief side by side, on generated data.",
        discussion: """
            The legitimate user's queries come from a few tight clusters (one downstream task); \
            the thief's are spread over the whole sphere (it wants the encoder's whole function). \
            Both go through the same defense with the paper's parameters (k = 12 hyperplanes, \
            lambda = 1e-6, alpha = 1, beta = 0.8) unless options say otherwise.
            """)

    @Option(parsing: .unconditional, help: "Queries each user sends in total (1...10000000, and within 80 % of memory with --dimension).")
    var queries: Int = 4000

    @Option(parsing: .unconditional, help: "Queries per request (batch size; 1...--queries).")
    var batch: Int = 250

    @Option(parsing: .unconditional, help: "Representation dimension d (2...8192: the demo gives each user a dense affine transform).")
    var dimension: Int = 2048

    @Option(parsing: .unconditional, help: "Number of clusters the legitimate user's queries come from.")
    var clusters: Int = 3

    @Option(parsing: .unconditional, help: "Angular spread of each legitimate cluster (noise norm relative to the unit centre).")
    var clusterSpread: Double = 0.3

    @Option(parsing: .unconditional, help: "Hyperplanes per hash table k (2^k buckets).")
    var hashBits: Int = 12

    @Option(parsing: .unconditional, help: "Seed of the generated data (the server secret is generated fresh each run).")
    var seed: UInt64 = 1

    /// The most queries per user the demo generates.
    static let largestQueries = 10_000_000

    func validate() throws {
        try refuseRepeatedOptions()
        guard (1...Self.largestQueries).contains(queries) else {
            throw ValidationError("--queries must be in 1...\(Self.largestQueries), got \(queries)")
        }
        guard (1...queries).contains(batch) else { throw ValidationError("--batch must be in 1...--queries (\(queries)), got \(batch)") }
        // The demo gives each user a dense affine transform, which the defense allows up to d = 8192.
        guard (2...8192).contains(dimension) else {
            throw ValidationError("--dimension must be in 2...8192 (the demo's dense affine transform), got \(dimension)")
        }
        guard (1...queries).contains(clusters) else { throw ValidationError("--clusters must be in 1...--queries (\(queries)), got \(clusters)") }
        // Both users' queries are generated up front (and copied per request): about 4 copies.
        try requireMemory(4 * 2 * Double(queries) * Double(dimension) * Double(MemoryLayout<Float>.stride),
                          for: "--queries \(queries) at --dimension \(dimension)", validating: true)
        guard clusterSpread >= 0, clusterSpread <= Double(Float.greatestFiniteMagnitude) else {
            throw ValidationError("--cluster-spread must be a non-negative number within float32's range (at most 3.4e38), got \(clusterSpread)")
        }
        guard (1...24).contains(hashBits) else { throw ValidationError("--hash-bits must be in 1...24, got \(hashBits)") }
    }

    func run() throws {
        useBLAS(threads: 1)
        var configuration = DefenseConfiguration()
        configuration.dimension = dimension
        configuration.hashBits = hashBits
        configuration.maxBatchRows = max(batch, configuration.maxBatchRows)
        let defense = try B4BDefense(configuration: configuration, secret: ServerSecret.generate())
        let legitimate = SyntheticQueries.clustered(count: queries, dimension: dimension, clusters: clusters, spread: Float(clusterSpread), seed: seed)
        let thief = SyntheticQueries.spread(count: queries, dimension: dimension, seed: seed &+ 1000)

        print("B4B demo: d = \(dimension), \(1 << hashBits) buckets, cost = exponential(lambda 1e-6, alpha 1, beta 0.8), transform = dense affine per user")
        print("legitimate user: \(clusters) clusters (spread \(clusterSpread)); thief: queries spread over the whole sphere\n")
        let header = ["queries", "legit coverage", "legit sigma", "thief coverage", "thief sigma", "thief/legit sigma"]
        print(header.map { $0.padding(toLength: 18, withPad: " ", startingAt: 0) }.joined())
        var start = 0
        let clock = ContinuousClock()
        let began = clock.now
        while start < queries {
            let end = min(queries, start + batch)
            let l = try defense.protect(legitimate.rows(start..<end).copy(), user: "legitimate")
            let t = try defense.protect(thief.rows(start..<end).copy(), user: "thief")
            let (ls, ts) = (l.sigma.last!, t.sigma.last!)
            let cells = ["\(end)", format(l.coverage.last!), format(ls), format(t.coverage.last!), format(ts),
                         ls > 0 ? String(format: "%.0fx", ts / ls) : "-"]
            print(cells.map { $0.padding(toLength: 18, withPad: " ", startingAt: 0) }.joined())
            start = end
        }
        let seconds = (clock.now - began) / .seconds(1)
        print(String(format: "\n%d protected representations in %.2f s (%.0f per second, one thread, including cold transforms).",
                     2 * queries, seconds, Double(2 * queries) / seconds))
        print("Sigma is the standard deviation of the Gaussian noise added to each returned coordinate (representations have unit norm).")
    }

    private func format(_ x: Double) -> String { String(format: "%.4f", x) }
    private func format(_ x: Float) -> String { String(format: "%.3e", x) }
}

/// Generated unit-norm query sets.
enum SyntheticQueries {
    /// Rows spread uniformly over the unit sphere (a thief covering the whole space).
    static func spread(count: Int, dimension: Int, seed: UInt64) -> Matrix {
        var g = RandomGenerator(seed: RandomSeed(seed, 1, 2, 3))
        return Matrix.gaussian(rows: count, columns: dimension, using: &g).rowsNormalized()
    }

    /// Rows around `clusters` random unit centres, noise of norm about `spread` (one task's queries).
    static func clustered(count: Int, dimension: Int, clusters: Int, spread: Float, seed: UInt64) -> Matrix {
        let centres = self.spread(count: clusters, dimension: dimension, seed: seed &+ 7)
        var g = RandomGenerator(seed: RandomSeed(seed, 4, 5, 6))
        var m = Matrix.gaussian(rows: count, columns: dimension, standardDeviation: spread / Float(dimension).squareRoot(), using: &g)
        for i in 0..<count {
            let c = i % clusters
            for j in 0..<dimension { m[i, j] += centres[c, j] }
        }
        return m.rowsNormalized()
    }
}
