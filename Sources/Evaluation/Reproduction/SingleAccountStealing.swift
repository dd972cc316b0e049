import Defense
import NumericKernels

/// What a stealing experiment needs: the thief's own features of its texts, the encoder's
/// representations of the same texts (what the API serves, before any defense), and one
/// downstream task to score the stolen encoder on. Rows are aligned: row `i` of a feature
/// matrix and of the matching representation matrix describe the same text.
public struct StealingData: Sendable {
    /// Features the thief computes from the pool's texts alone (`n x F`).
    public var poolFeatures: Matrix
    /// The encoder's representations of the pool's texts (`n x d`).
    public var poolRepresentations: Matrix
    /// The task's training and test texts: the thief's features, the encoder's representations, labels.
    public var taskTrainFeatures: Matrix
    public var taskTrainRepresentations: Matrix
    public var taskTrainLabels: [Int]
    public var taskTestFeatures: Matrix
    public var taskTestRepresentations: Matrix
    public var taskTestLabels: [Int]

    public init(poolFeatures: Matrix, poolRepresentations: Matrix,
                taskTrainFeatures: Matrix, taskTrainRepresentations: Matrix, taskTrainLabels: [Int],
                taskTestFeatures: Matrix, taskTestRepresentations: Matrix, taskTestLabels: [Int]) {
        self.poolFeatures = poolFeatures
        self.poolRepresentations = poolRepresentations
        self.taskTrainFeatures = taskTrainFeatures
        self.taskTrainRepresentations = taskTrainRepresentations
        self.taskTrainLabels = taskTrainLabels
        self.taskTestFeatures = taskTestFeatures
        self.taskTestRepresentations = taskTestRepresentations
        self.taskTestLabels = taskTestLabels
    }
}

/// One budget of a single-account stealing run.
public struct StealingPoint: Sendable, Codable, Equatable {
    /// ``DefenseSetting/name``.
    public var defense: String
    /// Queries the thief sent (its budget), padding included.
    public var queries: Int
    /// Distinct pool texts among them: the rows the stolen encoder is fitted on.
    public var distinctTexts: Int
    /// ``SingleAccountStealing/padding``: sends per distinct text (1 = no padding).
    public var padding: Int
    /// The thief's coverage (fraction of buckets) and the sigma of its last answer
    /// (representation units) after those queries.
    public var coverage: Double
    public var sigma: Double
    /// The ridge penalty the thief chose by validation on its own answers.
    public var lambda: Double
    /// (a) Fidelity: mean cosine similarity between the stolen encoder's outputs and the
    /// noiseless answers of the thief's account for held-out pool texts (see
    /// ``SingleAccountStealing`` for why the account's transform is kept).
    public var fidelity: Double
    /// The same after subtracting the held-out references' mean from both sides. Anisotropic
    /// encoders make plain fidelity high for any output near the mean direction; this one
    /// is near 0 for a copy that learned nothing but the mean.
    public var centredFidelity: Double
    /// Plain fidelity of the trivial copy that always answers the mean of the thief's
    /// answers: the floor against which ``fidelity`` means something.
    public var meanAnswerFidelity: Double
    /// (b) Drop-in accuracy (fraction): a probe trained on the task's noiseless answers (in
    /// the thief's account space), applied to the stolen encoder's outputs for the test texts.
    public var dropInAccuracy: Double
    /// (c) The paper's measure: a probe trained and tested on the stolen encoder's outputs.
    public var stolenProbeAccuracy: Double
}

