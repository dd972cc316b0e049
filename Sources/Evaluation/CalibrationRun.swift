import Defense
import NumericKernels

/// A labelled downstream task: the rows a legitimate user of the task sends (its training
/// rows, then its test rows) and their labels. Rows are representations (`n x d`).
public struct LabelledTask: Sendable {
    public var name: String
    public var train: Matrix
    public var trainLabels: [Int]
    public var test: Matrix
    public var testLabels: [Int]

    public init(name: String, train: Matrix, trainLabels: [Int], test: Matrix, testLabels: [Int]) {
        self.name = name
        self.train = train
        self.trainLabels = trainLabels
        self.test = test
        self.testLabels = testLabels
    }

    /// Training then test rows: everything the task's user sends.
    public var allRows: Matrix { stack([train, test]) }

    /// The share of the most frequent test label: the accuracy of always guessing it.
    public var chanceAccuracy: Double {
        let counts = Dictionary(grouping: testLabels, by: { $0 }).mapValues(\.count)
        return Double(counts.values.max() ?? 0) / Double(max(testLabels.count, 1))
    }
}

/// The relative price's calibration (beyond the paper; see ``RelativeCoverageCost``): the
/// legitimate level is the largest coverage any task reaches relative to the pool's coverage
/// at the same number of queries (from ``RelativeCoverageCost/minimumQueries`` on), and the
/// full price is due at relative coverage 1 (a user covering as fast as the broad pool).
public struct RelativeCalibration: Sendable, Encodable {
    /// Each task's relative coverage at its measured query counts (from the minimum on).
    public struct TaskCurve: Sendable, Encodable {
        public var name: String
        public var queryCounts: [Int]
        public var relativeCoverage: [Double]
    }
    public var tasks: [TaskCurve]
    /// The largest relative coverage of any task: the legitimate level.
    public var legitimateRelativeCoverage: Double
    /// Eq. (1) fitted on the relative scale (`beta = 1`), in calibration-spread units.
    public var proposal: CostProposal
    /// Queries before the relative price applies.
    public var minimumQueries: Int
}

/// What a ``CalibrationRun`` measured and proposes.
public struct CalibrationOutcome: Sendable, Encodable {
    /// The paper's cost (Eq. 1, sigma in calibration-spread units) and what fixed each parameter.
    public var proposal: CostProposal
    /// The relative price, when asked for.
    public var relative: RelativeCalibration?
    /// Representation units per calibration spread.
    public var calibrationSpread: Double
    /// The task whose probe fixed alpha and the tolerated sigma.
    public var probeTask: String
    /// Accuracy of always guessing the probe task's most frequent test label.
    public var chanceAccuracy: Double
    /// The probe's accuracy against Gaussian noise (sigma in calibration spreads).
    public var sweep: [NoiseSweepPoint]
    /// Coverage curves of the tasks and of the pool, with the defense's own hasher.
    public var tasks: [CoverageCurve]
    public var pool: CoverageCurve
    /// A defense configuration with the paper's cost only (the hasher, calibration and units
    /// that were measured).
    public var paperConfiguration: DefenseConfiguration
    /// The same with the relative price added (equal to ``paperConfiguration`` without it).
    public var configuration: DefenseConfiguration

    private enum CodingKeys: String, CodingKey {
        case proposal, relative, calibrationSpread, probeTask, chanceAccuracy, sweep, tasks, pool
    }
}

