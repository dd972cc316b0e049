import Defense
import Evaluation
import NumericKernels
import Testing
import TestSupport

@Suite("Legitimate use")
struct LegitimateUseTests {
    private let data = SyntheticTask(d: 24, classes: 4, trainRows: 400, testRows: 200).data
    private let ridge: ClassifierTrainer = { x, y in try RidgeClassifier.fit(features: x, labels: y) }
    private let experiment = LegitimateUse(secret: try! ServerSecret(bytes: Array(repeating: 9, count: 32)))

    private func measure(_ setting: DefenseSetting) throws -> LegitimateUseResult {
        try experiment.measure(task: "t", train: data.train, trainLabels: data.trainLabels, test: data.test,
                               testLabels: data.testLabels, defense: setting, trainClassifier: ridge)
    }

    @Test func withoutADefenseItIsTheProbeOnTheEncodersRepresentations() throws {
        let result = try measure(.none)
        let direct = try RidgeClassifier.fit(features: data.train, labels: data.trainLabels).accuracy(data.test, labels: data.testLabels)
        #expect(result.accuracy == direct)
        #expect(result.coverage == 0 && result.sigma == 0)
        #expect(result.accuracy > 0.9)
    }

    @Test func aDefenseWithoutNoiseOrTransformAnswersTheRepresentationsThemselves() throws {
        var c = DefenseConfiguration()
        c.cost = .none
        c.transforms = []
        c.hashBits = 6
        let result = try measure(DefenseSetting(name: "identity", configuration: c))
        #expect(result.accuracy == (try measure(.none)).accuracy)
        #expect(result.coverage > 0)
    }

    @Test func transformsKeepUtilityAndStaticNoiseCostsItInProportion() throws {
        let clean = try measure(.none).accuracy
        var c = DefenseConfiguration()
        c.cost = .none
        c.hashBits = 6
        c.transforms = [.affine(), .pad(), .shuffle]
        #expect(abs(try measure(DefenseSetting(name: "transforms", configuration: c)).accuracy - clean) <= 0.02)

        // Rows are unit vectors with class noise of norm 0.35: per-dimension noise of 0.01 is
        // negligible, of 1.0 (norm ~5) destroys the classes.
        let small = try measure(.staticNoise(sigma: 0.01, dimension: 24))
        let large = try measure(.staticNoise(sigma: 1.0, dimension: 24))
        #expect(abs(small.accuracy - clean) <= 0.02)
        #expect(large.accuracy < clean - 0.3, "\(large.accuracy) vs \(clean)")
        #expect(abs(large.sigma - 1.0) < 1e-6)
    }

    @Test func inconsistentDataIsRefused() {
        #expect(throws: RemappingError.self) {
            try experiment.measure(task: "t", train: data.train, trainLabels: Array(data.trainLabels.dropLast()),
                                   test: data.test, testLabels: data.testLabels, defense: .none, trainClassifier: ridge)
        }
        #expect(throws: RemappingError.self) {
            try experiment.measure(task: "t", train: data.train, trainLabels: data.trainLabels,
                                   test: gaussianMatrix(rows: 200, columns: 5, seed: 1), testLabels: data.testLabels,
                                   defense: .none, trainClassifier: ridge)
        }
    }
}
