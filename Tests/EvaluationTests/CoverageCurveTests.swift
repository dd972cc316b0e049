import Defense
import Evaluation
import NumericKernels
import Testing
import TestSupport

/// Coverage curves (Figures 3 and 10) against an independent reference: bucket ids from the
/// same hyperplanes by plain double loops, distinct ids counted with a `Set`.
@Suite("Coverage curves")
struct CoverageCurveTests {
    /// The reference: repetition `r` hashes the rows of its query order with hasher `r`'s
    /// normals and thresholds (bit j set when x · p_j > threshold_j, dot product in double),
    /// and coverage after q queries is (distinct ids summed over tables) / (2^k T).
    private func referenceCurve(_ experiment: CoverageExperiment, _ data: Matrix, counts: [Int]) throws -> [[Double]] {
        let hashers = try experiment.hashers(dimension: data.columns)
        let (k, tables) = (experiment.hashBits, experiment.tableCount)
        return hashers.enumerated().map { r, hasher in
            let order = experiment.queryOrder(repetition: r, rowCount: data.rows, count: counts.last!)
            var seen = [Set<UInt32>](repeating: [], count: tables)
            var values: [Double] = []
            for (position, row) in order.enumerated() {
                for t in 0..<tables {
                    seen[t].insert(referenceBucketID(data, row: row, normals: hasher.normals, thresholds: hasher.thresholds,
                                                     table: t, hashBits: k))
                }
                if counts.contains(position + 1) {
                    values.append(Double(seen.reduce(0) { $0 + $1.count }) / Double((1 << k) * tables))
                }
            }
            return values
        }
    }

    private func seed(_ s: UInt64) -> RandomSeed { RandomSeed(s, 0xC0FE, 7, 3) }

    /// Rows `u + noise * z`: all near one unit vector `u` (an anisotropic "encoder").
    private func concentrated(rows: Int, columns: Int, noise: Float, seed: UInt64) -> Matrix {
        var data = gaussianMatrix(rows: rows, columns: columns, seed: seed, scale: noise)
        for i in 0..<rows { data[i, 0] += 1 }
        return data
    }

    private func columnMean(_ m: Matrix) -> [Float] {
        (0..<m.columns).map { j in Float((0..<m.rows).reduce(0.0) { $0 + Double(m[$1, j]) } / Double(m.rows)) }
    }

    // MARK: - Against the reference

    @Test("Curves equal the double-loop reference exactly, for every hasher and repetition",
          arguments: CoverageHasherKind.allCases)
    func matchesReference(_ kind: CoverageHasherKind) throws {
        let data = concentrated(rows: 700, columns: 24, noise: 0.6, seed: 11)
        let counts = [1, 10, 50, 200, 699, 700]
        for tables in [1, 3] {
            let hasher: CoverageHasher = switch kind {
            case .throughOrigin: .throughOrigin
            case .centred: .centred(centre: columnMean(data))
            case .signsThroughOrigin: .signsThroughOrigin
            case .signsCentred: .signsCentred(centre: columnMean(data))
            case .principal: .principal(sample: gaussianMatrix(rows: 300, columns: 24, seed: 12))
            case .fitted: .fitted(try FittedProjection.principal(sample: data, hashBits: 7, tableCount: tables, seed: seed(13)))
            }
            let experiment = CoverageExperiment(hashBits: 7, tableCount: tables, repetitions: 4, hasher: hasher, seed: seed(1))
            let curve = try experiment.curve(name: "x", data: data, queryCounts: counts)
            let expected = try referenceCurve(experiment, data, counts: counts)
            #expect(curve.perRepetition == expected, "\(kind), \(tables) tables")
            #expect(curve.queryCounts == counts && curve.repetitions == 4 && curve.hashBits == 7)
            #expect(curve.tableCount == tables && curve.hasher == kind && curve.rowCount == 700 && curve.name == "x")
        }
    }

    @Test("A principal projection fitted once and stored gives the principal hasher's curve")
    func storedProjection() throws {
        let data = gaussianMatrix(rows: 900, columns: 16, seed: 14)
        let sample = gaussianMatrix(rows: 200, columns: 16, seed: 15)
        let principal = CoverageExperiment(hashBits: 6, tableCount: 2, repetitions: 3, hasher: .principal(sample: sample), seed: seed(14))
        let projection = try FittedProjection.principal(sample: sample, hashBits: 6, tableCount: 2, seed: principal.principalSeed)
        var stored = principal
        stored.hasher = .fitted(projection)
        let a = try principal.curve(name: "d", data: data, queryCounts: [100, 900])
        let b = try stored.curve(name: "d", data: data, queryCounts: [100, 900])
        #expect(a.perRepetition == b.perRepetition)
        #expect(a.hasher == .principal && b.hasher == .fitted)
        // One projection for all repetitions: they differ only in their query order.
        #expect(a.perRepetition.allSatisfy { $0[1] == a.perRepetition[0][1] })
    }