/// The paper's section 4.2 from the legitimate tasks and the pool only, as one procedure
/// (used by `b4b calibrate` and `b4b reproduce`):
/// 1. coverage curves of every task (train then test rows) and of the pool with the hasher
///    the defense will use; the legitimate coverage is the largest a task reaches, beta is the
///    pool's coverage at ``budget`` queries;
/// 2. a noise sweep: Gaussian noise of each of ``sigmas`` (calibration spreads) on the probe
///    task's train and test rows, a probe trained and tested; alpha is where accuracy falls to
///    within ``chanceMargin`` of chance, the tolerated sigma where it has lost ``tolerance``;
/// 3. ``CostCalibration`` proposes lambda, alpha, beta; with ``relativePrice`` the same
///    is done on the relative scale (``RelativeCalibration``).
public struct CalibrationRun: Sendable {
    /// The hasher the defense will use: random hyperplanes through the origin, random
    /// hyperplanes through the pool's mean (centred), either with sign normals
    /// (`signs-origin`, `signs-centred`), or the pool's principal directions with
    /// median thresholds (fitted once and stored in the configuration, so the curves measure the
    /// very hasher the defense uses). `.fitted` (a stored projection) is refused.
    public var hasher: CoverageHasherKind = .principal
    /// Hyperplanes per table (2^k buckets).
    public var hashBits = 12
    /// Independent projections averaged per coverage curve (random hashers; the principal
    /// hasher is fixed, repetitions then vary the query order only).
    public var repetitions = 5
    /// The largest sweep sigma (calibration spreads): far beyond any useful noise, and small
    /// enough for the sweep's seeds (derived from sigma x 1e6 as an integer).
    public static let largestSweepSigma: Double = 1e6
    /// Noise sigmas of the sweep (calibration spreads), including 0, each at most ``largestSweepSigma``.
    public var sigmas: [Double] = [0, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    /// The task whose probe fixes alpha; nil = the first task.
    public var probeTask: String?
    /// Queries at which a thief pays full price; nil = all the pool's rows.
    public var budget: Int?
    /// How close to chance (accuracy fraction) the probe must fall at alpha.
    public var chanceMargin = 0.02
    /// Accuracy (fraction) a legitimate user may lose to noise.
    public var tolerance = 0.01
    /// Seed of the projections, query orders and sweep noise.
    public var seed: UInt64 = 1
    /// Also calibrate the relative price (``RelativeCoverageCost``).
    public var relativePrice = false
    /// ``RelativeCoverageCost/minimumQueries`` of the relative price.
    public var relativeMinimumQueries = RelativeCoverageCost.defaultMinimumQueries
    /// Pool rows the calibration spread and the principal hasher are measured on.
    public var calibrationSampleRows = 10000

    public init() {}

    /// Runs the procedure; `progress` is called with a short line after each step.
    /// - Throws: ``CalibrationRunError`` (no task, bad settings), ``CostCalibrationError`` (a sweep that never nears
    ///   chance, ...), ``CoverageCurveError``, the probe's and the configuration's errors.
    public func run(pool: Matrix, tasks: [LabelledTask], trainClassifier: ClassifierTrainer,
                    progress: (String) -> Void = { _ in }) throws -> CalibrationOutcome {
        guard !tasks.isEmpty else { throw CalibrationRunError("calibration needs at least one legitimate task") }
        let d = pool.columns
        for t in tasks where t.train.columns != d || t.test.columns != d {
            throw CalibrationRunError("task \(t.name) has \(t.train.columns)/\(t.test.columns) columns, the pool has \(d)")
        }
        let probeName = probeTask ?? tasks[0].name
        guard let probed = tasks.first(where: { $0.name == probeName }) else {
            throw CalibrationRunError("the probe task '\(probeName)' is not one of the tasks")
        }
        guard sigmas.contains(0), sigmas.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= Self.largestSweepSigma }) else {
            throw CalibrationRunError("the sweep's sigmas must be in 0...\(Self.largestSweepSigma) and include 0, got \(sigmas)")
        }
        let sample = pool.rows(0 ..< min(pool.rows, calibrationSampleRows)).copy()
        let calibration = try Calibration(sample: sample)
        let seedValue = RandomSeed(seed, 0xCA1, 0, 0)
        let fitted = hasher == .principal
            ? try FittedProjection.principal(sample: sample, hashBits: hashBits, tableCount: 1, seed: seedValue)
            : nil
        let coverageHasher: CoverageHasher = switch hasher {
        case .principal: .fitted(fitted!)
        case .centred: .centred(centre: calibration.centre)
        case .throughOrigin: .throughOrigin
        case .signsCentred: .signsCentred(centre: calibration.centre)
        case .signsThroughOrigin: .signsThroughOrigin
        case .fitted: throw CalibrationRunError("the hasher must be origin, centred, signs-origin, signs-centred or principal; a stored (fitted) projection cannot be calibrated")
        }
        let experiment = CoverageExperiment(hashBits: hashBits, tableCount: 1, repetitions: repetitions,
                                            hasher: coverageHasher, seed: seedValue)

        // 1. Coverage.
        var taskCurves: [CoverageCurve] = []
        for t in tasks {
            let rows = t.allRows
            taskCurves.append(try experiment.curve(name: t.name, data: rows,
                                                   queryCounts: CoverageCurve.standardQueryCounts(upTo: rows.rows)))
            progress("coverage of \(t.name)")
        }
        let poolCurve = try experiment.curve(name: "pool", data: pool,
                                             queryCounts: CoverageCurve.standardQueryCounts(upTo: pool.rows))
        progress("coverage of the pool")

