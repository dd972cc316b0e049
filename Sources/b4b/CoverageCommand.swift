import ArgumentParser
import Defense
import Evaluation
import Foundation
import NumericKernels
import Plots

/// A named dataset given on the command line as `NAME=PATH`.
struct NamedDataset: ExpressibleByArgument {
    let name: String
    let path: String

    init?(argument: String) {
        guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex, argument.index(after: eq) != argument.endIndex else {
            return nil
        }
        name = String(argument[..<eq])
        path = String(argument[argument.index(after: eq)...])
    }

    /// Parses `argument` of `option`, saying what the form is when it is not `NAME=PATH`
    /// (the argument parser's own message only calls the value invalid).
    static func parse(_ argument: String, option: String, example: String) throws -> NamedDataset {
        guard let named = NamedDataset(argument: argument) else {
            throw ValidationError("\(option) takes a name, '=', then a path (e.g. \(example)), got '\(argument)'")
        }
        return named
    }
}

/// Which hashers a coverage run compares (`origin`, `centred`, `signs-origin`, `signs-centred`, `principal`).
func parseHashers(_ text: String) throws -> [CoverageHasherKind] {
    try listItems(text, option: "--hashers").map { name in
        guard let kind = CoverageHasherKind(rawValue: name), kind != .fitted else {
            throw ValidationError("--hashers: unknown hasher '\(name)'; known: origin, centred, signs-origin, signs-centred, principal")
        }
        return kind
    }
}

/// Builds the hasher of `kind` from a calibration sample (centre or principal directions).
func coverageHasher(_ kind: CoverageHasherKind, calibration sample: Matrix) throws -> CoverageHasher {
    switch kind {
    case .throughOrigin: return .throughOrigin
    case .centred: return .centred(centre: try Calibration(sample: sample).centre)
    case .signsThroughOrigin: return .signsThroughOrigin
    case .signsCentred: return .signsCentred(centre: try Calibration(sample: sample).centre)
    case .principal: return .principal(sample: sample)
    case .fitted: throw ValidationError("a fitted hasher needs a stored projection; choose origin, centred, signs-origin, signs-centred or principal")
    }
}