/// The thief with one account (issue 6, part 2): it queries a growing number of pool texts,
/// fits a ``RidgeSurrogate`` from its own text features to the answers, and is scored on
/// held-out texts and on a downstream task.
///
/// With B4B, a single account's answers are in that account's transformed space. The
/// transform is a bijection the thief could learn with one account at no cost (its copy is
/// then as useful as the encoder for any downstream probe), so fidelity and drop-in accuracy
/// are measured in the thief's account space: against the noiseless answers its account
/// would have received. What they measure is then the effect of the noise, the part of B4B
/// aimed at a single account; the transforms are aimed at sybils (``SybilRemapping``).
///
/// The thief's queries are the first N of one random order of the pool, minus the
/// ``heldOut`` texts reserved for fidelity; one defense per setting serves every budget in
/// turn (the answers to the first N queries do not depend on how many follow), and the
/// surrogate is refitted at each budget. Every setting sees the same queries, so one
/// ``RidgeSurrogateSolver`` per budget serves them all.
///
/// A *padding* thief (``padding`` > 1) spends its budget on fewer distinct texts: before
/// each request of real texts it sends `padding - 1` times as many repeats of one text.
/// Repeats occupy no new bucket, so they lower the thief's coverage relative to the pool
/// at the same number of queries (``RelativeCoverageCost``); the answers it keeps are those
/// priced after the padding.
public struct SingleAccountStealing: Sendable {
    /// The server secret of the defenses.
    public var secret: ServerSecret
    /// Budgets N, in queries; capped to the pool's size minus ``heldOut``.
    public var budgets: [Int] = [1000, 2500, 5000, 10000, 20000, 40000]
    /// Pool texts held out for fidelity. Default 2000.
    public var heldOut: Int = 2000
    /// Rows per request sent to the defense.
    public var requestRows: Int = 256
    /// Sends per distinct text: 1 (default) is the plain thief; `p` spends a budget N on
    /// `N / p` distinct texts and `N - N / p` repeats of one text.
    public var padding: Int = 1
    /// Candidate ridge penalties; the thief picks one by validation on a tenth of its own
    /// (possibly noisy) answers at every budget (``RidgeSurrogateSolver``). A larger penalty
    /// is how a thief fights noise, so a fixed small one would flatter the defense.
    public var surrogateLambdas: [Float] = [0.1, 1, 10, 100, 1000]
    /// Seed of the pool's random order.
    public var sampleSeed = RandomSeed(6, 0x57E, 0xA1, 0)

    public init(secret: ServerSecret) {
        self.secret = secret
    }

    /// The budgets run for a pool of `rows` texts: capped, sorted, unique.
    public func effectiveBudgets(poolRows rows: Int) -> [Int] {
        Array(Set(budgets.map { min($0, rows - heldOut) })).filter { $0 >= padding }.sorted()
    }

    /// Runs every budget under one defense; `progress` is called after each.
    public func run(
        _ data: StealingData, defense setting: DefenseSetting, trainClassifier: ClassifierTrainer,
        progress: (StealingPoint) -> Void = { _ in }
    ) throws -> [StealingPoint] {
        try run(data, settings: [setting], trainClassifier: trainClassifier, progress: progress)
    }

    /// Runs every budget under each defense setting (one thief account per setting, the same
    /// queries for all); `progress` is called after each point. Points are ordered by budget,
    /// then by setting.
    /// - Throws: ``RemappingError`` for inconsistent data or settings; the defense's, the
    ///   surrogate's and the probe's errors.
    public func run(
        _ data: StealingData, settings: [DefenseSetting], trainClassifier: ClassifierTrainer,
        progress: (StealingPoint) -> Void = { _ in }
    ) throws -> [StealingPoint] {
        try validate(data)
        guard !settings.isEmpty else { throw RemappingError("no defense setting to run") }
        let n = data.poolFeatures.rows
        var generator = RandomGenerator(seed: sampleSeed)
        var order = Array(0 ..< n)
        order.shuffle(using: &generator)
        let held = Array(order.suffix(heldOut))
        let queries = Array(order.prefix(n - heldOut))
        let thief = "thief"
        let dimension = data.poolRepresentations.columns

        /// One setting's account: its defense, its scoring and the answers it kept so far.
        struct Account {
            let setting: DefenseSetting
            let defense: B4BDefense?
            let scoring: StolenEncoderScoring
            var answers: [Matrix] = []
            var sigma = 0.0
        }
        var accounts = try settings.map { setting -> Account in
            let defense = try setting.makeDefense(dimension: dimension, requestRows: requestRows, secret: secret)
            let scoring = try StolenEncoderScoring(
                data: data, held: held, accountSpace: { defense?.transform(for: thief).apply($0) ?? $0 },
                trainClassifier: trainClassifier)
            return Account(setting: setting, defense: defense, scoring: scoring)
        }
        let padRow = gather(data.poolRepresentations, [queries[0]])
        var sent = 0
        var points: [StealingPoint] = []
        for budget in effectiveBudgets(poolRows: n) {
            let distinct = budget / padding
            let batch = gather(data.poolRepresentations, Array(queries[sent ..< distinct]))
            let solver = try RidgeSurrogateSolver(features: gather(data.poolFeatures, Array(queries[0 ..< distinct])),
                                                  lambdas: surrogateLambdas)
            for a in accounts.indices {
                if batch.rows == 0 {
                    // Nothing new to send at this budget (the padding rounds it to the last one's texts).
                } else if let defense = accounts[a].defense {
                    let served = try send(batch, padRow: padRow, to: defense, user: thief)
                    accounts[a].answers.append(served.representations)
                    accounts[a].sigma = served.lastSigma
                } else {
                    accounts[a].answers.append(batch)
                }
                let targets = stack(accounts[a].answers)
                let surrogate = try solver.fit(representations: targets).surrogate
                let scores = try accounts[a].scoring.score(surrogate, trainClassifier: trainClassifier)
                let point = StealingPoint(
                    defense: accounts[a].setting.name, queries: budget, distinctTexts: distinct, padding: padding,
                    coverage: accounts[a].defense?.coverage(of: thief) ?? 0, sigma: accounts[a].sigma,
                    lambda: Double(surrogate.lambda),
                    fidelity: scores.fidelity, centredFidelity: scores.centredFidelity,
                    meanAnswerFidelity: accounts[a].scoring.constantFidelity(columnMeans(targets)),
                    dropInAccuracy: scores.dropInAccuracy, stolenProbeAccuracy: scores.stolenProbeAccuracy)
                points.append(point)
                progress(point)
            }
            sent = distinct
        }
        return points
    }

