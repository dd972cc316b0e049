import Defense
import NumericKernels

/// A defense an experiment compares: none, B4B with a configuration, or the static-noise
/// baseline (the same Gaussian noise for everyone, whatever their coverage; no transform).
public struct DefenseSetting: Sendable {
    /// Name used in reports (`none`, `b4b`, `static σ=0.1`).
    public var name: String
    /// The defense's configuration; nil means answers are the encoder's own.
    public var configuration: DefenseConfiguration?

    public init(name: String, configuration: DefenseConfiguration?) {
        self.name = name
        self.configuration = configuration
    }

    /// No defense.
    public static let none = DefenseSetting(name: "none", configuration: nil)

    /// The static-noise baseline: constant `sigma` (representation units) on every answer,
    /// no transform, for representations of dimension `dimension`.
    public static func staticNoise(sigma: Float, dimension: Int) -> DefenseSetting {
        var c = DefenseConfiguration()
        c.dimension = dimension
        c.cost = .constant(sigma: sigma)
        c.transforms = []
        return DefenseSetting(name: "static σ=\(sigma)", configuration: c)
    }
}

/// What a legitimate user gets out of the API under one defense (the paper's Table 6 design).
public struct LegitimateUseResult: Sendable, Codable, Equatable {
    public var task: String
    public var defense: String
    /// Test accuracy (fraction) of a probe trained on the user's answers for the training
    /// texts and evaluated on its answers for the test texts.
    public var accuracy: Double
    /// The user's coverage (fraction of buckets) after all its queries (0 without a defense).
    public var coverage: Double
    /// The noise standard deviation of the user's last answer (representation units).
    public var sigma: Double
}

/// A legitimate user of one downstream task: it sends its task's training rows and then its
/// test rows through its own account, trains a probe on the answers for the training rows
/// and measures it on the answers for the test rows. Without a defense the answers are the
/// encoder's representations.
public struct LegitimateUse: Sendable {
    /// The server secret of the defenses.
    public var secret: ServerSecret
    /// Rows per request.
    public var requestRows: Int = 256
    /// The account id the user queries under.
    public var user: String = "legitimate"

    public init(secret: ServerSecret) {
        self.secret = secret
    }

    /// Measures one task under one defense.
    /// - Throws: ``RemappingError`` for inconsistent data, the defense's and the probe's errors.
    public func measure(
        task: String, train: Matrix, trainLabels: [Int], test: Matrix, testLabels: [Int],
        defense setting: DefenseSetting, trainClassifier: ClassifierTrainer
    ) throws -> LegitimateUseResult {
        guard train.rows == trainLabels.count, test.rows == testLabels.count else {
            throw RemappingError("\(task): \(trainLabels.count) labels for \(train.rows) train rows, \(testLabels.count) for \(test.rows) test rows")
        }
        guard train.columns == test.columns else {
            throw RemappingError("\(task): train has \(train.columns) columns, test \(test.columns)")
        }
        guard requestRows >= 1 else { throw RemappingError("request rows must be at least 1, got \(requestRows)") }
        guard let defense = try setting.makeDefense(dimension: train.columns, requestRows: requestRows, secret: secret) else {
            let model = try trainClassifier(train, trainLabels)
            return LegitimateUseResult(task: task, defense: setting.name,
                                       accuracy: accuracy(try model.predict(test), testLabels), coverage: 0, sigma: 0)
        }
        let trainAnswers = try defense.answers(train, user: user, requestRows: requestRows)
        let testAnswers = try defense.answers(test, user: user, requestRows: requestRows)
        let model = try trainClassifier(trainAnswers.representations, trainLabels)
        return LegitimateUseResult(
            task: task, defense: setting.name,
            accuracy: accuracy(try model.predict(testAnswers.representations), testLabels),
            coverage: defense.coverage(of: user), sigma: Double(testAnswers.sigma.last ?? 0))
    }
}
