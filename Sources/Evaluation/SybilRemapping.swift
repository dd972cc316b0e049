import Defense
import NumericKernels

/// A classifier trained on representations: the reference classifier of the remapping
/// protocol, which must still recognise remapped representations if the remapping works.
public protocol RepresentationClassifier: Sendable {
    /// One class index per row of `x`.
    func predict(_ x: Matrix) throws -> [Int]
}

/// Trains a ``RepresentationClassifier`` on representations and their labels.
public typealias ClassifierTrainer = @Sendable (_ representations: Matrix, _ labels: [Int]) throws -> any RepresentationClassifier

/// One per-user transform setting compared by the remapping protocol.
public struct RemappingScenario: Sendable, Equatable {
    /// Short name used in tables and legends (`affine`, `pad+shuffle`, ...).
    public var name: String
    /// The transform pipeline every account gets (each with its own secret parameters).
    public var transforms: [TransformKind]

    public init(name: String, transforms: [TransformKind]) {
        self.name = name
        self.transforms = transforms
    }

    /// The four settings of the paper's Figure 5: dense affine, pad+shuffle,
    /// affine+pad+shuffle and binary, with the engine's default parameters (which are not the
    /// authors' code's: its affine is per-dimension with scales in [-1, 1], its padding `d`
    /// constants, its binary `2d` bits; see the README's departures from the paper's code).
    public static let paper: [RemappingScenario] = [
        RemappingScenario(name: "affine", transforms: [.affine()]),
        RemappingScenario(name: "pad+shuffle", transforms: [.pad(), .shuffle]),
        RemappingScenario(name: "affine+pad+shuffle", transforms: [.affine(), .pad(), .shuffle]),
        RemappingScenario(name: "binary", transforms: [.binary()]),
    ]
}

/// Where the `n` shared queries a sybil sends through both accounts come from, and how the
/// remapping is then scored.
public enum SharedQuerySource: String, Sendable, Codable, CaseIterable {
    /// `n` rows of ``RemappingData/queries`` (a public pool, in a seeded random order), sent by
    /// both accounts after account 1's training queries; both accounts then send the test set,
    /// and their answers are compared as the API gave them (noise included), and account 1's
    /// also without its noise.
    case pool
    /// The authors' code's protocol: the first `n` rows of the task's training set, in the
    /// order account 1 sent them (so the rows it answered at its lowest coverage), which only
    /// account 2 then sends (account 1's answers to them are the ones it already got); the
    /// test set is not sent, and each account's noiseless answers to it (its transform on the
    /// clean test rows) are compared, so the distance measures what the mapper learnt from
    /// noisy training answers.
    case train
}

/// How the remapping's linear mapper is fitted for each `n`.
public enum RemappingFit: Sendable, Equatable {
    /// ``LinearMapper/fitAutomatically(source:target:)``: QR least squares above the
    /// dimension, the minimum-norm solution at or below it.
    case automatic
    /// One fixed method for every `n`.
    case fixed(MapperFit)
}

/// The data of one remapping run: a downstream task (train and test representations of the
/// encoder, with labels) and a pool of queries from which the sybil draws the overlapping
/// queries it sends through both accounts to fit the mapper. All are raw encoder outputs
/// (`rows x d`); the protocol sends them through the defense itself.
public struct RemappingData: Sendable {
    public var train: Matrix
    public var trainLabels: [Int]
    public var test: Matrix
    public var testLabels: [Int]
    /// The overlap pool (the thief's queries).
    public var queries: Matrix

    public init(train: Matrix, trainLabels: [Int], test: Matrix, testLabels: [Int], queries: Matrix) {
        self.train = train
        self.trainLabels = trainLabels
        self.test = test
        self.testLabels = testLabels
        self.queries = queries
    }
}

