import Defense
import Evaluation
import NumericKernels
import Testing
import TestSupport

/// A small labelled task: `classes` Gaussian clusters around random unit centres in `d`
/// dimensions, and a pool of unlabelled queries spread more widely.
struct SyntheticTask {
    let data: RemappingData

    init(d: Int = 24, classes: Int = 4, trainRows: Int = 240, testRows: Int = 120, poolRows: Int = 400, seed: UInt64 = 3) {
        let centres = gaussianMatrix(rows: classes, columns: d, seed: seed).rowsNormalized()
        func sample(_ rows: Int, _ s: UInt64) -> (Matrix, [Int]) {
            let noise = gaussianMatrix(rows: rows, columns: d, seed: s, scale: 0.35 / Float(d).squareRoot())
            let labels = (0 ..< rows).map { $0 % classes }
            return (Matrix(rows: rows, columns: d) { i, j in centres[labels[i], j] + noise[i, j] }, labels)
        }
        let (train, trainLabels) = sample(trainRows, seed &+ 1)
        let (test, testLabels) = sample(testRows, seed &+ 2)
        let pool = gaussianMatrix(rows: poolRows, columns: d, seed: seed &+ 3).rowsNormalized()
        data = RemappingData(train: train, trainLabels: trainLabels, test: test, testLabels: testLabels, queries: pool)
    }
}

private func experiment(cost: CostFunction = .none, counts: [Int], scenarios: [RemappingScenario], noise: [Bool]) throws -> SybilRemapping {
    var configuration = DefenseConfiguration()
    configuration.hashBits = 6
    configuration.cost = cost
    var e = SybilRemapping(configuration: configuration, secret: try ServerSecret(bytes: Array(repeating: 42, count: 32)))
    e.queryCounts = counts
    e.scenarios = scenarios
    e.noiseSettings = noise
    e.batchRows = 50
    return e
}

private let ridge: ClassifierTrainer = { x, y in try RidgeClassifier.fit(features: x, labels: y) }

@Suite("Sybil remapping")
struct RemappingTests {
    let task = SyntheticTask()

    @Test func linearTransformsAreRemappedExactlyOnceNExceedsTheDimension() throws {
        let linear = RemappingScenario.paper.filter { $0.name != "binary" }
        // d = 24; with 64 padded constants the source has 88 columns: n = 200 is above both.
        let points = try experiment(counts: [10, 200], scenarios: linear, noise: [false]).run(task.data, trainClassifier: ridge)
        #expect(points.count == 2 * linear.count)
        for p in points where p.queries == 200 {
            #expect(p.cosineDistance < 1e-5, "\(p.scenario): \(p.cosineDistance)")
            #expect((p.cosineDistanceInEncoderSpace ?? 1) < 1e-5, "\(p.scenario)")
            #expect(p.accuracyRemapped == p.accuracyAccount1, "\(p.scenario)")
            #expect(p.sigmaAccount1 == 0 && p.sigmaAccount2 == 0)
        }
        for p in points where p.queries == 10 {
            // Ten shared queries cannot determine a 24-dimensional map: the minimum-norm fit is used and is not exact.
            #expect(p.fit == "minimum-norm")
            #expect((p.cosineDistanceInEncoderSpace ?? 0) > 1e-3, "\(p.scenario)")
        }
    }

    @Test func binaryStaysAboveAndHasNoEncoderSpaceDistance() throws {
        let binary = RemappingScenario(name: "binary", transforms: [.binary(outputDimension: 256)])
        let points = try experiment(counts: [50, 400], scenarios: [binary], noise: [false]).run(task.data, trainClassifier: ridge)
        for p in points {
            #expect(p.cosineDistanceInEncoderSpace == nil)
            #expect(p.cosineDistance > 0.01, "n = \(p.queries): \(p.cosineDistance)")
        }
    }

    @Test func noiseKeepsDistancesAboveTheNoiselessOnes() throws {
        let cost = CostFunction.exponential(ExponentialCost(lambda: 0.01, alpha: 0.3, beta: 0.5))
        let scenarios = [RemappingScenario.paper[0], RemappingScenario.paper[1]]
        let points = try experiment(cost: cost, counts: [50, 200, 400], scenarios: scenarios, noise: [false, true])
            .run(task.data, trainClassifier: ridge)
        for scenario in scenarios {
            for n in [50, 200, 400] {
                let clean = try #require(points.first { $0.scenario == scenario.name && !$0.noise && $0.queries == n })
                let noisy = try #require(points.first { $0.scenario == scenario.name && $0.noise && $0.queries == n })
                #expect(noisy.cosineDistance > clean.cosineDistance + 1e-3, "\(scenario.name) n = \(n)")
                // Against account 1's noiseless answers the distance leaves its noise out: smaller
                // than against its noisy answers. Without noise the two measure the same.
                #expect(noisy.cosineDistanceToNoiseless < noisy.cosineDistance, "\(scenario.name) n = \(n)")
                #expect(abs(clean.cosineDistanceToNoiseless - clean.cosineDistance) < 1e-5, "\(scenario.name) n = \(n)")
                #expect(noisy.sigmaAccount1 > 0 && noisy.sigmaAccount2 > 0)
                // Coverage is tracked in both settings; only the price differs.
                #expect(noisy.coverageAccount1 == clean.coverageAccount1)
            }
        }
    }

