import Defense
import Evaluation
import NumericKernels
import Testing
import TestSupport

/// A world where the encoder is an exact linear function of the thief's features, so a
/// surrogate can be perfect without a defense.
private func linearWorld(poolRows: Int = 1200, features f: Int = 20, d: Int = 8) -> StealingData {
    let w = gaussianMatrix(rows: f, columns: d, seed: 70)
    let pool = gaussianMatrix(rows: poolRows, columns: f, seed: 71)
    // Task texts: three clusters in feature space.
    let centres = gaussianMatrix(rows: 3, columns: f, seed: 72, scale: 2)
    func task(_ rows: Int, _ seed: UInt64) -> (Matrix, [Int]) {
        let noise = gaussianMatrix(rows: rows, columns: f, seed: seed, scale: 0.5)
        let labels = (0 ..< rows).map { $0 % 3 }
        return (Matrix(rows: rows, columns: f) { i, j in centres[labels[i], j] + noise[i, j] }, labels)
    }
    let (train, trainLabels) = task(300, 73)
    let (test, testLabels) = task(150, 74)
    return StealingData(poolFeatures: pool, poolRepresentations: Matrix.product(pool, w),
                        taskTrainFeatures: train, taskTrainRepresentations: Matrix.product(train, w), taskTrainLabels: trainLabels,
                        taskTestFeatures: test, taskTestRepresentations: Matrix.product(test, w), taskTestLabels: testLabels)
}

@Suite("Single-account stealing")
struct StealingExperimentTests {
    private let data = linearWorld()
    private let ridge: ClassifierTrainer = { x, y in try RidgeClassifier.fit(features: x, labels: y) }

    private func experiment(_ budgets: [Int]) -> SingleAccountStealing {
        var e = SingleAccountStealing(secret: try! ServerSecret(bytes: Array(repeating: 5, count: 32)))
        e.budgets = budgets
        e.heldOut = 200
        e.surrogateLambdas = [1e-3, 1, 100]
        return e
    }

    private func quiet(transforms: [TransformKind]) -> DefenseSetting {
        var c = DefenseConfiguration()
        c.cost = .none
        c.hashBits = 6
        c.transforms = transforms
        return DefenseSetting(name: "transforms only", configuration: c)
    }

    @Test func withoutADefenseALinearEncoderIsCopiedExactly() throws {
        let points = try experiment([100, 5000]).run(data, defense: .none, trainClassifier: ridge)
        #expect(points.map(\.queries) == [100, 1000])  // capped at 1200 - 200 held out
        for p in points {
            #expect(p.fidelity > 0.999, "\(p)")
            #expect(p.centredFidelity > 0.999, "\(p)")
            #expect(p.meanAnswerFidelity < 0.5, "\(p)")
            #expect(p.lambda == Double(Float(1e-3)))  // noiseless exact targets: the least penalty wins
            #expect(p.coverage == 0 && p.sigma == 0)
        }
        let clean = try RidgeClassifier.fit(features: data.taskTrainRepresentations, labels: data.taskTrainLabels)
            .accuracy(data.taskTestRepresentations, labels: data.taskTestLabels)
        #expect(points[1].dropInAccuracy == clean)
    }

    @Test func aSingleAccountsTransformIsNoObstacleInItsOwnSpace() throws {
        let points = try experiment([500]).run(data, defense: quiet(transforms: [.affine(), .pad(count: 4), .shuffle]), trainClassifier: ridge)
        #expect(points[0].fidelity > 0.999, "\(points[0])")
        #expect(points[0].coverage > 0)
    }