/// One measured point of a remapping curve.
public struct RemappingPoint: Sendable, Codable, Equatable {
    /// ``RemappingScenario/name``.
    public var scenario: String
    /// Whether the B4B noise was on (off: the cost is ``CostFunction/none``).
    public var noise: Bool
    /// Overlapping queries the mapper was fitted on.
    public var queries: Int
    /// The fit actually used (`least-squares`, `minimum-norm`, `ridge(λ)`).
    public var fit: String
    /// Mean cosine distance (1 − cos) between account 1's test representations and account
    /// 2's remapped into account 1's space, in the transformed space (the paper's measure):
    /// the answers the accounts got with ``SharedQuerySource/pool``, their noiseless answers
    /// with ``SharedQuerySource/train``.
    public var cosineDistance: Double
    /// The same distance after undoing account 1's transform on both (``AffineInverse``);
    /// `nil` when the transform is not invertible (binary).
    public var cosineDistanceInEncoderSpace: Double?
    /// Mean cosine distance between account 2's remapped test representations and account 1's
    /// *noiseless* ones (account 1's transform applied to the clean test rows): the remapping's
    /// own error. With ``SharedQuerySource/pool`` and noise on, ``cosineDistance`` also counts
    /// account 1's noise, which grows with its coverage; this one does not. Without noise, or
    /// with ``SharedQuerySource/train``, the two are the same (up to rounding).
    public var cosineDistanceToNoiseless: Double
    /// Accuracy (fraction) of the reference classifier, trained on account 1's training
    /// representations, on account 2's remapped test representations.
    public var accuracyRemapped: Double
    /// The same classifier's accuracy on account 1's own test representations (the ceiling):
    /// its answers with ``SharedQuerySource/pool``, its noiseless ones with
    /// ``SharedQuerySource/train``.
    public var accuracyAccount1: Double
    /// Coverage (fraction of buckets) of each account after the run.
    public var coverageAccount1: Double
    public var coverageAccount2: Double
    /// Noise standard deviation (representation units) of each account's last test row with
    /// ``SharedQuerySource/pool``; with ``SharedQuerySource/train``, which sends no test rows,
    /// of account 1's last training row and account 2's last shared query.
    public var sigmaAccount1: Float
    public var sigmaAccount2: Float
}

/// An input the remapping protocol refuses.
public struct RemappingError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "remapping: \(message)" }
}

/// The sybil remapping protocol after the paper's Figure 13 (its mapper is the closed-form
/// least-squares optimum of the linear network the authors' code trains with Adam).
///
/// For each scenario, noise setting and `n`, a fresh defense (one server secret, so the
/// same accounts get the same transforms throughout) serves two accounts:
/// 1. account 1 queries the task's training set; the reference classifier is trained on
///    its answers;
/// 2. `n` shared queries (nested: the first `n` of the pool in one random order, or of the
///    training set in its order; ``sharedQueries``) go through both accounts, and a ``LinearMapper`` from
///    account 2's answers to account 1's is fitted on them;
/// 3. account 2's answers to the task's test set are remapped and compared with account 1's
///    (cosine distance, in the transformed space and, where the transform is affine, in the
///    encoder's space) and fed to the reference classifier: answers the accounts get from
///    the defense with ``SharedQuerySource/pool``, noiseless ones with
///    ``SharedQuerySource/train``.
///
/// With noise on, every query is priced by the account's coverage at that time, so a
/// larger `n` also means more noise: that is the price of the remapping.
public struct SybilRemapping: Sendable {
    /// The defense settings other than the transforms (hasher, calibration, units, cost);
    /// ``DefenseConfiguration/dimension`` is set from the data.
    public var configuration: DefenseConfiguration
    /// The transform settings compared.
    public var scenarios: [RemappingScenario] = RemappingScenario.paper
    /// The overlap sizes `n`; values above the shared queries' source's rows are capped to it.
    public var queryCounts: [Int] = [100, 250, 500, 1000, 2500, 5000, 10000]
    /// Where the shared queries come from, and how the remapping is scored.
    public var sharedQueries: SharedQuerySource = .pool
    /// Noise settings run (`false`: transforms only; `true`: the configuration's cost).
    public var noiseSettings: [Bool] = [false, true]
    /// How the mapper is fitted.
    public var fit: RemappingFit = .automatic
    /// Rows per request sent to the defense. The experiment's defenses take requests of this
    /// size even above `configuration.maxBatchRows` (a serving limit on request size, which
    /// does not change any answer: a request of `B` rows is answered as its rows would be one
    /// by one), so the limit is raised to it for the experiment's own defenses.
    public var batchRows: Int = 256
    /// The server secret the accounts' transforms and noise derive from.
    public var secret: ServerSecret
    /// Seed of the order in which the pool's shared queries are drawn (the training set's are
    /// taken in order).
    public var sampleSeed: RandomSeed = RandomSeed(2023, 5, 13, 0)

