import ArgumentParser
import Defense
import Evaluation
import Foundation
import NumericKernels
import Plots

/// `b4b calibrate`: the paper's section 4.2 and Figure 4, from measurements on the caller's data.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Propose the cost parameters (lambda, alpha, beta) from coverage curves and a probe's noise tolerance.",
        discussion: """
            1. Coverage curves (with --hasher) of every --task (its train and test rows: all a \
            legitimate user of the task sends) and of --pool; the legitimate coverage is the \
            largest a task reaches, beta is the pool's coverage at --budget queries.
            2. A noise sweep on --probe-task: Gaussian noise of each --sigmas value (in units of \
            the calibration spread, the root-mean-square per-dimension standard deviation of the \
            pool's first 10000 rows) is added to the train and test representations and a probe \
            is trained and tested. alpha is the sigma at which accuracy falls to within \
            --chance-margin of chance (the majority class's share of the test labels); the \
            tolerated sigma is where accuracy has lost --tolerance.
            3. lambda is the largest value keeping the legitimate coverage's sigma within the \
            tolerated sigma (it makes a thief pay the most between the legitimate level and beta).
            4. With --relative, the relative price (beyond the paper): each task's coverage divided \
            by the pool's at the same number of queries (from --relative-minimum-queries on); the \
            largest ratio is the legitimate level, beta is 1, lambda and alpha as in 3. defense.json \
            then charges max(paper price, relative price).

            A --task is NAME=DIR with DIR holding train.npy, train_labels.npy, test.npy and \
            test_labels.npy. Writes calibration.json (the proposal and what fixed each parameter), \
            defense.json (a ready defense configuration: hasher, calibration, units, cost), \
            noise-sweep.csv and .svg, cost-curve.csv and .svg (Figure 4 analogue), coverage.csv and \
            coverage.svg.
            """)

    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("The broad public pool a thief would query (.npy, rows x d).", valueName: "npy"))
    var pool: String

    @Option(name: .customLong("task"), help: ArgumentHelp(
        "A legitimate task as NAME=DIR (DIR holds train.npy, train_labels.npy, test.npy, test_labels.npy); repeat for several.",
        valueName: "name=dir"), transform: { try NamedDataset.parse($0, option: "--task", example: "wordnet=tasks/wordnet, a directory") })
    var tasks: [NamedDataset]

    @Option(help: ArgumentHelp("The task whose probe fixes alpha and the tolerated sigma. Default: the first --task.", valueName: "name"))
    var probeTask: String?

    @Option(help: "Hasher the defense will use: origin (random through the origin), centred (random through the pool's mean), signs-origin or signs-centred (the same with sign normals, entries +1 or -1) or principal (the pool's principal directions, median thresholds).")
    var hasher: CoverageHasherKind = .principal

    @Option(parsing: .unconditional, help: ArgumentHelp("Queries at which a thief should pay full price (alpha). Default: all the pool's rows.", valueName: "n"))
    var budget: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Noise sigmas of the sweep, comma-separated, in calibration-spread units, each at most 1e6; must include 0.", valueName: "list"))
    var sigmas: String = "0,0.02,0.05,0.1,0.2,0.5,1,2,5,10,20,50,100"

    @Option(help: "Probe of the sweep: logistic (L-BFGS, C = 1) or ridge.")
    var classifier: ClassifierChoice = .logistic

    @Option(parsing: .unconditional, help: "How close to chance (fraction of accuracy) the probe must fall at alpha.")
    var chanceMargin: Double = 0.02

    @Option(parsing: .unconditional, help: "Accuracy (fraction) a legitimate user may lose to noise.")
    var tolerance: Double = 0.01

    @Option(parsing: .unconditional, help: "Hyperplanes per table k (2^k buckets).")
    var hashBits: Int = 12

    @Option(parsing: .unconditional, help: "Independent projections averaged per coverage curve.")
    var repetitions: Int = 5

    @Option(parsing: .unconditional, help: "Seed of the projections, query orders and sweep noise.")
    var seed: UInt64 = 1

    @Flag(help: "Also calibrate the relative price (coverage relative to the pool's at the same number of queries) and add it to defense.json.")
    var relative = false

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Queries a user must have sent before the relative price applies (only with --relative; default: \(RelativeCoverageCost.defaultMinimumQueries)).",
        valueName: "n"))
    var relativeMinimumQueries: Int?

    func validate() throws {
        try refuseRepeatedOptions(repeatable: ["--task"])
        var names = Set<String>()
        if let repeated = tasks.first(where: { !names.insert($0.name).inserted }) {
            throw ValidationError("--task names must be distinct: '\(repeated.name)' is given more than once")
        }
        guard hasher != .fitted else { throw ValidationError("--hasher must be origin, centred, signs-origin, signs-centred or principal") }
        if let probeTask, !tasks.contains(where: { $0.name == probeTask }) {
            throw ValidationError("--probe-task '\(probeTask)' is not one of the --task names")
        }
        _ = try parseSigmas(sigmas)
        guard chanceMargin.isFinite, chanceMargin >= 0, chanceMargin < 1 else { throw ValidationError("--chance-margin must be in [0, 1)") }
        guard tolerance.isFinite, tolerance >= CostCalibrationError.smallestTolerance, tolerance < 1 else {
            throw ValidationError("--tolerance must be in [\(CostCalibrationError.smallestTolerance), 1), got \(tolerance) (a tolerance of 0 leaves no noise to charge a legitimate user)")
        }
        guard (1...24).contains(hashBits) else { throw ValidationError("--hash-bits must be in 1...24, got \(hashBits)") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        if let budget, budget < 1 { throw ValidationError("--budget must be at least 1") }
        if let relativeMinimumQueries {
            guard relative else { throw ValidationError("--relative-minimum-queries applies only with --relative") }
            guard relativeMinimumQueries >= 1 else { throw ValidationError("--relative-minimum-queries must be at least 1, got \(relativeMinimumQueries)") }
        }
    }

    private func parseSigmas(_ text: String) throws -> [Double] {
        let values = try listItems(text, option: "--sigmas").map { Double($0) }
        guard values.allSatisfy({ ($0 ?? -1) >= 0 && $0!.isFinite }) else {
            throw ValidationError("--sigmas must be a comma-separated list of non-negative numbers, got '\(text)'")
        }
        if let large = values.first(where: { $0! > CalibrationRun.largestSweepSigma }) {
            throw ValidationError("--sigmas: \(large!) is beyond the largest sweep sigma \(CalibrationRun.largestSweepSigma) (calibration spreads)")
        }
        guard Set(values.map { $0! }).count == values.count else { throw ValidationError("--sigmas lists a value more than once") }
        guard values.contains(0) else { throw ValidationError("--sigmas must include 0 (the noiseless accuracy)") }
        return values.map { $0! }.sorted()
    }

    /// The files a run writes into --output-dir.
    static let outputFiles = ["calibration.json", "defense.json"] + calibrationFigureFiles

    func run() throws {
        useBLAS(threads: BLASThreads.processorCount)
        let directory = try output.prepare(files: Self.outputFiles)
        let poolMatrix = try readMatrix(pool, option: "--pool")
        // The pool's coverage curve reaches as many queries as it has rows (no extrapolation):
        // a larger budget is refused now, not after the sweep.
        if let budget, budget > poolMatrix.rows {
            throw CommandError("--budget \(budget) is beyond --pool '\(pool)', whose \(poolMatrix.rows) rows are the most queries its coverage curve reaches")
        }
        if hasher == .principal || classifier == .ridge {
            let user = hasher == .principal ? "the principal hasher" : "the ridge classifier"
            try requireMemory(squareSystemBytes(poolMatrix.columns), for: "\(user) on --pool '\(pool)' (\(poolMatrix.columns) columns)")
        }
        let loaded = try tasks.map { try loadLabelledTask($0) }
        var procedure = CalibrationRun()
        procedure.hasher = hasher
        procedure.hashBits = hashBits
        procedure.repetitions = repetitions
        procedure.sigmas = try parseSigmas(sigmas)
        procedure.probeTask = probeTask
        procedure.budget = budget
        procedure.chanceMargin = chanceMargin
        procedure.tolerance = tolerance
        procedure.seed = seed
        procedure.relativePrice = relative
        procedure.relativeMinimumQueries = relativeMinimumQueries ?? RelativeCoverageCost.defaultMinimumQueries
        let progress = ProgressReporter("calibrate", total: loaded.count + 1 + procedure.sigmas.count)
        let outcome: CalibrationOutcome
        do {
            outcome = try procedure.run(pool: poolMatrix, tasks: loaded, trainClassifier: classifier.trainer) { progress.advance($0) }
        } catch let error as CostCalibrationError {
            throw CommandError("cannot calibrate: \(error)")
        } catch let error as CalibrationRunError {
            throw CommandError("cannot calibrate: \(error)")
        } catch let error as CoverageCurveError {
            throw CommandError("\(error)")
        }
        let proposal = outcome.proposal

        try directory.writeJSON(CalibrationReport(outcome: outcome, hasher: hasher.rawValue, classifier: classifier.rawValue),
                                to: "calibration.json")
        try directory.write(try outcome.configuration.encoded(), to: "defense.json")
        try writeCalibrationFigures(directory, outcome: outcome)
        try directory.commit()
        print(String(format: "legitimate coverage %.4f (largest task), pool coverage at %d queries beta = %.4f",
                     proposal.legitimateCoverage, proposal.stealingBudget, proposal.beta))
        print(String(format: "probe on %@: %.4f without noise, chance %.4f; alpha = %.4g spreads (probe near chance), tolerated sigma = %.4g spreads",
                     outcome.probeTask, proposal.noiselessAccuracy, outcome.chanceAccuracy, proposal.alpha, proposal.toleratedSigma))
        print(String(format: "proposed cost: lambda = %.4g, alpha = %.4g, beta = %.4f (sigma in units of the calibration spread %.4g)%@",
                     proposal.lambda, proposal.alpha, proposal.beta, outcome.calibrationSpread,
                     proposal.toleranceBinds ? "" : "; the tolerance does not bind: lambda is at its useful maximum"))
        if let r = outcome.relative {
            print(String(format: "relative price: largest legitimate relative coverage %.4f; lambda = %.4g, alpha = %.4g, beta = 1 (from %d queries on)",
                         r.legitimateRelativeCoverage, r.proposal.lambda, r.proposal.alpha, r.minimumQueries))
        }
        print("wrote calibration.json, defense.json and figures in \(directory.path)")
    }
}

