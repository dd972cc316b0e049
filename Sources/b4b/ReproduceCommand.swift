import ArgumentParser
import Defense
import Evaluation
import Foundation
import NumericKernels

/// `b4b reproduce`: the paper's end-to-end claim on a real encoder's data, in one report.
struct ReproduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce",
        abstract: "Legitimate users vs a stealing thief vs sybils vs static noise, on a dataset of texts and their representations.",
        discussion: """
            --data DIR holds pool.npy and pool.jsonl (the broad public pool: representations and \
            texts, row-aligned) and tasks/NAME/ with train.npy, train.jsonl, train_labels.npy, \
            test.npy, test.jsonl, test_labels.npy for each downstream task.

            0. Calibration (paper section 4.2), from the tasks and the pool only: the hasher \
            (--hasher: by default the pool's principal directions; origin or centred for the \
            paper's secret random hyperplanes), the paper's cost (Eq. 1) and the relative price \
            are fitted once (seed 1). The \
            defenses compared: none; B4B with the paper's cost; B4B with the relative price added \
            (the headline); static noise at the sigma a legitimate user tolerates, and at Eq. 1's \
            sigma at the pool's full coverage (B4B draws it rounded down to a rung of its noise \
            ladder, so up to a factor sqrt(2) less).
            1. Legitimate users: each task's user sends its train then its test rows through its \
            own account; a linear probe trained on the answers is tested on the answers.
            2. One-account thief: queries N pool texts (--budgets), fits a ridge surrogate from \
            hashed character n-gram TF-IDF of the texts (lambda chosen by validation on its own \
            answers), scored by fidelity on held-out pool texts, drop-in accuracy and the paper's \
            own-probe accuracy on the --steal-task; padding thieves (--padding) at the full budget.
            3. Sybils: the budgets in --sybil-budgets split over --accounts accounts, remapped into \
            the first account's space on shared queries.
            4. Coverage curves of the tasks and the pool with random and fitted hashers, with and \
            without centring.

            Every part runs for --seeds seeds (server secret and query order); tables give the mean \
            and the standard deviation. Writes report.md, results.json, CSV tables and SVG figures. \
            --quick shrinks everything (pool, tasks, features, budgets) to finish in seconds (about \
            10 s on two cores); its numbers are a smoke test, not results. Lists given explicitly win over \
            --quick's; a combination that would run nothing (a sybil budget too small to pay for \
            the shared queries of every account, a padding above the budget) is refused before \
            the run.
            """)

    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("Dataset directory (pool.npy, pool.jsonl, tasks/NAME/...).", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp(
        "Hasher of both B4B defenses, calibrated with them: principal (the pool's principal directions, median thresholds; public), origin or centred (random hyperplanes from the server secret, through the origin or the pool's mean), signs-origin or signs-centred (the same with sign normals).",
        valueName: "kind"))
    var hasher: CoverageHasherKind = .principal

    @Flag(help: "Small and fast: at most 6000 pool rows, 1500/500 train/test rows per task, 1024 features, budgets 1000,2500,all, one sybil budget (lists given explicitly are kept).")
    var quick = false

    @Option(parsing: .unconditional, help: "Seeds: each seed is one server secret and one order of the thief's queries.")
    var seeds: Int = 3

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Single-account budgets (queries), comma-separated; capped to the pool minus the held-out texts (default: 1000,2500,5000,10000,20000,40000; with --quick 1000,2500 and the whole pool).",
        valueName: "list"))
    var budgets: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Sybil total budgets (queries), comma-separated (default: 10000,40000; with --quick the whole pool).", valueName: "list"))
    var sybilBudgets: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Sybil account counts, comma-separated, each at least 2 (default: 2,3,4; with --quick 2).", valueName: "list"))
    var accounts: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Padding thieves at the full budget: sends per distinct text, comma-separated, each at least 2; empty for none (default: 2,4; with --quick 2).",
        valueName: "list"))
    var padding: String?

    @Option(help: ArgumentHelp("Task the stolen encoder is scored on (drop-in and own-probe accuracy). Default: the task with the most training rows.", valueName: "name"))
    var stealTask: String?

    @Option(help: ArgumentHelp("Task whose probe calibrates alpha and the tolerated sigma. Default: as --steal-task.", valueName: "name"))
    var probeTask: String?

    @Option(help: "Linear probe of every accuracy: ridge (one solve) or logistic (L-BFGS, slower).")
    var classifier: ClassifierChoice = .ridge

    @Option(parsing: .unconditional, help: "Accuracy (fraction) a legitimate user may lose to noise, in the calibration.")
    var tolerance: Double = 0.005

    @Option(parsing: .unconditional, help: "How close to chance (fraction) the calibration's probe must fall at alpha.")
    var chanceMargin: Double = 0.02

    @Option(parsing: .unconditional, help: "Hashed n-gram features of the thief (columns of its TF-IDF).")
    var featureCount: Int = 4096

    @Option(parsing: .unconditional, help: "Pool texts held out for fidelity (capped to a fifth of the pool).")
    var heldOut: Int = 2000

    func validate() throws {
        guard hasher != .fitted else { throw ValidationError("--hasher must be origin, centred, signs-origin, signs-centred or principal") }
        try refuseRepeatedOptions()
        guard (1 ... 20).contains(seeds) else { throw ValidationError("--seeds must be in 1...20, got \(seeds)") }
        if let budgets { _ = try parseCounts(budgets, option: "--budgets") }
        if let sybilBudgets { _ = try parseCounts(sybilBudgets, option: "--sybil-budgets") }
        if let accounts, try parseCounts(accounts, option: "--accounts").contains(where: { $0 < 2 }) {
            throw ValidationError("--accounts: a sybil needs at least 2 accounts, got '\(accounts)'")
        }
        if let padding, !padding.isEmpty, try parseCounts(padding, option: "--padding").contains(where: { $0 < 2 }) {
            throw ValidationError("--padding: a padding thief sends each text at least twice, got '\(padding)'")
        }
        guard tolerance.isFinite, tolerance >= CostCalibrationError.smallestTolerance, tolerance < 1 else {
            throw ValidationError("--tolerance must be in [\(CostCalibrationError.smallestTolerance), 1), got \(tolerance)")
        }
        guard chanceMargin.isFinite, chanceMargin >= 0, chanceMargin < 1 else { throw ValidationError("--chance-margin must be in [0, 1)") }
        guard featureCount >= 16 else { throw ValidationError("--feature-count must be at least 16, got \(featureCount)") }
        guard heldOut >= 10 else { throw ValidationError("--held-out must be at least 10, got \(heldOut)") }
    }

    func run() throws {
        useBLAS(threads: BLASThreads.processorCount)
        let clock = ContinuousClock()
        let started = clock.now
        let directory = try output.prepare(files: ReproductionReport.outputFiles(hasher: hasher))
        let dataset = try ReproductionDataset.load(directory: data, quick: quick)
        let stealName = stealTask ?? dataset.tasks.max { $0.train.rows < $1.train.rows }!.name
        guard let stolenTask = dataset.tasks.firstIndex(where: { $0.name == stealName }) else {
            throw CommandError("--steal-task '\(stealName)' is not one of the tasks: \(dataset.tasks.map(\.name).joined(separator: ", "))")
        }
        let probeName = probeTask ?? stealName
        guard dataset.tasks.contains(where: { $0.name == probeName }) else {
            throw CommandError("--probe-task '\(probeName)' is not one of the tasks: \(dataset.tasks.map(\.name).joined(separator: ", "))")
        }
        let poolRows = dataset.pool.rows
        let held = min(heldOut, poolRows / 5)
        // Lists given explicitly win over --quick's.
        let budgetList = try budgets.map { try parseCounts($0, option: "--budgets") }
            ?? (quick ? [1000, 2500, poolRows] : [1000, 2500, 5000, 10000, 20000, 40000])
        let sybilList = try sybilBudgets.map { try parseCounts($0, option: "--sybil-budgets") } ?? (quick ? [poolRows] : [10000, 40000])
        let accountList = try accounts.map { try parseCounts($0, option: "--accounts") } ?? (quick ? [2] : [2, 3, 4])
        let paddingList = try padding.map { $0.isEmpty ? [] : try parseCounts($0, option: "--padding") } ?? (quick ? [2] : [2, 4])
        let sharedQueries = min(SybilStealing(secret: SecretFile.experiment(seed: 1)).sharedQueries,
                                max(dataset.pool.columns + 64, (poolRows - held) / 10))
        // Refuse what would silently produce no rows, before any work.
        for k in accountList {
            for budget in sybilList where budget - k * sharedQueries < k {
                throw CommandError("--sybil-budgets \(budget) with --accounts \(k): each account sends \(sharedQueries) shared queries, so \(k) accounts need a budget of at least \(k * (sharedQueries + 1))")
            }
        }
        if let p = paddingList.first(where: { $0 > poolRows - held }) {
            throw CommandError("--padding \(p) is above the full budget of \(poolRows - held) queries (the pool less the held-out texts): no padding thief could run")
        }
        let trainer = classifier.trainer
        let seedList = (1 ... seeds).map { UInt64($0) }

        // Steps: calibration + coverage, then per seed: legitimate, stealing, padding, sybils.
        let progress = ProgressReporter("reproduce", total: 2 + seeds * 4)

        // The thief's features are dense rows of `--feature-count` values per text, and its
        // surrogate is a ridge fit over them (a square system as wide).
        let thiefFeatures = quick ? min(featureCount, 1024) : featureCount
        let texts = dataset.poolTexts.count + dataset.taskTexts[stolenTask].train.count + dataset.taskTexts[stolenTask].test.count
        try requireMemory(squareSystemBytes(thiefFeatures) + Double(texts) * Double(thiefFeatures) * Double(MemoryLayout<Float>.stride),
                          for: "--feature-count \(thiefFeatures) (the thief's \(thiefFeatures) x \(thiefFeatures) ridge system and the features of \(texts) texts)")
        try requireMemory(squareSystemBytes(dataset.pool.columns), for: "--data '\(data)' (\(dataset.pool.columns) columns)")

        // 0. Thief features (the thief's own computation, independent of the seed).
        let features = HashedNGramFeatures.fit(
            texts: dataset.poolTexts, configuration: .init(featureCount: thiefFeatures))
        let poolFeatures = features.transform(texts: dataset.poolTexts)
        let task = dataset.tasks[stolenTask]
        let stealing = StealingData(
            poolFeatures: poolFeatures, poolRepresentations: dataset.pool,
            taskTrainFeatures: features.transform(texts: dataset.taskTexts[stolenTask].train),
            taskTrainRepresentations: task.train, taskTrainLabels: task.trainLabels,
            taskTestFeatures: features.transform(texts: dataset.taskTexts[stolenTask].test),
            taskTestRepresentations: task.test, taskTestLabels: task.testLabels)
        let ownFeaturesAccuracy = accuracy(
            try trainer(stealing.taskTrainFeatures, task.trainLabels).predict(stealing.taskTestFeatures), task.testLabels)

        // 0. Calibration, from the tasks and the pool only.
        var procedure = CalibrationRun()
        procedure.hasher = hasher
        procedure.probeTask = probeName
        procedure.tolerance = tolerance
        procedure.chanceMargin = chanceMargin
        procedure.relativePrice = true
        procedure.repetitions = quick ? 2 : 3
        let calibration: CalibrationOutcome
        do {
            calibration = try procedure.run(pool: dataset.pool, tasks: dataset.tasks, trainClassifier: trainer)
        } catch let error as CostCalibrationError {
            throw CommandError("cannot calibrate the defense on this data: \(error)")
        } catch let error as CalibrationRunError {
            throw CommandError("cannot calibrate the defense on this data: \(error)")
        }
        progress.advance(String(format: "calibrated: lambda %.3g alpha %.3g beta %.3f; relative lambda %.3g alpha %.3g",
                                calibration.proposal.lambda, calibration.proposal.alpha, calibration.proposal.beta,
                                calibration.relative?.proposal.lambda ?? .nan, calibration.relative?.proposal.alpha ?? .nan))
        let spread = calibration.calibrationSpread
        let tolerated = Float(calibration.proposal.toleratedSigma * spread)
        let thiefPrice = Float(calibration.proposal.sigma(coverage: calibration.proposal.beta) * spread)
        let settings: [DefenseSetting] = [
            .none,
            DefenseSetting(name: ReproductionReport.paperName, configuration: calibration.paperConfiguration),
            DefenseSetting(name: ReproductionReport.headlineName, configuration: calibration.configuration),
            staticNoise(tolerated, dimension: dataset.pool.columns),
            staticNoise(thiefPrice, dimension: dataset.pool.columns),
        ]
        let b4bSettings = Array(settings[1 ... 2])

        // 4. Coverage curves: random vs fitted, with and without centring.
        let coverage = try coverageCurves(dataset, calibration: calibration, repetitions: quick ? 2 : 3)
        progress.advance("coverage curves")

        var results = ReproductionResults(
            data: data, quick: quick, seeds: seedList, classifier: classifier.rawValue, hasher: hasher, stealTask: stealName,
            featureCount: features.featureCount, heldOut: held, chanceAccuracy: task.chanceAccuracy,
            ownFeaturesAccuracy: ownFeaturesAccuracy, staticSigmas: [Double(tolerated), Double(thiefPrice)],
            calibration: calibration, coverage: coverage)
        for seed in seedList {
            let secret = SecretFile.experiment(seed: seed)
            // 1. Legitimate users.
            var legitimate = LegitimateUse(secret: secret)
            legitimate.user = "legitimate-\(seed)"
            for t in dataset.tasks {
                for setting in settings {
                    var r = try legitimate.measure(task: t.name, train: t.train, trainLabels: t.trainLabels, test: t.test,
                                                   testLabels: t.testLabels, defense: setting, trainClassifier: trainer)
                    r.defense = setting.name
                    results.legitimate.append(.init(seed: seed, point: r))
                }
            }
            progress.advance("seed \(seed): legitimate users")

            // 2. One account.
            var single = SingleAccountStealing(secret: secret)
            single.budgets = budgetList
            single.heldOut = held
            single.sampleSeed = RandomSeed(seed, 0x57E, 0xA1, 0)
            results.stealing += try single.run(stealing, settings: settings, trainClassifier: trainer).map { .init(seed: seed, point: $0) }
            progress.advance("seed \(seed): one-account thief")
            for p in paddingList {
                var padded = single
                padded.padding = p
                padded.budgets = [poolRows]
                results.padding += try padded.run(stealing, settings: b4bSettings, trainClassifier: trainer).map { .init(seed: seed, point: $0) }
            }
            progress.advance("seed \(seed): padding thieves")

            // 3. Sybils.
            var sybil = SybilStealing(secret: secret)
            sybil.budgets = sybilList
            sybil.accountCounts = accountList
            sybil.heldOut = held
            sybil.sharedQueries = sharedQueries
            sybil.sampleSeed = RandomSeed(seed, 0x5B1, 0xA1, 0)
            results.sybils += try sybil.run(stealing, settings: [settings[0]] + b4bSettings, trainClassifier: trainer)
                .map { .init(seed: seed, point: $0) }
            progress.advance("seed \(seed): sybils")
        }
        results.seconds = (clock.now - started) / .seconds(1)

        try ReproductionReport(results: results, settings: settings.map(\.name)).write(to: directory)
        try directory.commit()
        print("wrote report.md, results.json, tables and figures in \(directory.path) (\(Int(results.seconds)) s)")
    }

    /// The static baseline at `sigma` (representation units), named with three digits.
    private func staticNoise(_ sigma: Float, dimension: Int) -> DefenseSetting {
        DefenseSetting(name: String(format: "static σ=%.3g", Double(sigma)),
                       configuration: DefenseSetting.staticNoise(sigma: sigma, dimension: dimension).configuration)
    }

    /// The tasks' and the pool's coverage with the defense's hasher (the calibration's curves)
    /// and with each of ``ReproductionReport/comparedHashers(besides:)``.
    private func coverageCurves(_ dataset: ReproductionDataset, calibration: CalibrationOutcome,
                                repetitions: Int) throws -> [CoverageCurve] {
        let sample = dataset.pool.rows(0 ..< min(dataset.pool.rows, 10000)).copy()
        let hashers = try ReproductionReport.comparedHashers(besides: self.hasher).map { try coverageHasher($0, calibration: sample) }
        var curves: [CoverageCurve] = []
        for hasher in hashers {
            let experiment = CoverageExperiment(hashBits: 12, tableCount: 1, repetitions: repetitions, hasher: hasher,
                                                seed: RandomSeed(1, 0xC0E, 0, 0))
            for (name, rows) in dataset.tasks.map({ ($0.name, $0.allRows) }) + [("pool", dataset.pool)] {
                curves.append(try experiment.curve(name: name, data: rows, queryCounts: CoverageCurve.standardQueryCounts(upTo: rows.rows)))
            }
        }
        return curves + calibration.tasks + [calibration.pool]
    }
}