    @Test func staticNoiseLowersFidelityAndMoreQueriesWinItBack() throws {
        let none = try experiment([100, 1000]).run(data, defense: .none, trainClassifier: ridge)
        // Representations here have per-dimension scale about sqrt(20) = 4.5.
        let noisy = try experiment([100, 1000]).run(data, defense: .staticNoise(sigma: 8, dimension: 8), trainClassifier: ridge)
        #expect(noisy[0].fidelity < none[0].fidelity - 0.05, "\(noisy[0].fidelity) vs \(none[0].fidelity)")
        #expect(noisy[1].fidelity > noisy[0].fidelity, "\(noisy.map(\.fidelity))")
        // Against noisy answers the thief regularises more.
        #expect(noisy[0].lambda > 1e-3, "\(noisy[0].lambda)")
        #expect(abs(noisy[1].sigma - 8) < 1e-5)
    }

    /// One run over several settings shares one solver per budget; each setting's points must
    /// be those of a run with that setting alone.
    @Test func severalSettingsInOneRunMatchSeparateRuns() throws {
        let settings: [DefenseSetting] = [.none, .staticNoise(sigma: 2, dimension: 8)]
        let together = try experiment([100, 600]).run(data, settings: settings, trainClassifier: ridge)
        #expect(together.map(\.defense) == ["none", settings[1].name, "none", settings[1].name])
        for setting in settings {
            let alone = try experiment([100, 600]).run(data, defense: setting, trainClassifier: ridge)
            #expect(together.filter { $0.defense == setting.name } == alone)
        }
    }

    /// A padding thief spends its budget on fewer distinct texts: with the same secret it
    /// occupies exactly the buckets of a plain thief with half the budget, and (no noise here)
    /// its copy is still exact.
    @Test func paddingSpendsTheBudgetOnRepeatsOfOneText() throws {
        var padded = experiment([400, 1000])
        padded.padding = 2
        let setting = quiet(transforms: [.affine()])
        let points = try padded.run(data, defense: setting, trainClassifier: ridge)
        #expect(points.map(\.queries) == [400, 1000])
        #expect(points.map(\.distinctTexts) == [200, 500])
        #expect(points.allSatisfy { $0.padding == 2 && $0.fidelity > 0.999 })
        let plain = try experiment([200, 500]).run(data, defense: setting, trainClassifier: ridge)
        #expect(points.map(\.coverage) == plain.map(\.coverage))
        var bad = experiment([100])
        bad.padding = 0
        #expect(throws: RemappingError.self) { try bad.run(data, defense: .none, trainClassifier: ridge) }
    }

    @Test func inconsistentDataIsRefused() {
        var bad = data
        bad.poolRepresentations = gaussianMatrix(rows: 10, columns: 8, seed: 1)
        #expect(throws: RemappingError.self) { try experiment([10]).run(bad, defense: .none, trainClassifier: ridge) }
        bad = data
        bad.taskTestLabels.removeLast()
        #expect(throws: RemappingError.self) { try experiment([10]).run(bad, defense: .none, trainClassifier: ridge) }
        var e = experiment([10])
        e.heldOut = 1200
        #expect(throws: RemappingError.self) { try e.run(data, defense: .none, trainClassifier: ridge) }
        #expect(throws: RemappingError.self) { try experiment([]).run(data, defense: .none, trainClassifier: ridge) }
    }
}