/// The files ``writeCalibrationFigures(_:outcome:)`` writes.
let calibrationFigureFiles = ["noise-sweep.csv", "noise-sweep.svg", "cost-curve.csv", "cost-curve.svg", "coverage.csv", "coverage.svg"]

/// Writes the calibration's tables and figures: noise-sweep, cost-curve (Figure 4 analogue) and
/// coverage, each as .csv and .svg.
func writeCalibrationFigures(_ directory: OutputDirectory, outcome: CalibrationOutcome) throws {
    let (proposal, sweep, chance) = (outcome.proposal, outcome.sweep, outcome.chanceAccuracy)
    let curves = outcome.tasks + [outcome.pool]
    var sweepTable = CSVTable(columns: ["sigma_spreads", "accuracy"])
    for p in sweep { sweepTable.append([.number(p.sigma), .number(p.accuracy)]) }
    try directory.write(sweepTable.text, to: "noise-sweep.csv")
    var sweepPlot = LinePlot(title: "Probe accuracy under Gaussian noise", xLabel: "sigma (calibration spreads; 0 drawn at the smallest positive)",
                             yLabel: "test accuracy", xScale: .logarithmic)
    let positive = sweep.filter { $0.sigma > 0 }
    let floor = positive.map(\.sigma).min() ?? 1
    sweepPlot.series.append(.init(name: "probe", points: sweep.map { (max($0.sigma, floor), $0.accuracy) }))
    sweepPlot.series.append(.init(name: "chance", points: [(floor, chance), (sweep.last?.sigma ?? floor, chance)]))
    try directory.write(sweepPlot.svg(), to: "noise-sweep.svg")

    let samples = proposal.curve(points: 201, maxCoverage: max(1, proposal.beta))
    var costTable = CSVTable(columns: ["coverage", "sigma_spreads"])
    for s in samples { costTable.append([.number(s.coverage), .number(s.sigma)]) }
    try directory.write(costTable.text, to: "cost-curve.csv")
    var costPlot = LinePlot(title: "Proposed cost (Eq. 1)", xLabel: "coverage (fraction of buckets)", yLabel: "sigma (calibration spreads)",
                            yScale: .logarithmic)
    let top = samples.map(\.sigma).max() ?? 1
    let bottom = max(samples.dropFirst().map(\.sigma).min() ?? 1e-9, 1e-12)
    costPlot.series.append(.init(name: "sigma(coverage)", points: samples.dropFirst().map { ($0.coverage, $0.sigma) }))
    costPlot.series.append(.init(name: "largest legitimate coverage", points: [(proposal.legitimateCoverage, bottom), (proposal.legitimateCoverage, top)]))
    costPlot.series.append(.init(name: "beta (pool at budget)", points: [(proposal.beta, bottom), (proposal.beta, top)]))
    try directory.write(costPlot.svg(), to: "cost-curve.svg")

    var coverageTable = CSVTable(columns: ["dataset", "queries", "mean", "std"])
    for c in curves {
        for (i, q) in c.queryCounts.enumerated() {
            coverageTable.append([.text(c.name), .integer(q), .number(c.mean[i]), .number(c.standardDeviation[i])])
        }
    }
    try directory.write(coverageTable.text, to: "coverage.csv")
    try directory.write(CoverageCommand.plot(curves, title: "Coverage of the tasks and the pool") { $0.name }.svg(), to: "coverage.svg")
}

extension CoverageHasherKind: ExpressibleByArgument {
    /// The values `--hasher` takes: every kind but `fitted`, a stored projection, which
    /// calibration cannot use (it calibrates the hasher it fits or draws itself).
    public static var allValueStrings: [String] { allCases.filter { $0 != .fitted }.map(\.rawValue) }
}

/// What `calibration.json` holds: the outcome and the choices that produced it.
struct CalibrationReport: Encodable {
    var outcome: CalibrationOutcome
    var hasher: String
    var classifier: String

    func encode(to encoder: any Encoder) throws {
        try outcome.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(hasher, forKey: .hasher)
        try container.encode(classifier, forKey: .classifier)
    }

    private enum Keys: String, CodingKey { case hasher, classifier }
}