        // 2. Noise sweep.
        var sweep: [NoiseSweepPoint] = []
        for s in sigmas.sorted() {
            let sigma = Float(s) * calibration.spread
            let train = noisy(probed.train, sigma: sigma, seed: RandomSeed(seed, 1, UInt64(s * 1e6), 0))
            let test = noisy(probed.test, sigma: sigma, seed: RandomSeed(seed, 2, UInt64(s * 1e6), 0))
            let model = try trainClassifier(train, probed.trainLabels)
            sweep.append(NoiseSweepPoint(sigma: s, accuracy: accuracy(try model.predict(test), probed.testLabels)))
            progress(String(format: "noise sweep: sigma %.3g spreads, accuracy %.4f", s, sweep.last!.accuracy))
        }
        let chance = probed.chanceAccuracy

        // 3. Proposals.
        let proposal = try CostCalibration(
            legitimateCoverage: CostCalibration.legitimateCoverage(of: taskCurves), pool: poolCurve,
            stealingBudget: budget, sweep: sweep, chanceAccuracy: chance,
            chanceMargin: chanceMargin, toleranceMargin: tolerance).propose()
        var paper = DefenseConfiguration()
        paper.dimension = d
        paper.hashBits = hashBits
        paper.calibration = calibration
        paper.units = .calibrationSpread
        paper.cost = .exponential(proposal.cost)
        paper.hasher = switch hasher {
        case .signsThroughOrigin, .signsCentred: .signs(centred: hasher == .signsCentred)
        default: fitted.map { .fitted($0) } ?? .random(centred: hasher == .centred)
        }
        paper = try paper.validated()

        var relative: RelativeCalibration?
        var configuration = paper
        if relativePrice {
            let r = try relativeCalibration(tasks: taskCurves, pool: poolCurve, sweep: sweep, chance: chance)
            relative = r
            configuration.relativeCost = RelativeCoverageCost(
                queryCounts: poolCurve.queryCounts, poolCoverage: poolCurve.mean,
                cost: .exponential(r.proposal.cost), minimumQueries: relativeMinimumQueries)
            configuration = try configuration.validated()
        }
        return CalibrationOutcome(
            proposal: proposal, relative: relative, calibrationSpread: Double(calibration.spread), probeTask: probeName,
            chanceAccuracy: chance, sweep: sweep, tasks: taskCurves, pool: poolCurve,
            paperConfiguration: paper, configuration: configuration)
    }

    private func relativeCalibration(tasks: [CoverageCurve], pool: CoverageCurve, sweep: [NoiseSweepPoint],
                                     chance: Double) throws -> RelativeCalibration {
        var curves: [RelativeCalibration.TaskCurve] = []
        for c in tasks {
            var counts: [Int] = [], ratios: [Double] = []
            for (q, m) in zip(c.queryCounts, c.mean) where q >= relativeMinimumQueries {
                guard let expected = pool.meanCoverage(atQueries: Double(q)), expected > 0 else { continue }
                counts.append(q)
                ratios.append(m / expected)
            }
            curves.append(.init(name: c.name, queryCounts: counts, relativeCoverage: ratios))
        }
        guard let legitimate = curves.flatMap(\.relativeCoverage).max() else {
            throw CalibrationRunError(
                "no task sends \(relativeMinimumQueries) queries, the relative price's minimum: its legitimate level cannot be measured")
        }
        // On the relative scale the pool covers as fast as itself: beta = 1 at any budget.
        let unit = CoverageCurve(name: "pool (relative)", hashBits: pool.hashBits, tableCount: pool.tableCount,
                                 hasher: pool.hasher, rowCount: 1, queryCounts: [1], perRepetition: [[1.0]])
        let proposal = try CostCalibration(legitimateCoverage: legitimate, pool: unit, sweep: sweep, chanceAccuracy: chance,
                                           chanceMargin: chanceMargin, toleranceMargin: tolerance).propose()
        return RelativeCalibration(tasks: curves, legitimateRelativeCoverage: legitimate, proposal: proposal,
                                   minimumQueries: relativeMinimumQueries)
    }

    private func noisy(_ x: Matrix, sigma: Float, seed: RandomSeed) -> Matrix {
        guard sigma > 0 else { return x }
        var generator = RandomGenerator(seed: seed)
        let noise = Matrix.gaussian(rows: x.rows, columns: x.columns, standardDeviation: sigma, using: &generator)
        return Matrix(rows: x.rows, columns: x.columns, elements: zip(x.elements, noise.elements).map { $0 + $1 })
    }
}

/// Why a ``CalibrationRun`` cannot start or finish (inputs that do not fit together).
public struct CalibrationRunError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "calibration: \(message)" }
}
