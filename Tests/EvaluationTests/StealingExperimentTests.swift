import Defense
import Evaluation
import Numerics
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
        e.surrogateLambda = 1e-3
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
        #expect(abs(noisy[1].sigma - 8) < 1e-5)
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