/// `b4b coverage`: the paper's Figures 3 and 10.
struct CoverageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coverage",
        abstract: "Coverage curves: the fraction of occupied LSH buckets against the number of queries, per dataset and hasher.",
        discussion: """
            Each curve is averaged over --repetitions independent random projections, each with \
            its own random order of the dataset's rows (queries are drawn without replacement). \
            The hashers are the engine's: random hyperplanes through the origin (the paper's), \
            random hyperplanes through the centre of the calibration sample, the same two with \
            sign normals (entries +1 or -1: signs-origin, signs-centred), and hyperplanes along \
            the calibration sample's principal directions with median thresholds. A bucket-count \
            ablation repeats the first hasher's curves for each --ablation value of k.

            Writes coverage.csv (dataset, hasher, hash_bits, queries, mean, std), coverage.json, \
            one coverage-<hasher>.svg per hasher (one line per dataset) and coverage-ablation.svg.
            """)

    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("data"), help: ArgumentHelp(
        "A dataset as NAME=PATH (.npy, rows x d); repeat for several (e.g. --data pool=pool.npy --data task=train.npy).",
        valueName: "name=npy"), transform: { try NamedDataset.parse($0, option: "--data", example: "pool=pool.npy") })
    var datasets: [NamedDataset]

    @Option(help: ArgumentHelp(
        "Calibration sample for the centred (signs-centred) and principal hashers (.npy; at most its first 10000 rows are used). Default: the first --data.",
        valueName: "npy"))
    var calibration: String?

    @Option(help: ArgumentHelp("Hashers, comma-separated, from: origin, centred, signs-origin, signs-centred, principal.", valueName: "list"))
    var hashers: String = "origin,centred,principal"

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Query counts, comma-separated, each capped by the dataset's rows. Default: 100, 250, 500, 1000, 2500, ... below the dataset's size, then its size.",
        valueName: "list"))
    var counts: String?

    @Option(parsing: .unconditional, help: "Hyperplanes per table k (2^k buckets).")
    var hashBits: Int = 12

    @Option(parsing: .unconditional, help: "Hash tables averaged per curve.")
    var tables: Int = 1

    @Option(parsing: .unconditional, help: "Independent random projections (and query orders) averaged per curve.")
    var repetitions: Int = 5

    @Option(parsing: .unconditional, help: ArgumentHelp("Values of k for the bucket-count ablation, comma-separated; 'none' to skip it.", valueName: "list"))
    var ablation: String = "8,10,12,14,16"

    @Option(parsing: .unconditional, help: "Seed of the projections and query orders.")
    var seed: UInt64 = 1

    func validate() throws {
        try refuseRepeatedOptions(repeatable: ["--data"])
        guard Set(datasets.map(\.name)).count == datasets.count else { throw ValidationError("--data names must be distinct") }
        _ = try parseHashers(hashers)
        if let counts { _ = try parseCounts(counts, option: "--counts") }
        if ablation != "none" {
            let values = try parseCounts(ablation, option: "--ablation")
            guard values.allSatisfy({ (1...24).contains($0) }) else { throw ValidationError("--ablation values must be in 1...24") }
        }
        guard (1...24).contains(hashBits) else { throw ValidationError("--hash-bits must be in 1...24, got \(hashBits)") }
        guard (1...64).contains(tables) else { throw ValidationError("--tables must be in 1...64, got \(tables)") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
    }

    func run() throws {
        useBLAS(threads: BLASThreads.processorCount)
        let kinds = try parseHashers(hashers)
        let ablationBits = ablation == "none" ? [] : try parseCounts(ablation, option: "--ablation")
        let directory = try output.prepare(files: ["coverage.csv", "coverage.json"] + kinds.map { "coverage-\($0.rawValue).svg" }
                                           + (ablationBits.isEmpty ? [] : ["coverage-ablation.svg"]))
        let data = try datasets.map { ($0.name, try readMatrix($0.path, option: "--data \($0.name)")) }
        let d = data[0].1.columns
        for (name, m) in data where m.columns != d {
            throw CommandError("--data \(name) has \(m.columns) columns, --data \(data[0].0) has \(d)")
        }
        guard d > 0 else { throw CommandError("--data \(data[0].0): '\(datasets[0].path)' has no columns (\(data[0].1.rows) x 0)") }
        if kinds.contains(.principal) {
            try requireMemory(squareSystemBytes(d), for: "the principal hasher on --data \(data[0].0) (\(d) columns)")
        }
        let sampleSource = try calibration.map { try readMatrix($0, option: "--calibration") } ?? data[0].1
        guard sampleSource.columns == d else {
            throw CommandError("--calibration has \(sampleSource.columns) columns, the data have \(d)")
        }
        let sample = sampleSource.rows(0 ..< min(sampleSource.rows, 10000)).copy()
        let requested = try counts.map { try parseCounts($0, option: "--counts") }
        let seedValue = RandomSeed(seed, 0xC0FE, 0, 0)

        let progress = ProgressReporter("coverage", total: data.count * (kinds.count + ablationBits.count))
        var curves: [CoverageCurve] = []
        var ablationCurves: [CoverageCurve] = []
        for kind in kinds {
            let experiment = CoverageExperiment(hashBits: hashBits, tableCount: tables, repetitions: repetitions,
                                                hasher: try coverageHasher(kind, calibration: sample), seed: seedValue)
            for (name, matrix) in data {
                let curve = try measure { try experiment.curve(name: name, data: matrix, queryCounts: queryCounts(requested, rows: matrix.rows)) }
                curves.append(curve)
                progress.advance(String(format: "%@ %@: %.4f after %d queries", kind.rawValue, name, curve.mean.last ?? 0, curve.queryCounts.last ?? 0))
            }
        }
        if let first = kinds.first, !ablationBits.isEmpty {
            let experiment = CoverageExperiment(hashBits: hashBits, tableCount: tables, repetitions: repetitions,
                                                hasher: try coverageHasher(first, calibration: sample), seed: seedValue)
            for (name, matrix) in data {
                let counts = queryCounts(requested, rows: matrix.rows)
                for k in ablationBits {
                    var e = experiment
                    e.hashBits = k
                    ablationCurves.append(try measure { try e.curve(name: name, data: matrix, queryCounts: counts) })
                    progress.advance("ablation \(name) k = \(k)")
                }
            }
        }

        var table = CSVTable(columns: ["dataset", "hasher", "hash_bits", "tables", "repetitions", "queries", "mean", "std"])
        for curve in curves + ablationCurves {
            for (i, q) in curve.queryCounts.enumerated() {
                table.append([.text(curve.name), .text(curve.hasher.rawValue), .integer(curve.hashBits), .integer(curve.tableCount),
                              .integer(curve.repetitions), .integer(q), .number(curve.mean[i]), .number(curve.standardDeviation[i])])
            }
        }
        try directory.write(table.text, to: "coverage.csv")
        try directory.writeJSON(CoverageReport(curves: curves, ablation: ablationCurves), to: "coverage.json")
        for kind in kinds {
            let plot = Self.plot(curves.filter { $0.hasher == kind }, title: "Coverage, \(kind.rawValue) hasher, \(1 << hashBits) buckets") { $0.name }
            try directory.write(plot.svg(), to: "coverage-\(kind.rawValue).svg")
        }
        if !ablationCurves.isEmpty {
            let plot = Self.plot(ablationCurves, title: "Bucket-count ablation (\(kinds[0].rawValue) hasher)") { "\($0.name), 2^\($0.hashBits)" }
            try directory.write(plot.svg(), to: "coverage-ablation.svg")
        }
        try directory.commit()
        for curve in curves {
            let label = curve.name.padding(toLength: max(24, curve.name.count), withPad: " ", startingAt: 0)
                + " " + curve.hasher.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
            print(label + String(format: " coverage %.4f ± %.4f after %d queries",
                                 curve.mean.last ?? 0, curve.standardDeviation.last ?? 0, curve.queryCounts.last ?? 0))
        }
        print("wrote coverage.csv, coverage.json and figures in \(directory.path)")
    }

    private func queryCounts(_ requested: [Int]?, rows: Int) -> [Int] {
        guard let requested else { return CoverageCurve.standardQueryCounts(upTo: rows) }
        return Array(Set(requested.map { min($0, rows) })).sorted()
    }

    private func measure(_ body: () throws -> CoverageCurve) throws -> CoverageCurve {
        do { return try body() } catch let error as CoverageCurveError { throw CommandError("\(error)") }
    }

    static func plot(_ curves: [CoverageCurve], title: String, name: (CoverageCurve) -> String) -> LinePlot {
        var plot = LinePlot(title: title, xLabel: "queries", yLabel: "fraction of buckets occupied", xScale: .logarithmic)
        for curve in curves {
            plot.series.append(.init(name: name(curve), points: zip(curve.queryCounts, curve.mean).map { (Double($0), $1) }))
        }
        return plot
    }
}

/// What `coverage.json` holds.
struct CoverageReport: Codable {
    var curves: [CoverageCurve]
    var ablation: [CoverageCurve]
}