    /// Sends `batch` in requests of ``requestRows``, each preceded by `padding - 1` times as
    /// many repeats of `padRow`; returns the answers to `batch` and the sigma of the last one.
    private func send(_ batch: Matrix, padRow: Matrix, to defense: B4BDefense, user: String) throws
        -> (representations: Matrix, lastSigma: Double) {
        guard padding > 1 else {
            let served = try defense.answers(batch, user: user, requestRows: requestRows)
            return (served.representations, Double(served.sigma.last ?? 0))
        }
        var kept: [Matrix] = []
        var sigma = 0.0
        var start = 0
        while start < batch.rows {
            let end = min(start + requestRows, batch.rows)
            let pad = gather(padRow, Array(repeating: 0, count: (padding - 1) * (end - start)))
            _ = try defense.answers(pad, user: user, requestRows: requestRows)
            let served = try defense.answers(batch.rows(start ..< end).copy(), user: user, requestRows: requestRows)
            kept.append(served.representations)
            sigma = Double(served.sigma.last ?? 0)
            start = end
        }
        return (stack(kept), sigma)
    }

    private func validate(_ d: StealingData) throws {
        let n = d.poolFeatures.rows
        guard d.poolRepresentations.rows == n else {
            throw RemappingError("pool: \(n) feature rows but \(d.poolRepresentations.rows) representation rows")
        }
        guard heldOut >= 1, n - heldOut >= 1 else {
            throw RemappingError("the pool's \(n) texts leave none for queries after holding out \(heldOut)")
        }
        guard d.taskTrainFeatures.rows == d.taskTrainRepresentations.rows, d.taskTrainLabels.count == d.taskTrainFeatures.rows,
              d.taskTestFeatures.rows == d.taskTestRepresentations.rows, d.taskTestLabels.count == d.taskTestFeatures.rows else {
            throw RemappingError("task: features, representations and labels must have one row per text")
        }
        let (f, dim) = (d.poolFeatures.columns, d.poolRepresentations.columns)
        guard d.taskTrainFeatures.columns == f, d.taskTestFeatures.columns == f,
              d.taskTrainRepresentations.columns == dim, d.taskTestRepresentations.columns == dim else {
            throw RemappingError("task and pool differ in feature (\(f)) or representation (\(dim)) columns")
        }
        guard !budgets.isEmpty, budgets.allSatisfy({ $0 >= 1 }) else {
            throw RemappingError("budgets must be a non-empty list of positive integers, got \(budgets)")
        }
        guard requestRows >= 1 else { throw RemappingError("request rows must be at least 1, got \(requestRows)") }
        guard padding >= 1 else { throw RemappingError("padding must be at least 1 send per text, got \(padding)") }
        guard !surrogateLambdas.isEmpty, surrogateLambdas.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw RemappingError("surrogate lambdas must be a non-empty list of positive numbers, got \(surrogateLambdas)")
        }
    }
}

/// The rows of `x` at `indices`, in that order.
func gather(_ x: Matrix, _ indices: [Int]) -> Matrix {
    let c = x.columns
    var out = Matrix(uninitializedRows: indices.count, columns: c)
    x.withUnsafeBufferPointer { source in
        out.withUnsafeMutableBufferPointer { target in
            for (k, i) in indices.enumerated() {
                target.baseAddress!.advanced(by: k * c).update(from: source.baseAddress!.advanced(by: i * c), count: c)
            }
        }
    }
    return out
}
