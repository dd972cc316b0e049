import Defense
import NumericKernels

/// One budget of a sybil stealing run.
public struct SybilStealingPoint: Sendable, Codable, Equatable {
    public var defense: String
    /// Number of accounts the budget was split over.
    public var accounts: Int
    /// Total queries, shared ones counted once per account that sent them.
    public var queries: Int
    /// Queries every account sent (to fit the remapping into account 1's space).
    public var sharedQueries: Int
    /// Distinct texts the stolen encoder is fitted on.
    public var distinctTexts: Int
    /// The largest coverage (fraction) and the largest last sigma (representation units)
    /// among the accounts.
    public var maxCoverage: Double
    public var maxSigma: Double
    /// Fidelity, centred fidelity, drop-in and stolen-probe accuracy, as in ``StealingPoint``,
    /// in account 1's space.
    public var fidelity: Double
    public var centredFidelity: Double
    public var dropInAccuracy: Double
    public var stolenProbeAccuracy: Double
    /// The ridge penalty the thief chose.
    public var lambda: Double
}

/// The thief with several accounts (issue 6, part 3). A budget of N queries is split over
/// `k` accounts: every account sends the same ``sharedQueries`` texts, so that each account's
/// answers can be remapped into account 1's space by a ``LinearMapper`` fitted on them (the
/// paper's protocol; the shared queries count against the budget once per account), and the
/// remaining budget is split evenly into texts only one account sends. The stolen encoder is
/// fitted on account 1's answers to the shared texts and every account's answers to its own
/// texts, remapped into account 1's space.
///
/// Each account covers less of the space than one account with the whole budget, so each is
/// charged less noise; the price is the remapping's error and the shared queries.
public struct SybilStealing: Sendable {
    /// The server secret of the defense.
    public var secret: ServerSecret
    /// Total budgets N.
    public var budgets: [Int] = [5000, 10000, 20000, 40000]
    /// Numbers of accounts k (1 is the single-account thief with the same bookkeeping).
    public var accountCounts: [Int] = [2, 3, 4]
    /// Texts every account sends. Default 1000 (above the dimension of e5 plus padding).
    public var sharedQueries: Int = 1000
    /// Pool texts held out for fidelity.
    public var heldOut: Int = 2000
    /// Rows per request.
    public var requestRows: Int = 256
    /// Candidate ridge penalties (the thief picks by validation).
    public var surrogateLambdas: [Float] = [0.1, 1, 10, 100, 1000]
    /// Seed of the pool's random order.
    public var sampleSeed = RandomSeed(6, 0x5B1, 0xA1, 0)

    public init(secret: ServerSecret) {
        self.secret = secret
    }

    /// Runs every (k, N) under one defense setting: a fresh defense per point.
    public func run(
        _ data: StealingData, defense setting: DefenseSetting, trainClassifier: ClassifierTrainer,
        progress: (SybilStealingPoint) -> Void = { _ in }
    ) throws -> [SybilStealingPoint] {
        try run(data, settings: [setting], trainClassifier: trainClassifier, progress: progress)
    }