/// What `--data` holds, read and checked (and shrunk with `--quick`).
struct ReproductionDataset {
    var pool: Matrix
    var poolTexts: [String]
    var tasks: [LabelledTask]
    var taskTexts: [(train: [String], test: [String])]

    static func load(directory: String, quick: Bool) throws -> ReproductionDataset {
        func path(_ parts: String...) -> String { parts.reduce(directory) { ($0 as NSString).appendingPathComponent($1) } }
        var pool = try readMatrix(path("pool.npy"), option: "--data")
        var poolTexts = try readTexts(path("pool.jsonl"), rows: pool.rows)
        let taskRoot = path("tasks")
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: taskRoot).filter {
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: (taskRoot as NSString).appendingPathComponent($0), isDirectory: &isDirectory)
                    && isDirectory.boolValue
            }.sorted()
        } catch {
            throw CommandError("--data: cannot list the task directories in '\(taskRoot)': \(error.localizedDescription)")
        }
        guard !names.isEmpty else { throw CommandError("--data: '\(taskRoot)' holds no task directory") }
        var tasks: [LabelledTask] = []
        var texts: [(train: [String], test: [String])] = []
        for name in names {
            let named = NamedDataset(argument: "\(name)=\((taskRoot as NSString).appendingPathComponent(name))")!
            var t = try loadLabelledTask(named, option: "--data task")
            guard t.train.columns == pool.columns else {
                throw CommandError("--data task \(name): representations have \(t.train.columns) columns, the pool has \(pool.columns)")
            }
            var trainTexts = try readTexts(path("tasks", name, "train.jsonl"), rows: t.train.rows)
            var testTexts = try readTexts(path("tasks", name, "test.jsonl"), rows: t.test.rows)
            if quick {
                (t.train, t.trainLabels, trainTexts) = prefix(t.train, t.trainLabels, trainTexts, 1500)
                (t.test, t.testLabels, testTexts) = prefix(t.test, t.testLabels, testTexts, 500)
            }
            tasks.append(t)
            texts.append((trainTexts, testTexts))
        }
        if quick, pool.rows > 6000 {
            pool = pool.rows(0 ..< 6000).copy()
            poolTexts = Array(poolTexts.prefix(6000))
        }
        return ReproductionDataset(pool: pool, poolTexts: poolTexts, tasks: tasks, taskTexts: texts)
    }

    private static func readTexts(_ path: String, rows: Int) throws -> [String] {
        let texts: [String]
        do { texts = try TextRecords.read(path).texts } catch { throw CommandError("--data: \(error)") }
        guard texts.count == rows else {
            throw CommandError("--data: '\(path)' has \(texts.count) texts but its .npy has \(rows) rows (they must be row-aligned)")
        }
        return texts
    }

    private static func prefix(_ x: Matrix, _ labels: [Int], _ texts: [String], _ n: Int) -> (Matrix, [Int], [String]) {
        guard x.rows > n else { return (x, labels, texts) }
        return (x.rows(0 ..< n).copy(), Array(labels.prefix(n)), Array(texts.prefix(n)))
    }
}