    public init(configuration: DefenseConfiguration, secret: ServerSecret) {
        self.configuration = configuration
        self.secret = secret
    }

    /// The overlap sizes actually run for a pool of `available` queries: capped, sorted, unique.
    public func effectiveQueryCounts(available: Int) -> [Int] {
        Array(Set(queryCounts.map { min($0, available) })).sorted()
    }

    /// Rows of `data` the shared queries are drawn from (``sharedQueries``'s source).
    public func sharedQueryRows(in data: RemappingData) -> Int {
        sharedQueries == .pool ? data.queries.rows : data.train.rows
    }

    /// Number of points ``run(_:trainClassifier:progress:)`` measures with `available`
    /// rows to draw shared queries from (``sharedQueryRows(in:)``).
    public func pointCount(available: Int) -> Int {
        scenarios.count * noiseSettings.count * effectiveQueryCounts(available: available).count
    }

    /// Runs every scenario, noise setting and `n`; calls `progress` after each point.
    /// - Throws: ``RemappingError`` for inconsistent data or settings, ``ConfigurationError``
    ///   for an invalid defense configuration, and the mapper's or classifier's errors.
    public func run(
        _ data: RemappingData,
        trainClassifier: ClassifierTrainer,
        progress: (RemappingPoint) -> Void = { _ in }
    ) throws -> [RemappingPoint] {
        try validate(data)
        let source = sharedQueries == .pool ? data.queries : data.train
        let counts = effectiveQueryCounts(available: source.rows)
        var order = Array(0 ..< source.rows)
        if sharedQueries == .pool {
            var generator = RandomGenerator(seed: sampleSeed)
            order.shuffle(using: &generator)
        }
        let largest = counts.last ?? 0
        let shared = Array(order.prefix(largest))
        let overlap = Matrix(rows: largest, columns: source.columns) { i, j in source[shared[i], j] }

        var points: [RemappingPoint] = []
        for scenario in scenarios {
            for noise in noiseSettings {
                var settings = configuration
                settings.dimension = data.train.columns
                settings.transforms = scenario.transforms
                settings.maxBatchRows = max(settings.maxBatchRows, batchRows)
                if !noise { settings.cost = .none }
                var account1: TrainingAnswers?
                for n in counts {
                    let point = try measure(
                        scenario: scenario.name, noise: noise, n: n, settings: settings,
                        data: data, overlap: overlap.rows(0 ..< n).copy(), shared: Array(shared.prefix(n)),
                        account1: &account1, trainClassifier: trainClassifier)
                    points.append(point)
                    progress(point)
                }
            }
        }
        return points
    }

    private func validate(_ data: RemappingData) throws {
        let d = data.train.columns
        guard data.train.rows > 0, data.test.rows > 0, data.queries.rows > 0 else {
            throw RemappingError("train, test and query sets must each have at least one row (got \(data.train.rows), \(data.test.rows), \(data.queries.rows))")
        }
        guard data.test.columns == d, data.queries.columns == d else {
            throw RemappingError("dimensions differ: train \(d), test \(data.test.columns), queries \(data.queries.columns)")
        }
        guard data.trainLabels.count == data.train.rows else {
            throw RemappingError("\(data.trainLabels.count) train labels for \(data.train.rows) train rows")
        }
        guard data.testLabels.count == data.test.rows else {
            throw RemappingError("\(data.testLabels.count) test labels for \(data.test.rows) test rows")
        }
        guard !scenarios.isEmpty else { throw RemappingError("no transform scenario to run") }
        guard !noiseSettings.isEmpty else { throw RemappingError("no noise setting to run") }
        guard !queryCounts.isEmpty, queryCounts.allSatisfy({ $0 >= 1 }) else {
            throw RemappingError("query counts must be a non-empty list of positive integers, got \(queryCounts)")
        }
        guard batchRows >= 1 else { throw RemappingError("batch rows must be at least 1, got \(batchRows)") }
    }

    /// Account 1's answers to the training set and the classifier trained on them: the same
    /// for every `n` of a setting (same secret, same first queries), so computed once.
    private struct TrainingAnswers {
        let classifier: any RepresentationClassifier
        /// Kept for ``SharedQuerySource/train``, whose shared queries are among these rows.
        let representations: Matrix?
        let lastSigma: Float
    }