    /// Runs every (k, N) under each defense setting: a fresh defense per point; the texts of a
    /// point are the same under every setting, so one ``RidgeSurrogateSolver`` serves them
    /// all. Points are ordered by k, then N, then setting.
    /// - Throws: ``RemappingError`` for inconsistent data or settings (a budget that cannot
    ///   pay for the shared queries is skipped, not an error); the defense's, mapper's,
    ///   surrogate's and probe's errors.
    public func run(
        _ data: StealingData, settings: [DefenseSetting], trainClassifier: ClassifierTrainer,
        progress: (SybilStealingPoint) -> Void = { _ in }
    ) throws -> [SybilStealingPoint] {
        let n = data.poolFeatures.rows
        guard data.poolRepresentations.rows == n, heldOut >= 1, n - heldOut > sharedQueries, sharedQueries >= 1 else {
            throw RemappingError("the pool's \(n) texts cannot provide \(heldOut) held-out and \(sharedQueries) shared queries")
        }
        guard !accountCounts.isEmpty, accountCounts.allSatisfy({ $0 >= 1 }), !budgets.isEmpty, budgets.allSatisfy({ $0 >= 1 }) else {
            throw RemappingError("account counts and budgets must be non-empty lists of positive integers")
        }
        guard !settings.isEmpty else { throw RemappingError("no defense setting to run") }
        guard requestRows >= 1 else { throw RemappingError("request rows must be at least 1, got \(requestRows)") }
        var generator = RandomGenerator(seed: sampleSeed)
        var order = Array(0 ..< n)
        order.shuffle(using: &generator)
        let held = Array(order.suffix(heldOut))
        let shared = Array(order.prefix(sharedQueries))
        let unique = Array(order[sharedQueries ..< n - heldOut])
        let sharedClean = gather(data.poolRepresentations, shared)
        let sharedFeatures = gather(data.poolFeatures, shared)
        let dimension = data.poolRepresentations.columns
        let users = (1 ... (accountCounts.max() ?? 1)).map { "sybil-\($0)" }
        // Account 1's transform depends only on the secret, the configuration and its id, so
        // every point of a setting is scored in the same space: build the scorings once.
        let scorings = try settings.map { setting in
            let firstAccount = try setting.makeDefense(dimension: dimension, requestRows: requestRows, secret: secret)?
                .transform(for: users[0])
            return try StolenEncoderScoring(
                data: data, held: held, accountSpace: { firstAccount?.apply($0) ?? $0 }, trainClassifier: trainClassifier)
        }
        var points: [SybilStealingPoint] = []
        for k in accountCounts {
            for budget in budgets {
                let own = min(budget - k * sharedQueries, unique.count)
                guard own >= k else { continue }  // cannot pay for the shared queries
                let users = Array(users.prefix(k))
                let perAccount = own / k
                let mine = (0 ..< k).map { Array(unique[$0 * perAccount ..< ($0 + 1) * perAccount]) }
                let features = stack([sharedFeatures] + mine.map { gather(data.poolFeatures, $0) })
                let solver = try RidgeSurrogateSolver(features: features, lambdas: surrogateLambdas)
                for (s, setting) in settings.enumerated() {
                    let defense = try setting.makeDefense(dimension: dimension, requestRows: requestRows, secret: secret)
                    func ask(_ x: Matrix, _ user: String) throws -> Matrix {
                        try defense?.answers(x, user: user, requestRows: requestRows).representations ?? x
                    }
                    var answerBlocks: [Matrix] = []
                    var sigmas: [Double] = []
                    for (a, user) in users.enumerated() {
                        // Shared queries first (the remapping), then the account's own texts.
                        let sharedAnswers = try ask(sharedClean, user)
                        let mineAnswers = try ask(gather(data.poolRepresentations, mine[a]), user)
                        sigmas.append(Double(defense?.currentSigma(of: user) ?? 0))
                        if a == 0 {
                            answerBlocks.append(sharedAnswers)
                            answerBlocks.append(mineAnswers)
                        } else {
                            let mapper = try LinearMapper.fitAutomatically(source: sharedAnswers, target: answerBlocks[0])
                            answerBlocks.append(mapper.apply(mineAnswers))
                        }
                    }
                    let surrogate = try solver.fit(representations: stack(answerBlocks)).surrogate
                    let scores = try scorings[s].score(surrogate, trainClassifier: trainClassifier)
                    let point = SybilStealingPoint(
                        defense: setting.name, accounts: k, queries: k * sharedQueries + perAccount * k,
                        sharedQueries: sharedQueries, distinctTexts: features.rows,
                        maxCoverage: users.map { defense?.coverage(of: $0) ?? 0 }.max() ?? 0, maxSigma: sigmas.max() ?? 0,
                        fidelity: scores.fidelity, centredFidelity: scores.centredFidelity,
                        dropInAccuracy: scores.dropInAccuracy, stolenProbeAccuracy: scores.stolenProbeAccuracy,
                        lambda: Double(surrogate.lambda))
                    points.append(point)
                    progress(point)
                }
            }
        }
        return points
    }
}

/// The rows of `blocks` stacked in order (all with the same number of columns).
func stack(_ blocks: [Matrix]) -> Matrix {
    let columns = blocks.first?.columns ?? 0
    var elements: [Float] = []
    elements.reserveCapacity(blocks.reduce(0) { $0 + $1.elements.count })
    for b in blocks {
        precondition(b.columns == columns, "stack: blocks of \(b.columns) and \(columns) columns")
        elements += b.elements
    }
    return Matrix(rows: blocks.reduce(0) { $0 + $1.rows }, columns: columns, elements: elements)
}