    @Test("Mean and standard deviation are over repetitions (sample deviation, R - 1)")
    func statistics() throws {
        let data = gaussianMatrix(rows: 500, columns: 16, seed: 3)
        let curve = try CoverageExperiment(hashBits: 8, repetitions: 5, seed: seed(2))
            .curve(name: "g", data: data, queryCounts: [20, 100, 500])
        for i in curve.queryCounts.indices {
            let values = curve.perRepetition.map { $0[i] }
            let mean = values.reduce(0, +) / 5
            let deviation = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 4).squareRoot()
            #expect(abs(curve.mean[i] - mean) < 1e-15)
            #expect(abs(curve.standardDeviation[i] - deviation) < 1e-15)
        }
        // Independent projections really differ.
        #expect(Set(curve.perRepetition.map { $0[2] }).count > 1)
        let single = try CoverageExperiment(hashBits: 8, repetitions: 1, seed: seed(2))
            .curve(name: "g", data: data, queryCounts: [20, 100, 500])
        #expect(single.standardDeviation == [0, 0, 0])
        #expect(single.perRepetition[0] == curve.perRepetition[0])
    }

    @Test("Query orders are samples without replacement, prefixes of each other, different per repetition")
    func queryOrders() {
        let experiment = CoverageExperiment(seed: seed(4))
        let order = experiment.queryOrder(repetition: 0, rowCount: 1000, count: 1000)
        #expect(order.sorted() == Array(0..<1000))
        #expect(experiment.queryOrder(repetition: 0, rowCount: 1000, count: 37) == Array(order.prefix(37)))
        #expect(experiment.queryOrder(repetition: 1, rowCount: 1000, count: 1000) != order)
        // Not the identity: rows ordered by corpus must be mixed.
        #expect(order.prefix(100).filter { $0 < 100 }.count < 30)
    }

    // MARK: - Invariants

    @Test("Non-decreasing in queries and bounded by min(q, 2^k) / 2^k")
    func monotoneAndBounded() throws {
        let data = gaussianMatrix(rows: 3000, columns: 32, seed: 5)
        let counts = [1, 2, 5, 10, 64, 100, 256, 1000, 3000]
        for k in [6, 10] {
            let curve = try CoverageExperiment(hashBits: k, repetitions: 3, seed: seed(5))
                .curve(name: "g", data: data, queryCounts: counts)
            for values in curve.perRepetition + [curve.mean] {
                for (a, b) in zip(values, values.dropFirst()) { #expect(a <= b) }
                for (q, c) in zip(counts, values) {
                    #expect(c >= 1 / Double(1 << k) && c <= Double(min(q, 1 << k)) / Double(1 << k))
                }
            }
        }
    }

    @Test("Identical rows occupy exactly one bucket: coverage 1 / 2^k at every count",
          arguments: [CoverageHasherKind.throughOrigin, .centred])
    func identicalRows(_ kind: CoverageHasherKind) throws {
        let row = gaussianMatrix(rows: 1, columns: 20, seed: 6).elements
        let data = Matrix(rows: 400, columns: 20, elements: Array((0..<400).map { _ in row }.joined()))
        let hasher: CoverageHasher = kind == .centred ? .centred(centre: [Float](repeating: 0.1, count: 20)) : .throughOrigin
        let curve = try CoverageExperiment(hashBits: 10, tableCount: 2, repetitions: 3, hasher: hasher, seed: seed(6))
            .curve(name: "same", data: data, queryCounts: [1, 50, 400])
        let one: Double = 1.0 / 1024
        #expect(curve.mean == [one, one, one])
        #expect(curve.standardDeviation == [0, 0, 0])
    }

    @Test("Same seed gives the same curve; another seed another")
    func reproducible() throws {
        let data = gaussianMatrix(rows: 2000, columns: 48, seed: 7)
        let counts = [100, 500, 2000]
        let a = try CoverageExperiment(hashBits: 10, seed: seed(7)).curve(name: "g", data: data, queryCounts: counts)
        let b = try CoverageExperiment(hashBits: 10, seed: seed(7)).curve(name: "g", data: data, queryCounts: counts)
        let c = try CoverageExperiment(hashBits: 10, seed: seed(8)).curve(name: "g", data: data, queryCounts: counts)
        #expect(a == b)
        #expect(a.perRepetition != c.perRepetition)
    }

    @Test("Centred hashing sees data concentrated off the origin; hyperplanes through the origin do not")
    func anisotropy() throws {
        let data = concentrated(rows: 4000, columns: 64, noise: 0.01, seed: 8)
        let counts = [500, 4000]
        let origin = try CoverageExperiment(hashBits: 10, seed: seed(9)).curve(name: "o", data: data, queryCounts: counts)
        let centred = try CoverageExperiment(hashBits: 10, hasher: .centred(centre: columnMean(data)), seed: seed(9))
            .curve(name: "c", data: data, queryCounts: counts)
        let principal = try CoverageExperiment(hashBits: 10, hasher: .principal(sample: data), seed: seed(9))
            .curve(name: "p", data: data, queryCounts: counts)
        // Through the origin the noise rarely flips a bit: a handful of buckets.
        #expect(origin.mean[1] < 0.05)
        #expect(centred.mean[1] > 0.5)
        #expect(centred.mean[1] > 10 * origin.mean[1])
        #expect(principal.mean[1] > 10 * origin.mean[1])
    }

    @Test("Bucket ablation: one curve per k, the fraction falls as buckets grow")
    func ablation() throws {
        let data = gaussianMatrix(rows: 5000, columns: 32, seed: 10)
        let curves = try CoverageExperiment(repetitions: 2, seed: seed(10))
            .bucketAblation(name: "g", data: data, queryCounts: [1000, 5000])
        #expect(curves.map(\.hashBits) == [8, 10, 12, 14, 16])
        for (a, b) in zip(curves, curves.dropFirst()) { #expect(a.mean[1] > b.mean[1]) }
        // Each equals the single curve at that k.
        let twelve = try CoverageExperiment(hashBits: 12, repetitions: 2, seed: seed(10))
            .curve(name: "g", data: data, queryCounts: [1000, 5000])
        #expect(curves[2] == twelve)
    }

    @Test("Query counts above the row count are replaced by the row count")
    func cappedCounts() throws {
        let data = gaussianMatrix(rows: 300, columns: 8, seed: 11)
        let experiment = CoverageExperiment(hashBits: 6, repetitions: 2, seed: seed(11))
        #expect(try experiment.curve(name: "g", data: data, queryCounts: [100, 250, 500, 1000]).queryCounts == [100, 250, 300])
        #expect(try experiment.curve(name: "g", data: data, queryCounts: [100, 300, 1000]).queryCounts == [100, 300])
        #expect(try experiment.curve(name: "g", data: data, queryCounts: [500]).queryCounts == [300])
        #expect(CoverageCurve.standardQueryCounts(upTo: 40_000) == [100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 40_000])
        #expect(CoverageCurve.standardQueryCounts(upTo: 1000) == [100, 250, 500, 1000])
        #expect(CoverageCurve.standardQueryCounts(upTo: 50) == [50])
    }

    @Test("Mean coverage is interpolated linearly between counts, from 0 at 0 queries, never extrapolated")
    func interpolation() {
        let curve = CoverageCurve(name: "c", hashBits: 4, tableCount: 1, hasher: .throughOrigin, rowCount: 400,
                                  queryCounts: [100, 300], perRepetition: [[0.25, 0.5], [0.5, 0.5]])
        #expect(curve.mean == [0.375, 0.5])
        #expect(curve.meanCoverage(atQueries: 0) == 0)
        #expect(curve.meanCoverage(atQueries: 50) == 0.1875)
        #expect(curve.meanCoverage(atQueries: 100) == 0.375)
        #expect(curve.meanCoverage(atQueries: 200) == 0.4375)
        #expect(curve.meanCoverage(atQueries: 300) == 0.5)
        #expect(curve.meanCoverage(atQueries: 301) == nil)
        #expect(curve.meanCoverage(atQueries: -1) == nil)
    }

    // MARK: - Errors

    @Test("Every invalid input is refused with a message naming the problem")
    func errors() throws {
        let data = gaussianMatrix(rows: 50, columns: 8, seed: 12)
        let good = CoverageExperiment(hashBits: 6, repetitions: 2, seed: seed(12))
        func expectError(_ kind: CoverageCurveError.Kind, mentioning word: String,
                         _ experiment: CoverageExperiment, data: Matrix, counts: [Int] = [10, 50]) {
            do {
                _ = try experiment.curve(name: "e", data: data, queryCounts: counts)
                Issue.record("expected \(kind)")
            } catch let error as CoverageCurveError {
                #expect(error.kind == kind)
                #expect(error.description.contains(word), "\(error.description)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        expectError(.emptyData(rows: 0, columns: 8), mentioning: "empty", good, data: Matrix(rows: 0, columns: 8))
        expectError(.emptyData(rows: 5, columns: 0), mentioning: "empty", good, data: Matrix(rows: 5, columns: 0))
        var nan = data
        nan[7, 3] = .nan
        expectError(.nonFiniteData(row: 7, column: 3), mentioning: "row 7, column 3", good, data: nan)
        var infinite = data
        infinite[49, 0] = -.infinity
        expectError(.nonFiniteData(row: 49, column: 0), mentioning: "NaN or infinite", good, data: infinite)
        expectError(.noQueryCounts, mentioning: "no query counts", good, data: data, counts: [])
        expectError(.nonPositiveQueryCount(0), mentioning: "positive", good, data: data, counts: [0, 10])
        expectError(.nonPositiveQueryCount(-5), mentioning: "positive", good, data: data, counts: [-5])
        expectError(.queryCountsNotIncreasing(previous: 20, next: 10), mentioning: "strictly increasing", good, data: data, counts: [20, 10])
        expectError(.queryCountsNotIncreasing(previous: 20, next: 20), mentioning: "strictly increasing", good, data: data, counts: [10, 20, 20])
        for k in [0, 25] {
            var bad = good
            bad.hashBits = k
            expectError(.hashBitsOutOfRange(k), mentioning: "1...24", bad, data: data)
        }
        var noTables = good
        noTables.tableCount = 0
        expectError(.invalidTableCount(0), mentioning: "tableCount", noTables, data: data)
        // More tables than an occupancy holds: refused, not trapped in the occupancy.
        noTables.tableCount = 70_000
        expectError(.invalidTableCount(70_000), mentioning: "tableCount must be in 1...65535, got 70000", noTables, data: data)
        var noRepetitions = good
        noRepetitions.repetitions = 0
        expectError(.invalidRepetitions(0), mentioning: "repetitions", noRepetitions, data: data)
        var shortCentre = good
        shortCentre.hasher = .centred(centre: [0, 0, 0])
        expectError(.centreDimension(expected: 8, actual: 3), mentioning: "centre has 3 values", shortCentre, data: data)
        var nanCentre = good
        nanCentre.hasher = .centred(centre: [0, 0, 0, .nan, 0, 0, 0, 0])
        expectError(.nonFiniteCentre, mentioning: "centre contains NaN", nanCentre, data: data)
        var wideSample = good
        wideSample.hasher = .principal(sample: gaussianMatrix(rows: 20, columns: 9, seed: 1))
        expectError(.sampleDimension(expected: 8, actual: 9), mentioning: "dimension 9", wideSample, data: data)
        // The engine's own refusal, passed on: more bits than dimensions for principal hashing.
        var tooManyBits = good
        tooManyBits.hashBits = 9
        tooManyBits.hasher = .principal(sample: gaussianMatrix(rows: 20, columns: 8, seed: 1))
        do {
            _ = try tooManyBits.curve(name: "e", data: data, queryCounts: [10])
            Issue.record("expected a principal-fit error")
        } catch let error as CoverageCurveError {
            guard case .principalFit(let message) = error.kind else { Issue.record("got \(error)"); return }
            #expect(message.contains("hashBits"), "\(message)")
        }
        var nanSample = gaussianMatrix(rows: 20, columns: 8, seed: 1)
        nanSample[2, 2] = .nan
        var badSample = good
        badSample.hasher = .principal(sample: nanSample)
        #expect(throws: CoverageCurveError.self) { try badSample.curve(name: "e", data: data, queryCounts: [10]) }
        // A stored projection must match the data and the experiment.
        let projection = try FittedProjection.principal(sample: data, hashBits: 6, tableCount: 1, seed: seed(1))
        var stored = good
        stored.hasher = .fitted(projection)
        #expect(try stored.curve(name: "e", data: data, queryCounts: [10]).hasher == .fitted)
        expectError(.projectionMismatch("has dimension 8, the data 9"), mentioning: "stored projection has dimension 8",
                    stored, data: gaussianMatrix(rows: 50, columns: 9, seed: 2))
        var otherBits = stored
        otherBits.hashBits = 7
        expectError(.projectionMismatch("has 6 bits per table, the experiment 7"), mentioning: "bits per table", otherBits, data: data)
        var otherTables = stored
        otherTables.tableCount = 2
        expectError(.projectionMismatch("has 1 tables, the experiment 2"), mentioning: "tables", otherTables, data: data)
        var truncated = projection
        truncated.thresholds.removeLast()
        stored.hasher = .fitted(truncated)
        expectError(.projectionMismatch("holds 48 normals and 5 thresholds, expected 48 and 6"), mentioning: "thresholds", stored, data: data)
        var poisoned = projection
        poisoned.normals[3] = .nan
        stored.hasher = .fitted(poisoned)
        expectError(.projectionMismatch("contains NaN or infinity"), mentioning: "NaN", stored, data: data)
        // The same checks guard hashers(dimension:).
        #expect(throws: CoverageCurveError(.centreDimension(expected: 8, actual: 3))) { try shortCentre.hashers(dimension: 8) }
    }
}