    private func measure(
        scenario: String, noise: Bool, n: Int, settings: DefenseConfiguration,
        data: RemappingData, overlap: Matrix, shared: [Int],
        account1: inout TrainingAnswers?, trainClassifier: ClassifierTrainer
    ) throws -> RemappingPoint {
        let defense = try B4BDefense(configuration: settings, secret: secret)
        let (first, second) = ("sybil-1", "sybil-2")
        let fromTraining = sharedQueries == .train

        // 1. Account 1's training queries; after the first n only the coverage they leave
        //    behind is needed.
        if account1 == nil {
            let answers = try defense.answers(data.train, user: first, requestRows: batchRows)
            account1 = TrainingAnswers(
                classifier: try trainClassifier(answers.representations, data.trainLabels),
                representations: fromTraining ? answers.representations : nil, lastSigma: answers.sigma.last ?? 0)
        } else {
            try defense.track(data.train, user: first, requestRows: batchRows)
        }
        let trained = account1!
        // 2. The shared queries through both accounts (account 1 has already answered
        //    training rows), and the mapper.
        let sybilShared = try defense.answers(overlap, user: second, requestRows: batchRows)
        let target: Matrix
        if fromTraining, let answered = trained.representations {
            target = Matrix(rows: n, columns: answered.columns) { i, j in answered[shared[i], j] }
        } else {
            target = try defense.answers(overlap, user: first, requestRows: batchRows).representations
        }
        let mapper: LinearMapper = switch fit {
        case .automatic: try LinearMapper.fitAutomatically(source: sybilShared.representations, target: target)
        case .fixed(let method): try LinearMapper.fit(source: sybilShared.representations, target: target, method: method)
        }
        // 3. The test set: through both accounts, or each account's noiseless answers to it.
        let noiseless = defense.transform(for: first).apply(data.test)
        let reference: Matrix, remapped: Matrix, sigmas: (Float, Float)
        if fromTraining {
            reference = noiseless
            remapped = mapper.apply(defense.transform(for: second).apply(data.test))
            sigmas = (trained.lastSigma, sybilShared.sigma.last ?? 0)
        } else {
            let answers1 = try defense.answers(data.test, user: first, requestRows: batchRows)
            let answers2 = try defense.answers(data.test, user: second, requestRows: batchRows)
            reference = answers1.representations
            remapped = mapper.apply(answers2.representations)
            sigmas = (answers1.sigma.last ?? 0, answers2.sigma.last ?? 0)
        }
        var encoderSpace: Double?
        if let inverse = try? AffineInverse(of: defense.transform(for: first)) {
            encoderSpace = meanCosineDistance(try inverse.undo(reference), try inverse.undo(remapped))
        }
        return RemappingPoint(
            scenario: scenario, noise: noise, queries: n, fit: Self.describe(mapper.fit),
            cosineDistance: meanCosineDistance(reference, remapped),
            cosineDistanceInEncoderSpace: encoderSpace,
            cosineDistanceToNoiseless: meanCosineDistance(noiseless, remapped),
            accuracyRemapped: accuracy(try trained.classifier.predict(remapped), data.testLabels),
            accuracyAccount1: accuracy(try trained.classifier.predict(reference), data.testLabels),
            coverageAccount1: defense.coverage(of: first), coverageAccount2: defense.coverage(of: second),
            sigmaAccount1: sigmas.0, sigmaAccount2: sigmas.1)
    }

    static func describe(_ fit: MapperFit) -> String {
        switch fit {
        case .leastSquares: "least-squares"
        case .minimumNorm: "minimum-norm"
        case .ridge(let lambda): "ridge(\(lambda))"
        }
    }
}

/// Fraction of `predicted` equal to `truth`.
public func accuracy(_ predicted: [Int], _ truth: [Int]) -> Double {
    precondition(predicted.count == truth.count, "accuracy: \(predicted.count) predictions for \(truth.count) labels")
    guard !truth.isEmpty else { return 0 }
    return Double(zip(predicted, truth).filter { $0 == $1 }.count) / Double(truth.count)
}

extension LogisticProbe: RepresentationClassifier {}
extension RidgeClassifier: RepresentationClassifier {}
