import ArgumentParser
import Defense
import Foundation
import NumericKernels
import Plots

/// `b4b-bench`: how many embeddings per second the defense sustains at each batch size,
/// what it costs on top of the bare matrix multiply, and how it compares with NumPy.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "b4b-bench",
        abstract: "Throughput of the B4B defense vs batch size, against a bare sgemm and against NumPy.",
        discussion: """
            Every point runs a warm-up, then several timed repetitions on fresh generated unit-norm \
            rows; throughput is the median over repetitions, latency percentiles are over all batch \
            calls. Worker threads each call protect() for their own users with OpenBLAS set to one \
            thread (the engine's threading model), so 'threads' is the number of concurrent callers. \
            The points of one stage and batch (each thread count, the bare sgemm of the same shape, \
            and with --numpy the NumPy counterpart in a helper process) take turns, one repetition \
            each per round, and every ratio is the median over rounds of the ratio within a round: \
            a busy spell of a shared machine then slows both sides of a ratio alike. Compare \
            ratios, not absolute numbers across runs.
            """)

    @Option(help: "Comma-separated batch sizes (rows per protect call). Default 1,4,16,64,256,1024,4096; with --quick 1,16,256.")
    var batches: String?

    @Option(help: "Comma-separated representation dimensions. Default 2048,1536,384; with --quick 2048.")
    var dimensions: String?

    @Option(help: "Comma-separated numbers of concurrent worker threads.")
    var threads: String = "1,2"

    @Option(help: "Comma-separated stages: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var stages: String = Stage.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: "Comma-separated numbers of distinct users for the user sweep (pad-shuffle stage, batch 1). Default 1,1000,100000; with --quick 1,1000.")
    var users: String?

    @Option(help: "Users who each send one row, to measure resident memory per user (0 skips the memory measurement). Default 1000000; with --quick 100000.")
    var memoryUsers: Int?

    @Option(help: "Accounts each loaded with the occupancy of an account that sent a batch of 256 rows (held as bit sets, the largest per-user state), to measure resident memory per such account (0 skips). Default 1000000; with --quick 100000.")
    var denseMemoryUsers: Int?

    @Option(help: "UTF-8 bytes of each user id in the memory measurement: 0 uses ids like 'user-123' (at most 15 bytes, which a String holds inline); N >= 16 pads every id to N bytes (36: the length of a UUID).")
    var memoryIdBytes: Int = 0

    @Option(help: "Entries of the LSH hyperplanes' normals: gaussian (the paper's and the default configuration's) or signs (+1 or -1; a lone row is hashed from bits where the CPU has AVX-512). The NumPy counterpart uses the same kind.")
    var normals: String = NormalEntries.gaussian.rawValue

    @Option(help: "Pages of the row pools and of output buffers of 4 MiB or more, on both sides: huge (advised for transparent huge pages, as NumPy advises its own arrays of 4 MiB or more) or base (4 KiB pages; the NumPy counterpart told not to advise).")
    var pages: String = PageKind.huge.rawValue

    @Option(help: "Rows processed per timed repetition (at least one batch per worker). Default 4096; with --quick 1024.")
    var minRows: Int?

    @Option(help: "Timed repetitions per point. Default 5; with --quick 3.")
    var repetitions: Int?

    @Option(help: "Longest a repetition may take, seconds: slow points (e.g. a dense transform at batch 1) make fewer calls than --min-rows asks. Default 0.5; with --quick 0.1.")
    var maxSeconds: Double?

    @Option(help: "Shortest a repetition may take, seconds: fast points make more calls than --min-rows asks, so that a short burst of other work on the machine does not decide a repetition. Default 0.1; with --quick 0.01.")
    var minSeconds: Double?

    @Flag(help: "Measure the stage sweep only (skip the user sweep, the cold-transform cost and the memory measurement).")
    var sweepOnly = false

    @Flag(help: "Skip the reference measurements timed in turns with the stages: the bare sgemms, and for the hash stage its projection kernel alone (not timed with --quick either); for profiling a stage alone.")
    var noBare = false

    @Flag(help: "A short run for CI (under a minute): the --quick defaults of the options above (d = 2048, batches 1, 16, 256, fewer rows and repetitions; options given explicitly still apply); no NumPy unless --numpy.")
    var quick = false

    @Flag(help: "Also time Benchmarks/numpy_pipeline.py's counterpart of every point, in turns with ours (one helper process per thread count), and print the ratios.")
    var numpy = false

    @Option(help: "The NumPy counterpart script.")
    var numpyScript: String = "Benchmarks/numpy_pipeline.py"

    @Option(help: "Python interpreter for the NumPy comparison.")
    var python: String = "python3"

    @Option(name: .customLong("targets-of"), parsing: .upToNextOption,
            help: ArgumentHelp("Measure nothing: read the targets from these earlier runs' --json files and print them as one table (smallest–largest reading over the runs, and how many met each target).",
                               valueName: "file"))
    var targetsOf: [String] = []

    @Option(help: ArgumentHelp("Write every figure as JSON to this file (written atomically; its directory must exist, checked before the run).", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Write throughput-vs-batch SVG figures with this path prefix (one per dimension and thread count: PREFIX-d2048-t1.svg, ...; the prefix's directory must exist, checked before the run).", valueName: "prefix"))
    var svg: String?

    // The options in effect: what was given, else the --quick default, else the full sweep's.
    private var batchList: String { batches ?? (quick ? "1,16,256" : "1,4,16,64,256,1024,4096") }
    private var dimensionList: String { dimensions ?? (quick ? "2048" : "2048,1536,384") }
    private var userList: String { users ?? (quick ? "1,1000" : "1,1000,100000") }
    private var rowsPerRepetition: Int { minRows ?? (quick ? 1024 : 4096) }
    private var repetitionCount: Int { repetitions ?? (quick ? 3 : BenchmarkPlan.defaultRepetitions) }
    private var longestRepetition: Double { maxSeconds ?? (quick ? 0.1 : 0.5) }
    private var shortestRepetition: Double { minSeconds ?? (quick ? 0.01 : BenchmarkPlan.defaultMinimumSeconds) }
    private var onePointUsers: Int { memoryUsers ?? (quick ? 100_000 : 1_000_000) }
    private var denseAccounts: Int { denseMemoryUsers ?? (quick ? 100_000 : 1_000_000) }

    func validate() throws {
        for (name, list) in [("--batches", batchList), ("--dimensions", dimensionList), ("--threads", threads), ("--users", userList)] {
            guard let values = parseList(list), !values.isEmpty, values.allSatisfy({ $0 >= 1 }) else {
                throw ValidationError("\(name) must be a comma-separated list of positive integers, got '\(list)'")
            }
        }
        for s in stages.split(separator: ",", omittingEmptySubsequences: false) where Stage(rawValue: String(s)) == nil {
            throw ValidationError("unknown stage '\(s)'; known: \(Stage.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard rowsPerRepetition >= 1 else { throw ValidationError("--min-rows must be at least 1, got \(rowsPerRepetition)") }
        guard repetitionCount >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitionCount)") }
        guard longestRepetition > 0, longestRepetition.isFinite else {
            throw ValidationError("--max-seconds must be a positive number, got \(longestRepetition)")
        }
        guard shortestRepetition >= 0, shortestRepetition <= longestRepetition else {
            throw ValidationError("--min-seconds must be between 0 and --max-seconds (\(longestRepetition)), got \(shortestRepetition)")
        }
        guard onePointUsers >= 0 else { throw ValidationError("--memory-users must be non-negative, got \(onePointUsers)") }
        guard denseAccounts >= 0 else { throw ValidationError("--dense-memory-users must be non-negative, got \(denseAccounts)") }
        guard NormalEntries(rawValue: normals) != nil else {
            throw ValidationError("--normals must be one of \(NormalEntries.allCases.map(\.rawValue).joined(separator: ", ")), got '\(normals)'")
        }
        guard PageKind(rawValue: pages) != nil else {
            throw ValidationError("--pages must be one of \(PageKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(pages)'")
        }
        guard memoryIdBytes == 0 || (16...4096).contains(memoryIdBytes) else {
            throw ValidationError("--memory-id-bytes must be 0 or in 16...4096, got \(memoryIdBytes)")
        }
        if !targetsOf.isEmpty && (json != nil || svg != nil || numpy) {
            throw ValidationError("--targets-of reads saved runs and measures nothing: it takes no --json, --svg or --numpy")
        }
        // A sweep can take many minutes: a destination that cannot be written is reported now,
        // not after the run.
        if let json { try OutputPath.check(json, option: "--json") }
        if let svg { try OutputPath.check(svg + "-d0-t0.svg", option: "--svg", shown: svg) }
    }

    func run() throws {
        if !targetsOf.isEmpty {
            print(try Targets.summary(targetsOf.map(Targets.readSaved), names: targetsOf))
            return
        }
        BLASThreads.set(1)
        let plan = BenchmarkPlan(
            batches: parseList(batchList)!, dimensions: parseList(dimensionList)!, threads: parseList(threads)!,
            stages: stages.split(separator: ",").compactMap { Stage(rawValue: String($0)) },
            users: parseList(userList)!, minRows: rowsPerRepetition, repetitions: repetitionCount,
            secondsPerRepetition: longestRepetition, minimumSeconds: shortestRepetition,
            measureBare: !noBare, measureKernel: !noBare && !quick, normals: NormalEntries(rawValue: normals)!,
            pages: PageKind(rawValue: pages)!)
        var report = BenchmarkReport(machine: MachineInfo.current(), arguments: Array(CommandLine.arguments.dropFirst()), plan: plan)
        print(report.machine.markdown)
        if let warning = BLASLibrary.genericKernelsWarning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }

        // One NumPy worker per thread count, each with its BLAS set to that many threads.
        var workers: [Int: NumPyWorker] = [:]
        if numpy {
            for t in plan.threads {
                // The script's own warm-up per point: its default, shorter for --quick (as its --quick).
                workers[t] = try NumPyWorker(script: numpyScript, python: python, threads: t, plan: plan,
                                             warmup: quick ? "0.05s" : "0.25s")
            }
            let first = workers[plan.threads[0]]!
            print("NumPy \(first.version) (\(first.blas)) takes turns with each point.\n")
        }

        let runner = BenchmarkRunner(plan: plan)
        let (results, numpyRows) = try runner.runSweep(numpy: workers, progress: { print($0) })
        report.results = results
        if let first = workers[plan.threads[0]] {
            report.numpy = NumPyResults(version: first.version, blas: first.blas, results: numpyRows)
        }
        workers = [:]
        if !sweepOnly {
            report.userSweep = runner.runUserSweep(progress: { print($0) })
            report.coldAffine = runner.measureColdAffine(dimension: plan.dimensions[0])
        }
        if onePointUsers > 0 && !sweepOnly {
            report.memory = runner.measureMemory(users: onePointUsers, denseUsers: denseAccounts, idBytes: memoryIdBytes,
                                                 dimension: plan.dimensions[0])
        }

        report.targets = Targets.read(results: report.results, memory: report.memory)
        print(report.markdown())
        if let json {
            try OutputPath.write(try report.jsonData(), to: json, option: "--json")
            print("JSON written to \(json)")
        }
        if let svg {
            for file in try report.writeFigures(prefix: svg) { print("SVG written to \(file)") }
        }
    }
}

/// Parses "1,2,3" into integers (nil on any bad element).
func parseList(_ s: String) -> [Int]? {
    let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    return parts.contains(where: { $0 == nil }) ? nil : parts.map { $0! }
}

/// What to sweep.
struct BenchmarkPlan: Codable, Sendable {
    /// Rows per call.
    var batches: [Int]
    /// Representation dimensions.
    var dimensions: [Int]
    /// Concurrent caller threads (each with OpenBLAS at one thread).
    var threads: [Int]
    var stages: [Stage]
    /// Distinct users of the user sweep (pad-shuffle stage, batch 1).
    var users: [Int]
    /// Rows per timed repetition, at least (`--min-rows`).
    var minRows: Int
    /// Timed repetitions (rounds) per point.
    var repetitions: Int
    /// Longest a repetition may take, seconds (`--max-seconds`).
    var secondsPerRepetition: Double
    /// Shortest a repetition may take, seconds (`--min-seconds`).
    var minimumSeconds: Double
    /// Whether the bare sgemms are timed in turns with the stages.
    var measureBare = true
    /// Whether the hash stage's projection kernel alone is timed in turns with it (with
    /// `measureBare`, not with `--quick`, which must stay under a minute).
    var measureKernel = true
    /// How the LSH normals' entries are drawn, here and in the NumPy counterpart.
    var normals: NormalEntries = .gaussian
    /// What backs the row pools and large output buffers, here and in the NumPy counterpart.
    var pages: PageKind = .huge

    /// The full sweep's repetitions per point and shortest repetition (seconds), which
    /// `--repetitions` and `--min-seconds` default to without `--quick`.
    static let defaultRepetitions = 5
    static let defaultMinimumSeconds = 0.1

    /// Whether repetitions are fewer or shorter than the full sweep's (as with `--quick`).
    var hasShortRepetitions: Bool { repetitions < Self.defaultRepetitions || minimumSeconds < Self.defaultMinimumSeconds }
}
