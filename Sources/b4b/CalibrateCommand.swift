import ArgumentParser
import Defense
import Evaluation
import Foundation
import Numerics
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
        valueName: "name=dir"))
    var tasks: [NamedDataset] = []

    @Option(help: ArgumentHelp("The task whose probe fixes alpha and the tolerated sigma. Default: the first --task.", valueName: "name"))
    var probeTask: String?

    @Option(help: "Hasher the defense will use: origin (random through the origin), centred (random through the pool's mean) or principal (the pool's principal directions, median thresholds).")
    var hasher: CoverageHasherKind = .principal

    @Option(help: ArgumentHelp("Queries at which a thief should pay full price (alpha). Default: all the pool's rows.", valueName: "n"))
    var budget: Int?

    @Option(help: ArgumentHelp("Noise sigmas of the sweep, comma-separated, in calibration-spread units; must include 0.", valueName: "list"))
    var sigmas: String = "0,0.02,0.05,0.1,0.2,0.5,1,2,5,10,20,50,100"

    @Option(help: "Probe of the sweep: logistic (L-BFGS, C = 1) or ridge.")
    var classifier: ClassifierChoice = .logistic

    @Option(help: "How close to chance (fraction of accuracy) the probe must fall at alpha.")
    var chanceMargin: Double = 0.02

    @Option(help: "Accuracy (fraction) a legitimate user may lose to noise.")
    var tolerance: Double = 0.01

    @Option(help: "Hyperplanes per table k (2^k buckets).")
    var hashBits: Int = 12

    @Option(help: "Independent projections averaged per coverage curve.")
    var repetitions: Int = 5

    @Option(help: "Seed of the projections, query orders and sweep noise.")
    var seed: UInt64 = 1

    func validate() throws {
        guard !tasks.isEmpty else { throw ValidationError("give at least one --task NAME=DIR") }
        guard hasher != .fitted else { throw ValidationError("--hasher must be origin, centred or principal") }
        if let probeTask, !tasks.contains(where: { $0.name == probeTask }) {
            throw ValidationError("--probe-task '\(probeTask)' is not one of the --task names")
        }
        _ = try parseSigmas(sigmas)
        guard chanceMargin.isFinite, chanceMargin >= 0, chanceMargin < 1 else { throw ValidationError("--chance-margin must be in [0, 1)") }
        guard tolerance.isFinite, tolerance >= 0, tolerance < 1 else { throw ValidationError("--tolerance must be in [0, 1)") }
        guard (1...24).contains(hashBits) else { throw ValidationError("--hash-bits must be in 1...24, got \(hashBits)") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        if let budget, budget < 1 { throw ValidationError("--budget must be at least 1") }
    }

    private func parseSigmas(_ text: String) throws -> [Double] {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? -1) >= 0 && $0!.isFinite }) else {
            throw ValidationError("--sigmas must be a comma-separated list of non-negative numbers, got '\(text)'")
        }
        guard values.contains(0) else { throw ValidationError("--sigmas must include 0 (the noiseless accuracy)") }
        return values.map { $0! }.sorted()
    }

    /// One task's four files.
    private struct Task {
        let name: String
        let train: Matrix, trainLabels: [Int], test: Matrix, testLabels: [Int]
    }

    private func loadTask(_ named: NamedDataset) throws -> Task {
        func file(_ name: String) -> String { (named.path as NSString).appendingPathComponent(name) }
        let option = "--task \(named.name)"
        let train = try readMatrix(file("train.npy"), option: option)
        let test = try readMatrix(file("test.npy"), option: option)
        return Task(name: named.name,
                    train: train, trainLabels: try readLabels(file("train_labels.npy"), option: option, rows: train.rows),
                    test: test, testLabels: try readLabels(file("test_labels.npy"), option: option, rows: test.rows))
    }

    func run() throws {
        BLASThreads.set(BLASThreads.processorCount)
        let poolMatrix = try readMatrix(pool, option: "--pool")
        let loaded = try tasks.map(loadTask)
        let d = poolMatrix.columns
        for t in loaded where t.train.columns != d || t.test.columns != d {
            throw CommandError("--task \(t.name) has \(t.train.columns)/\(t.test.columns) columns, --pool has \(d)")
        }
        let sigmaGrid = try parseSigmas(sigmas)
        let sample = poolMatrix.rows(0 ..< min(poolMatrix.rows, 10000)).copy()
        let calibration = try Calibration(sample: sample)
        let seedValue = RandomSeed(seed, 0xCA1, 0, 0)
        // The principal projection is fitted once: the curves measure the very hasher that
        // defense.json will carry.
        let fitted = hasher == .principal
            ? try FittedProjection.principal(sample: sample, hashBits: hashBits, tableCount: 1, seed: seedValue)
            : nil
        let experiment = CoverageExperiment(hashBits: hashBits, tableCount: 1, repetitions: repetitions,
                                            hasher: try fitted.map { .fitted($0) } ?? coverageHasher(hasher, calibration: sample),
                                            seed: seedValue)
        let progress = ProgressReporter("calibrate", total: loaded.count + 1 + sigmaGrid.count)

        // 1. Coverage.
        var taskCurves: [CoverageCurve] = []
        for t in loaded {
            let rows = Matrix(rows: t.train.rows + t.test.rows, columns: d, elements: t.train.elements + t.test.elements)
            taskCurves.append(try curve { try experiment.curve(name: t.name, data: rows, queryCounts: CoverageCurve.standardQueryCounts(upTo: rows.rows)) })
            progress.advance("coverage \(t.name)")
        }
        let poolCounts = CoverageCurve.standardQueryCounts(upTo: poolMatrix.rows)
        let poolCurve = try curve { try experiment.curve(name: "pool", data: poolMatrix, queryCounts: poolCounts) }
        progress.advance("coverage pool")

        // 2. Noise sweep.
        let probeName = probeTask ?? loaded[0].name
        let probed = loaded.first { $0.name == probeName }!
        let sweep = try sigmaGrid.map { s -> NoiseSweepPoint in
            let sigma = Float(s) * calibration.spread
            let train = noisy(probed.train, sigma: sigma, seed: RandomSeed(seed, 1, UInt64(s * 1e6), 0))
            let test = noisy(probed.test, sigma: sigma, seed: RandomSeed(seed, 2, UInt64(s * 1e6), 0))
            let model = try classifier.trainer(train, probed.trainLabels)
            let point = NoiseSweepPoint(sigma: s, accuracy: accuracy(try model.predict(test), probed.testLabels))
            progress.advance(String(format: "sigma %.3g: accuracy %.4f", s, point.accuracy))
            return point
        }
        let counts = Dictionary(grouping: probed.testLabels, by: { $0 }).mapValues(\.count)
        let chance = Double(counts.values.max() ?? 0) / Double(max(probed.testLabels.count, 1))

        // 3. Proposal.
        let problem = CostCalibration(
            legitimateCoverage: CostCalibration.legitimateCoverage(of: taskCurves), pool: poolCurve,
            stealingBudget: budget, sweep: sweep, chanceAccuracy: chance,
            chanceMargin: chanceMargin, toleranceMargin: tolerance)
        let proposal: CostProposal
        do { proposal = try problem.propose() } catch let error as CostCalibrationError {
            throw CommandError("cannot calibrate: \(error)")
        }

        var defense = DefenseConfiguration()
        defense.dimension = d
        defense.hashBits = hashBits
        defense.calibration = calibration
        defense.units = .calibrationSpread
        defense.cost = .exponential(proposal.cost)
        if let fitted {
            defense.hasher = .fitted(fitted)
        } else {
            defense.hasher = .random(centred: hasher == .centred)
        }
        defense = try defense.validated()

        let directory = try output.prepare()
        try directory.writeJSON(CalibrationReport(proposal: proposal, hasher: hasher.rawValue, probeTask: probeName,
                                                  classifier: classifier.rawValue, calibrationSpread: Double(calibration.spread),
                                                  sweep: sweep, tasks: taskCurves, pool: poolCurve), to: "calibration.json")
        try directory.write(try defense.encoded(), to: "defense.json")
        try writeFigures(directory, proposal: proposal, sweep: sweep, chance: chance, curves: taskCurves + [poolCurve])
        print(String(format: "legitimate coverage %.4f (largest task), pool coverage at %d queries beta = %.4f",
                     proposal.legitimateCoverage, proposal.stealingBudget, proposal.beta))
        print(String(format: "probe on %@: %.4f without noise, chance %.4f; alpha = %.4g spreads (probe near chance), tolerated sigma = %.4g spreads",
                     probeName, proposal.noiselessAccuracy, chance, proposal.alpha, proposal.toleratedSigma))
        print(String(format: "proposed cost: lambda = %.4g, alpha = %.4g, beta = %.4f (sigma in units of the calibration spread %.4g)%@",
                     proposal.lambda, proposal.alpha, proposal.beta, Double(calibration.spread),
                     proposal.toleranceBinds ? "" : "; the tolerance does not bind: lambda is at its useful maximum"))
        print("wrote calibration.json, defense.json and figures in \(directory.path)")
    }

    private func curve(_ body: () throws -> CoverageCurve) throws -> CoverageCurve {
        do { return try body() } catch let error as CoverageCurveError { throw CommandError("\(error)") }
    }

    private func noisy(_ x: Matrix, sigma: Float, seed: RandomSeed) -> Matrix {
        guard sigma > 0 else { return x }
        var generator = RandomGenerator(seed: seed)
        let noise = Matrix.gaussian(rows: x.rows, columns: x.columns, standardDeviation: sigma, using: &generator)
        return Matrix(rows: x.rows, columns: x.columns, elements: zip(x.elements, noise.elements).map { $0 + $1 })
    }

    private func writeFigures(_ directory: OutputDirectory, proposal: CostProposal, sweep: [NoiseSweepPoint], chance: Double,
                              curves: [CoverageCurve]) throws {
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
}

extension CoverageHasherKind: ExpressibleByArgument {}

/// What `calibration.json` holds.
struct CalibrationReport: Encodable {
    var proposal: CostProposal
    var hasher: String
    var probeTask: String
    var classifier: String
    /// Representation units per calibration spread.
    var calibrationSpread: Double
    var sweep: [NoiseSweepPoint]
    var tasks: [CoverageCurve]
    var pool: CoverageCurve
}
