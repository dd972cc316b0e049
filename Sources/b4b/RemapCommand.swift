import ArgumentParser
import Defense
import Evaluation
import Foundation
import NumericKernels
import Plots

extension SharedQuerySource: ExpressibleByArgument {}

/// `b4b remap`: the sybil remapping experiment (after the paper's Figure 13 protocol; its Figure 5 curves).
struct RemapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remap",
        abstract: "Measure how well a sybil remaps one account's answers into another's, per transform and number of shared queries.",
        discussion: """
            For each transform scenario, noise setting and n: account 1 queries the task's \
            training set (a reference classifier is trained on its answers); n shared queries go \
            through both accounts and a linear mapper from account 2 to account 1 is fitted on \
            them; account 2's remapped answers to the test set are compared with account 1's. \
            With --shared-queries pool (the default) the shared queries come from --queries, both \
            accounts then query the test set, and the distance is taken to account 1's answers as \
            given and to its noiseless ones (the remapping's own error). With --shared-queries \
            train (the authors' code's protocol) they are n rows of the training set, which only \
            account 2 sends (account 1 has answered them already), and each account's noiseless \
            answers to the test set are compared. Writes remap.csv, remap.json, remap.svg (cosine \
            distance vs n in the transformed space, one line per transform and noise setting) and \
            remap-encoder-space.svg (the same after undoing account 1's transform, for invertible \
            transforms).

            Without --config, the defense hashes with random hyperplanes through the centre of a \
            calibration sample (up to 10000 rows of --queries), expresses magnitudes in units of \
            that sample's spread, and uses the paper's cost (lambda 1e-6, alpha 1, beta 0.8).
            """)

    @OptionGroup var output: OutputOptions

    @OptionGroup var task: TaskFileOptions

    @Option(help: ArgumentHelp(
        "Public pool (.npy, rows x d): the shared queries with --shared-queries pool (required then), and the calibration sample without --config (the training set's rows when --shared-queries train is run without it).",
        valueName: "npy"))
    var queries: String?

    @Option(help: "Where the shared queries come from: pool (--queries; both accounts then query the test set) or train (the training set, as the authors' code does; noiseless test answers compared).")
    var sharedQueries: SharedQuerySource = .pool

    @Option(parsing: .unconditional, help: ArgumentHelp("Numbers n of shared queries, comma-separated; capped by the rows they are drawn from.", valueName: "list"))
    var counts: String = "100,250,500,1000,2500,5000,10000"

    @Option(help: ArgumentHelp(
        "Transform scenarios, comma-separated, from: affine, pad+shuffle, affine+pad+shuffle, binary, scale-shift, shuffle.",
        valueName: "list"))
    var scenarios: String = "affine,pad+shuffle,affine+pad+shuffle,binary"

    @Option(parsing: .unconditional, help: ArgumentHelp("Output dimension of the binary transform (bits per answer).", valueName: "bits"))
    var binaryDimension: Int = 4096

    @Option(help: "Noise settings to run: off (transforms only), on (the configuration's cost), or both.")
    var noise: NoiseSetting = .both

    @Option(help: ArgumentHelp(
        "How the mapper is fitted: auto (QR least squares above the dimension, minimum-norm SVD at or below it), least-squares, minimum-norm, or ridge=LAMBDA (LAMBDA in 1e-8...1e8).",
        valueName: "method"))
    var fit: String = "auto"

    @Option(help: "Reference classifier: ridge (least squares, fast) or logistic (L-BFGS, C = 1).")
    var classifier: ClassifierChoice = .ridge

    @Option(help: ArgumentHelp("Defense configuration (JSON, partial allowed); its transforms are replaced by each scenario's.", valueName: "json"))
    var config: String?

    @Option(parsing: .unconditional, help: "Seed of the experiment's server secret and of the order of the shared queries.")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Rows per request sent to the defense; at most the configuration's maxBatchRows (default: 256, or maxBatchRows when smaller).",
        valueName: "rows"))
    var batch: Int?

    enum NoiseSetting: String, ExpressibleByArgument, CaseIterable {
        case off, on, both
        var settings: [Bool] { switch self { case .off: [false]; case .on: [true]; case .both: [false, true] } }
    }

    func validate() throws {
        try refuseRepeatedOptions()
        _ = try parseCounts(counts, option: "--counts")
        _ = try Self.parseScenarios(scenarios, binaryDimension: binaryDimension)
        guard (1...65536).contains(binaryDimension) else {
            throw ValidationError("--binary-dimension must be in 1...65536, got \(binaryDimension)")
        }
        _ = try Self.parseFit(fit)
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if queries == nil, sharedQueries == .pool {
            throw ValidationError("--queries is required with --shared-queries pool (the shared queries are drawn from it)")
        }
    }

    func run() throws {
        // One caller: BLAS may use every core.
        useBLAS(threads: BLASThreads.processorCount)
        let directory = try output.prepare(files: ["remap.csv", "remap.json", "remap.svg", "remap-encoder-space.svg"])
        let (trainMatrix, trainLabelValues, testMatrix, testLabelValues) = try task.load()
        // Without --queries (only with --shared-queries train) the training set stands in for the
        // pool: the experiment then draws nothing from it but the calibration sample.
        let pool = try queries.map { try readMatrix($0, option: "--queries") } ?? trainMatrix
        guard pool.columns == trainMatrix.columns else {
            throw CommandError("dimensions differ: --train has \(trainMatrix.columns) columns, --queries \(pool.columns)")
        }
        // The remapping fits a linear map between two accounts' answer spaces: a square system
        // as wide as the widest answers (the binary scenario's, or padded ones).
        let scenarioList = try Self.parseScenarios(scenarios, binaryDimension: binaryDimension)
        let widest = scenarioList.map { scenario in
            scenario.transforms.reduce(trainMatrix.columns) { $1.outputDimension(forInput: $0) }
        }.reduce(trainMatrix.columns, max)
        let data = RemappingData(train: trainMatrix, trainLabels: trainLabelValues, test: testMatrix,
                                 testLabels: testLabelValues, queries: pool)

        var settings = try ConfigurationFile.load(config, dimension: trainMatrix.columns)
        if let batch, batch > settings.maxBatchRows {
            throw CommandError("--batch \(batch) is above the configuration's maxBatchRows \(settings.maxBatchRows)")
        }
        if config == nil {
            let sample = pool.rows(0 ..< min(pool.rows, 10000)).copy()
            settings.calibration = try Calibration(sample: sample)
            settings.hasher = .random(centred: true)
            settings.units = .calibrationSpread
        }
        var experiment = SybilRemapping(configuration: settings, secret: SecretFile.experiment(seed: seed))
        experiment.scenarios = scenarioList
        experiment.queryCounts = try parseCounts(counts, option: "--counts")
        experiment.noiseSettings = noise.settings
        experiment.fit = try Self.parseFit(fit)
        experiment.batchRows = batch ?? min(256, settings.maxBatchRows)
        experiment.sampleSeed = RandomSeed(seed, 0x5A3, 0, 0)
        experiment.sharedQueries = sharedQueries
        let trainer = classifier.trainer
        // At its peak the experiment holds the mapper's square system, account 1's answers to the
        // training set (kept while its classifier trains on them) and, for the largest n, the
        // shared queries with both accounts' answers to them, all as wide as the widest answers.
        let largestShared = experiment.effectiveQueryCounts(available: experiment.sharedQueryRows(in: data)).last ?? 0
        let answerRows = Double(trainMatrix.rows) + 3 * Double(largestShared)
        try requireMemory(squareSystemBytes(widest) + answerRows * Double(widest) * Double(MemoryLayout<Float>.stride),
                          for: "remapping answers of --train '\(task.train)' (\(trainMatrix.rows) rows, \(trainMatrix.columns) columns; answers up to \(widest) columns)")

        let progress = ProgressReporter("remap", total: experiment.pointCount(available: experiment.sharedQueryRows(in: data)))
        let points = try experiment.run(data, trainClassifier: trainer) { point in
            progress.advance(String(format: "%@%@ n=%d: cosine distance %.4f", point.scenario, point.noise ? " +noise" : "",
                                    point.queries, point.cosineDistance))
        }

        try directory.write(Self.table(points).text, to: "remap.csv")
        try directory.writeJSON(RemapReport(settings: settings, classifier: classifier.rawValue,
                                            sharedQueries: sharedQueries.rawValue, points: points), to: "remap.json")
        try directory.write(Self.plot(points, encoderSpace: false, sharedQueries: sharedQueries).svg(), to: "remap.svg")
        try directory.write(Self.plot(points, encoderSpace: true, sharedQueries: sharedQueries).svg(), to: "remap-encoder-space.svg")
        try directory.commit()
        print(Self.summary(points))
        print("wrote remap.csv, remap.json, remap.svg, remap-encoder-space.svg in \(directory.path)")
    }

    // MARK: - Parsing

    static func parseScenarios(_ text: String, binaryDimension: Int) throws -> [RemappingScenario] {
        let known = RemappingScenario.paper.filter { $0.name != "binary" } + [
            RemappingScenario(name: "binary", transforms: [.binary(outputDimension: binaryDimension)]),
            RemappingScenario(name: "scale-shift", transforms: [.scaleShift()]),
            RemappingScenario(name: "shuffle", transforms: [.shuffle]),
        ]
        return try listItems(text, option: "--scenarios").map { trimmed in
            guard let scenario = known.first(where: { $0.name == trimmed }) else {
                throw ValidationError("--scenarios: unknown scenario '\(trimmed)'; known: \(known.map(\.name).joined(separator: ", "))")
            }
            return scenario
        }
    }

    static func parseFit(_ text: String) throws -> RemappingFit {
        switch text {
        case "auto": return .automatic
        case "least-squares": return .fixed(.leastSquares)
        case "minimum-norm": return .fixed(.minimumNorm)
        default:
            // A penalty below 1e-8 leaves the normal equations as singular as none (their
            // Cholesky factorisation fails after the sweep); least-squares is the fit without one.
            if text.hasPrefix("ridge="), let lambda = Float(text.dropFirst(6)), lambda.isFinite, (1e-8...1e8).contains(lambda) {
                return .fixed(.ridge(lambda: lambda))
            }
            throw ValidationError("--fit must be auto, least-squares, minimum-norm or ridge=LAMBDA (LAMBDA in 1e-8...1e8; least-squares for no penalty), got '\(text)'")
        }
    }

    // MARK: - Outputs

    static let columns = [
        "scenario", "noise", "queries", "fit", "cosine_distance", "cosine_distance_encoder_space",
        "cosine_distance_to_noiseless", "accuracy_remapped", "accuracy_account1", "coverage_account1", "coverage_account2",
        "sigma_account1", "sigma_account2",
    ]

    static func table(_ points: [RemappingPoint]) -> CSVTable {
        var table = CSVTable(columns: columns)
        for p in points {
            table.append([
                .text(p.scenario), .text(p.noise ? "on" : "off"), .integer(p.queries), .text(p.fit),
                .number(p.cosineDistance), .optional(p.cosineDistanceInEncoderSpace),
                .number(p.cosineDistanceToNoiseless), .number(p.accuracyRemapped), .number(p.accuracyAccount1),
                .number(p.coverageAccount1), .number(p.coverageAccount2),
                .number(Double(p.sigmaAccount1)), .number(Double(p.sigmaAccount2)),
            ])
        }
        return table
    }

    /// Distances are drawn on a log axis, floored at 1e-7 so that an exact remapping shows.
    static func plot(_ points: [RemappingPoint], encoderSpace: Bool, sharedQueries: SharedQuerySource) -> LinePlot {
        let floor = 1e-7
        let source = sharedQueries == .pool ? "pool queries" : "training rows, noiseless test answers"
        var plot = LinePlot(
            title: (encoderSpace ? "Remapping error after undoing account 1's transform" : "Remapping error in the transformed space (Figure 5 analogue)")
                + " (shared \(source))",
            xLabel: "shared queries n", yLabel: "mean cosine distance (floored at 1e-7)",
            xScale: .logarithmic, yScale: .logarithmic)
        var keys: [String] = []
        for p in points where !keys.contains(key(p)) { keys.append(key(p)) }
        for k in keys {
            let series = points.filter { key($0) == k }.compactMap { p -> (x: Double, y: Double)? in
                let value = encoderSpace ? p.cosineDistanceInEncoderSpace : p.cosineDistance
                return value.map { (Double(p.queries), max($0, floor)) }
            }
            if !series.isEmpty { plot.series.append(.init(name: k, points: series)) }
        }
        return plot
    }

    private static func key(_ p: RemappingPoint) -> String { p.scenario + (p.noise ? " + B4B noise" : "") }

    static func summary(_ points: [RemappingPoint]) -> String {
        let widths = [20, 6, 7, 14, 11, 11, 11, 10, 10, 10, 10]
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }.joined(separator: " ")
        }
        var lines = [line(["scenario", "noise", "n", "fit", "cos.dist", "enc.space", "noiseless", "acc.remap", "acc.acct1", "sigma1", "sigma2"])]
        for p in points {
            lines.append(line([
                p.scenario, p.noise ? "on" : "off", String(p.queries), p.fit, String(format: "%.3e", p.cosineDistance),
                p.cosineDistanceInEncoderSpace.map { String(format: "%.3e", $0) } ?? "-",
                String(format: "%.3e", p.cosineDistanceToNoiseless), String(format: "%.4f", p.accuracyRemapped), String(format: "%.4f", p.accuracyAccount1),
                String(format: "%.3e", Double(p.sigmaAccount1)), String(format: "%.3e", Double(p.sigmaAccount2)),
            ]))
        }
        return lines.joined(separator: "\n")
    }
}

/// The reference classifier of `b4b remap` (and the probe of other subcommands).
enum ClassifierChoice: String, ExpressibleByArgument, CaseIterable {
    case ridge, logistic

    var trainer: ClassifierTrainer {
        switch self {
        case .ridge: { x, y in try RidgeClassifier.fit(features: x, labels: y) }
        case .logistic: { x, y in try LogisticProbe.fit(features: x, labels: y) }
        }
    }
}

/// What `remap.json` holds: the settings that produced the points, and the points.
struct RemapReport: Encodable {
    var settings: DefenseConfiguration
    var classifier: String
    /// `pool` or `train` (``SharedQuerySource``).
    var sharedQueries: String
    var points: [RemappingPoint]
}