@Suite("Surrogate lambda selection")
struct SurrogateSelectionTests {
    @Test func validationErrorsMatchSeparateFitsAndTheBestIsChosen() throws {
        let x = gaussianMatrix(rows: 300, columns: 12, seed: 80)
        let w = gaussianMatrix(rows: 12, columns: 5, seed: 81)
        let noise = gaussianMatrix(rows: 300, columns: 5, seed: 82, scale: 3)
        let clean = Matrix.product(x, w)
        let y = Matrix(rows: 300, columns: 5) { i, j in clean[i, j] + noise[i, j] }
        let lambdas: [Float] = [0.01, 1, 30, 1000]
        let (surrogate, errors) = try RidgeSurrogate.fitSelectingLambda(features: x, representations: y, lambdas: lambdas)
        #expect(errors.count == 4)
        // Each candidate's error, recomputed by an independent fit (Cholesky) on the first 270 rows.
        for (k, lambda) in lambdas.enumerated() {
            let part = try RidgeSurrogate.fit(features: x.rows(0 ..< 270).copy(), representations: y.rows(0 ..< 270).copy(), lambda: lambda)
            let p = part.predict(features: x.rows(270 ..< 300).copy())
            var total = 0.0
            for i in 0 ..< 30 { for j in 0 ..< 5 { let e = Double(p[i, j] - y[270 + i, j]); total += e * e } }
            #expect(abs(errors[k] - total / 30) <= 1e-3 * total / 30, "lambda \(lambda): \(errors[k]) vs \(total / 30)")
        }
        let best = errors.indices.min { errors[$0] < errors[$1] }!
        #expect(surrogate.lambda == lambdas[best])
        // The refit uses every row.
        let full = try RidgeSurrogate.fit(features: x, representations: y, lambda: lambdas[best])
        expectClose(surrogate.mapper, full.mapper)
    }

    /// The solver assembles the refit's Gram and cross products from the training and
    /// validation parts; with features far from centred (and different means in the two
    /// parts) the correction terms matter, so check them against a plain fit on every row,
    /// for two sets of answers fitted by one solver.
    @Test func oneSolverFitsSeveralAnswerSetsLikeSeparateFits() throws {
        let raw = gaussianMatrix(rows: 200, columns: 10, seed: 90)
        let x = Matrix(rows: 200, columns: 10) { i, j in raw[i, j] + 3 + Float(j) + (i >= 180 ? 2 : 0) }
        let solver = try RidgeSurrogateSolver(features: x, lambdas: [0.5, 5, 50])
        #expect(solver.validationCount == 20)
        for seed in [91, 92] as [UInt64] {
            let w = gaussianMatrix(rows: 10, columns: 4, seed: seed)
            let noise = gaussianMatrix(rows: 200, columns: 4, seed: seed + 10, scale: 0.5)
            let clean = Matrix.product(x, w)
            let y = Matrix(rows: 200, columns: 4) { i, j in clean[i, j] + noise[i, j] + 7 }
            let (surrogate, errors) = try solver.fit(representations: y)
            #expect(errors.count == 3)
            expectClose(surrogate.mapper, try RidgeSurrogate.fit(features: x, representations: y, lambda: surrogate.lambda).mapper)
        }
        #expect(throws: SurrogateError.self) { try solver.fit(representations: gaussianMatrix(rows: 199, columns: 4, seed: 1)) }
    }

    private func expectClose(_ a: LinearMapper, _ b: LinearMapper, sourceLocation: SourceLocation = #_sourceLocation) {
        let scale = b.weights.elements.map(abs).max() ?? 1
        let weightGap = zip(a.weights.elements, b.weights.elements).map { abs($0 - $1) }.max() ?? 0
        let biasScale = b.bias.map(abs).max() ?? 1
        let biasGap = zip(a.bias, b.bias).map { abs($0 - $1) }.max() ?? 0
        #expect(weightGap <= 1e-3 * scale, "weights differ by \(weightGap) (scale \(scale))", sourceLocation: sourceLocation)
        #expect(biasGap <= 1e-3 * biasScale, "biases differ by \(biasGap) (scale \(biasScale))", sourceLocation: sourceLocation)
    }