    @Test("shared queries from the training set: only account 2 sends them, noiseless test answers are compared")
    func sharedQueriesFromTheTrainingSet() throws {
        let cost = CostFunction.exponential(ExponentialCost(lambda: 0.01, alpha: 0.3, beta: 0.5))
        let scenarios = [RemappingScenario.paper[0], RemappingScenario.paper[1]]
        var e = try experiment(cost: cost, counts: [10, 200, 5000], scenarios: scenarios, noise: [false, true])
        e.sharedQueries = .train
        #expect(e.sharedQueryRows(in: task.data) == 240)
        let points = try e.run(task.data, trainClassifier: ridge)
        // Capped by the training set's 240 rows, not the pool's 400.
        #expect(points.map(\.queries) == Array(repeating: [10, 200, 240], count: 4).flatMap { $0 })
        for p in points {
            // The test set is compared noiseless: both distances are the same one.
            #expect(p.cosineDistance == p.cosineDistanceToNoiseless, "\(p.scenario) n = \(p.queries)")
            // Account 1 sends its training set and nothing else, whatever n.
            #expect(p.coverageAccount1 == points[0].coverageAccount1, "\(p.scenario) n = \(p.queries)")
        }
        for p in points where p.queries == 240 {
            // Account 2 then sent exactly the training set too.
            #expect(p.coverageAccount2 == p.coverageAccount1, "\(p.scenario)")
        }
        // The shared rows are the training set's first n, in order: account 2's coverage at
        // n = 10 is that of rows 0..<10 (the hyperplanes depend on the secret alone).
        var configuration = e.configuration
        configuration.dimension = task.data.train.columns
        let reference = try B4BDefense(configuration: configuration, secret: e.secret)
        _ = try reference.track(task.data.train.rows(0 ..< 10).copy(), user: "first-ten")
        for p in points where p.queries == 10 {
            #expect(p.coverageAccount2 == reference.coverage(of: "first-ten"), "\(p.scenario)")
        }
        for scenario in scenarios {
            let clean = try #require(points.first { $0.scenario == scenario.name && !$0.noise && $0.queries == 200 })
            let noisy = try #require(points.first { $0.scenario == scenario.name && $0.noise && $0.queries == 200 })
            #expect(clean.cosineDistance < 1e-5 && clean.accuracyRemapped == clean.accuracyAccount1, "\(scenario.name)")
            // A mapper fitted on noisy answers misses the noiseless ones.
            #expect(noisy.sigmaAccount1 > 0 && noisy.sigmaAccount2 > 0, "\(scenario.name)")
            #expect(noisy.cosineDistance > clean.cosineDistance + 1e-4, "\(scenario.name)")
        }
        // The pool's protocol on the same settings: account 1 also sends the shared queries.
        e.sharedQueries = .pool
        let pool = try e.run(task.data, trainClassifier: ridge)
        #expect(pool.first { $0.queries == 200 }!.coverageAccount1 > points[0].coverageAccount1)
    }

    @Test func queryCountsAreCappedSortedAndUnique() throws {
        let e = try experiment(counts: [5000, 10, 400, 10], scenarios: [RemappingScenario.paper[0]], noise: [false])
        #expect(e.effectiveQueryCounts(available: 400) == [10, 400])
        let points = try e.run(task.data, trainClassifier: ridge)
        #expect(points.map(\.queries) == [10, 400])
    }

    @Test func sameSecretSameResult() throws {
        let e = try experiment(counts: [30], scenarios: [RemappingScenario.paper[2]], noise: [true])
        let a = try e.run(task.data, trainClassifier: ridge)
        let b = try e.run(task.data, trainClassifier: ridge)
        #expect(a == b)
    }

    @Test func badInputIsRefusedWithAMessage() throws {
        let e = try experiment(counts: [10], scenarios: [RemappingScenario.paper[0]], noise: [false])
        var data = task.data
        data.trainLabels.removeLast()
        #expect(throws: RemappingError.self) { try e.run(data, trainClassifier: ridge) }

        data = task.data
        data.queries = gaussianMatrix(rows: 20, columns: 7, seed: 1)
        let error = #expect(throws: RemappingError.self) { try e.run(data, trainClassifier: ridge) }
        #expect(error?.description.contains("dimensions differ") == true)

        var empty = e
        empty.queryCounts = []
        #expect(throws: RemappingError.self) { try empty.run(task.data, trainClassifier: ridge) }
        empty.queryCounts = [0]
        #expect(throws: RemappingError.self) { try empty.run(task.data, trainClassifier: ridge) }
    }
}

@Suite("Affine inverse")
struct AffineInverseTests {
    private func pipeline(_ kinds: [TransformKind], d: Int) -> TransformPipeline {
        var seed = RandomSeed(9, 8, 7, 6)
        var stages: [any RepresentationTransform] = []
        var dimension = d
        for kind in kinds {
            seed = seed.mixed(with: 1)
            stages.append(kind.make(inputDimension: dimension, seed: seed, unitScale: 1, centre: nil))
            dimension = kind.outputDimension(forInput: dimension)
        }
        return TransformPipeline(stages: stages, inputDimension: d)
    }

    @Test(arguments: [
        [TransformKind.affine()], [.scaleShift()], [.pad(count: 5)], [.addConstants(count: 3)], [.shuffle],
        [.affine(), .pad(count: 7), .shuffle],
    ])
    func undoesAffinePipelines(_ kinds: [TransformKind]) throws {
        let d = 12
        let transform = pipeline(kinds, d: d)
        let inverse = try AffineInverse(of: transform)
        let x = gaussianMatrix(rows: 30, columns: d, seed: 5)
        let recovered = try inverse.undo(transform.apply(x))
        let worst = zip(recovered.elements, x.elements).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-4)
    }

    @Test func refusesBinary() {
        let transform = pipeline([.binary(outputDimension: 64)], d: 12)
        #expect(throws: AffineInverseError.self) { try AffineInverse(of: transform) }
    }
}