    @Test func badCandidatesAreRefused() {
        let x = gaussianMatrix(rows: 50, columns: 3, seed: 1), y = gaussianMatrix(rows: 50, columns: 2, seed: 2)
        #expect(throws: SurrogateError.self) { try RidgeSurrogate.fitSelectingLambda(features: x, representations: y, lambdas: []) }
        #expect(throws: SurrogateError.self) { try RidgeSurrogate.fitSelectingLambda(features: x, representations: y, lambdas: [1, -1]) }
        #expect(throws: SurrogateError.self) { try RidgeSurrogate.fitSelectingLambda(features: x, representations: y, lambdas: [1, .nan]) }
        #expect(throws: SurrogateError.self) {
            try RidgeSurrogate.fitSelectingLambda(features: x, representations: y, lambdas: [1, 2], validationFraction: 1)
        }
        #expect(throws: SurrogateError.self) {
            try RidgeSurrogate.fitSelectingLambda(features: x.rows(0 ..< 2).copy(), representations: y.rows(0 ..< 2).copy(), lambdas: [1, 2])
        }
    }
}

@Suite("Sybil stealing")
struct SybilStealingTests {
    private let data = linearWorld(poolRows: 1500)
    private let ridge: ClassifierTrainer = { x, y in try RidgeClassifier.fit(features: x, labels: y) }

    private func experiment() -> SybilStealing {
        var e = SybilStealing(secret: try! ServerSecret(bytes: Array(repeating: 6, count: 32)))
        e.budgets = [150, 900]
        e.accountCounts = [1, 3]
        e.sharedQueries = 100
        e.heldOut = 200
        e.surrogateLambdas = [1e-3, 1]
        return e
    }

    @Test func transformedAccountsAreRemappedAndPooled() throws {
        var c = DefenseConfiguration()
        c.cost = .none
        c.hashBits = 6
        c.transforms = [.affine(), .pad(count: 4), .shuffle]
        let points = try experiment().run(data, defense: DefenseSetting(name: "transforms only", configuration: c), trainClassifier: ridge)
        // k = 3 cannot pay 3 x 100 shared queries from 150: that point is skipped.
        #expect(points.map { "\($0.accounts)x\($0.queries)" } == ["1x150", "1x900", "3x900"])
        let pooled = try #require(points.last)
        #expect(pooled.distinctTexts == 100 + 600)
        // 100 shared queries exceed the 8 + 4 + 1 columns of the mapping: the remapping is exact.
        #expect(pooled.fidelity > 0.999, "\(pooled)")
        #expect(pooled.maxCoverage > 0 && pooled.maxSigma == 0)
    }

    @Test func noiseOnEveryAccountCostsFidelity() throws {
        var c = DefenseConfiguration()
        c.cost = .constant(sigma: 6)
        c.hashBits = 6
        c.transforms = [.affine()]
        let noisy = try experiment().run(data, defense: DefenseSetting(name: "noise", configuration: c), trainClassifier: ridge)
        let clean = try experiment().run(data, defense: .none, trainClassifier: ridge)
        for (a, b) in zip(noisy, clean) { #expect(a.fidelity < b.fidelity - 0.02, "\(a.fidelity) vs \(b.fidelity)") }
    }

    /// Several settings in one run share the features' solver per point; each setting's points
    /// must be those of a run with that setting alone.
    @Test func severalSettingsInOneRunMatchSeparateRuns() throws {
        var c = DefenseConfiguration()
        c.cost = .constant(sigma: 3)
        c.hashBits = 6
        let settings: [DefenseSetting] = [.none, DefenseSetting(name: "noise", configuration: c)]
        let together = try experiment().run(data, settings: settings, trainClassifier: ridge)
        #expect(together.count == 6)
        for setting in settings {
            #expect(together.filter { $0.defense == setting.name } == (try experiment().run(data, defense: setting, trainClassifier: ridge)))
        }
        #expect(throws: RemappingError.self) { try experiment().run(data, settings: [], trainClassifier: ridge) }
    }

    @Test func impossibleSplitsAreRefused() {
        var e = experiment()
        e.sharedQueries = 1400
        #expect(throws: RemappingError.self) { try e.run(data, defense: .none, trainClassifier: ridge) }
        e = experiment()
        e.accountCounts = [0]
        #expect(throws: RemappingError.self) { try e.run(data, defense: .none, trainClassifier: ridge) }
    }
}
