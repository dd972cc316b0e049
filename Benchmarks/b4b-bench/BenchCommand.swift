import ArgumentParser
import CommandFiles
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
            and with --numpy the NumPy counterpart: at t threads, t helper processes at one BLAS \
            thread each, timed together) take turns, one repetition \
            each per round, and every ratio is the median over rounds of the ratio within a round: \
            a busy spell of a shared machine then slows both sides of a ratio alike. Compare \
            ratios, not absolute numbers across runs.
            """)

    @Option(parsing: .unconditional,
            help: "Comma-separated batch sizes (rows per protect call), each 1...\(Limits.batch). Default 1,4,16,64,256,1024,4096; with --quick 1,16,256.")
    var batches: String?

    @Option(parsing: .unconditional,
            help: "Comma-separated representation dimensions, each 1...\(Limits.dimension). Default 2048,1536,384; with --quick 2048.")
    var dimensions: String?

    @Option(parsing: .unconditional,
            help: "Comma-separated numbers of concurrent worker threads, each 1...\(Limits.threads). Default 1,2.")
    var threads: String?

    @Option(parsing: .unconditional,
            help: "Comma-separated stages: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")). Default all of them.")
    var stages: String?

    @Option(parsing: .unconditional,
            help: "Comma-separated numbers of distinct users for the user sweep (pad-shuffle stage, batch 1), each 1...\(Limits.users). Default 1,1000,100000; with --quick 1,1000.")
    var users: String?

    @Option(help: "Users who each send one row, to measure resident memory per user (0 skips the whole memory measurement, the dense accounts' too). Default 1000000; with --quick 100000.")
    var memoryUsers: Int?

    @Option(help: "Accounts each loaded with the occupancy of an account that sent a batch of 256 rows (held as bit sets, the largest per-user state), to measure resident memory per such account (0 skips). The 1-million-accounts target is judged from at least \(Targets.memoryAccountsForVerdict) of them. Default 1000000; with --quick 100000.")
    var denseMemoryUsers: Int?

    @Option(help: "UTF-8 bytes of each user id in the memory measurement: 0 uses ids like 'user-123' (at most 15 bytes, which a String holds inline); N in 16...4096 pads every id to N bytes (36: the length of a UUID). Default 0.")
    var memoryIdBytes: Int?

    @Option(help: "Entries of the LSH hyperplanes' normals: gaussian (the paper's and the default configuration's) or signs (+1 or -1; a lone row is hashed from bits where the CPU has AVX-512). The NumPy counterpart uses the same kind. Default gaussian.")
    var normals: String?

    @Option(help: "Pages of the row pools and of output buffers of 4 MiB or more, on both sides: huge (advised for transparent huge pages, as NumPy advises its own arrays of 4 MiB or more) or base (4 KiB pages; the NumPy counterpart told not to advise). Default huge.")
    var pages: String?

    @Option(help: "Rows processed per timed repetition (at least one batch per worker), 1...\(Limits.minRows). Default 4096; with --quick 1024.")
    var minRows: Int?

    @Option(help: "Timed repetitions per point, 1...\(Limits.repetitions). Default 5; with --quick 3.")
    var repetitions: Int?

    @Option(help: "Longest a repetition may take, seconds (at most \(Int(Limits.seconds))): slow points (e.g. a dense transform at batch 1) make fewer calls than --min-rows asks. Default 0.5; with --quick 0.1.")
    var maxSeconds: Double?

    @Option(help: "Shortest a repetition may take, seconds: fast points make more calls than --min-rows asks, so that a short burst of other work on the machine does not decide a repetition. Default 0.1; with --quick 0.01.")
    var minSeconds: Double?

    @Flag(help: "Measure the stage sweep only (skip the user sweep, the cold-transform cost and the memory measurement; their options are then refused).")
    var sweepOnly = false

    @Flag(help: "Skip the reference measurements timed in turns with the stages: the bare BLAS products (sgemm, and one sgemv per row under \(smallBatchRows) rows), and for the hash stage its projection kernel alone and the reading of its rows alone (neither timed with --quick either); for profiling a stage alone.")
    var noBare = false

    @Flag(help: "A short run for CI (under a minute): the --quick defaults of the options above (d = 2048, batches 1, 16, 256, fewer rows, repetitions and users; options given explicitly still apply). It also leaves out the hash stage's kernel alone and its rows' reading alone, and shortens NumPy's warm-up per point to 0.05 s (from 0.25 s). NumPy runs only with --numpy, as without --quick.")
    var quick = false

    @Flag(help: "Also time Benchmarks/numpy_pipeline.py's counterpart of every point, in turns with ours, and print the ratios: as many helper processes as the most --threads, each with one BLAS thread; a point at t threads is timed on t of them at once.")
    var numpy = false

    @Option(help: "The NumPy counterpart script (with --numpy). Default Benchmarks/numpy_pipeline.py.")
    var numpyScript: String?

    @Option(help: "Python interpreter for the NumPy comparison (with --numpy). Default python3.")
    var python: String?

    @Option(name: .customLong("targets-of"), parsing: .upToNextOption,
            help: ArgumentHelp("Measure nothing: read the targets from these earlier runs' --json files and print them as one table (smallest–largest reading over the runs, and how many met each target). Takes no other option.",
                               valueName: "file"))
    var targetsOf: [String] = []

    @Option(help: ArgumentHelp("Write every figure as JSON to this file (written atomically; its directory must exist, checked before the run; a symbolic link is followed, anything but a regular file refused).", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Write throughput-vs-batch SVG figures with this path prefix (one per dimension and thread count: PREFIX-d2048-t1.svg, ...; every file's destination is checked before the run, as for --json).", valueName: "prefix"))
    var svg: String?

    // The options in effect: what was given, else the --quick default, else the full sweep's.
    private var batchList: String { batches ?? (quick ? "1,16,256" : "1,4,16,64,256,1024,4096") }
    private var dimensionList: String { dimensions ?? (quick ? "2048" : "2048,1536,384") }
    private var threadList: String { threads ?? "1,2" }
    private var stageList: String { stages ?? Stage.allCases.map(\.rawValue).joined(separator: ",") }
    private var userList: String { users ?? (quick ? "1,1000" : "1,1000,100000") }
    private var rowsPerRepetition: Int { minRows ?? (quick ? 1024 : 4096) }
    private var repetitionCount: Int { repetitions ?? (quick ? 3 : BenchmarkPlan.defaultRepetitions) }
    private var longestRepetition: Double { maxSeconds ?? (quick ? 0.1 : 0.5) }
    private var shortestRepetition: Double { minSeconds ?? (quick ? 0.01 : BenchmarkPlan.defaultMinimumSeconds) }
    private var onePointUsers: Int { memoryUsers ?? (quick ? 100_000 : 1_000_000) }
    private var denseAccounts: Int { denseMemoryUsers ?? (quick ? 100_000 : 1_000_000) }
    private var idBytes: Int { memoryIdBytes ?? 0 }
    private var normalEntries: String { normals ?? NormalEntries.gaussian.rawValue }
    private var pageKind: String { pages ?? PageKind.huge.rawValue }

    /// The options given on the command line that measure something, by their flag names.
    private var measurementOptionsGiven: [String] {
        let given: [(String, Bool)] = [
            ("--batches", batches != nil), ("--dimensions", dimensions != nil), ("--threads", threads != nil),
            ("--stages", stages != nil), ("--users", users != nil), ("--memory-users", memoryUsers != nil),
            ("--dense-memory-users", denseMemoryUsers != nil), ("--memory-id-bytes", memoryIdBytes != nil),
            ("--normals", normals != nil), ("--pages", pages != nil), ("--min-rows", minRows != nil),
            ("--repetitions", repetitions != nil), ("--max-seconds", maxSeconds != nil), ("--min-seconds", minSeconds != nil),
            ("--sweep-only", sweepOnly), ("--no-bare", noBare), ("--quick", quick), ("--numpy", numpy),
            ("--numpy-script", numpyScript != nil), ("--python", python != nil), ("--json", json != nil), ("--svg", svg != nil),
        ]
        return given.filter(\.1).map(\.0)
    }

    func validate() throws {
        if !targetsOf.isEmpty {
            let others = measurementOptionsGiven
            guard others.isEmpty else {
                throw ValidationError("--targets-of reads saved runs and measures nothing: it takes no other option (got \(others.joined(separator: ", ")))")
            }
            return
        }
        let batchSizes = try parseList(batchList, option: "--batches", limit: Limits.batch)
        let dimensionSizes = try parseList(dimensionList, option: "--dimensions", limit: Limits.dimension)
        let threadCounts = try parseList(threadList, option: "--threads", limit: Limits.threads)
        _ = try parseList(userList, option: "--users", limit: Limits.users)
        _ = try parseStages(stageList)
        guard (1...Limits.minRows).contains(rowsPerRepetition) else {
            throw ValidationError("--min-rows must be in 1...\(Limits.minRows), got \(rowsPerRepetition)")
        }
        guard (1...Limits.repetitions).contains(repetitionCount) else {
            throw ValidationError("--repetitions must be in 1...\(Limits.repetitions), got \(repetitionCount)")
        }
        guard longestRepetition > 0, longestRepetition <= Limits.seconds else {
            throw ValidationError("--max-seconds must be a positive number of seconds, at most \(Int(Limits.seconds)), got \(longestRepetition)")
        }
        guard shortestRepetition >= 0, shortestRepetition <= longestRepetition else {
            let which = minSeconds == nil ? "--min-seconds's default (\(shortestRepetition)\(quick ? " with --quick" : ""))" : "--min-seconds (\(shortestRepetition))"
            throw ValidationError("--min-seconds must be between 0 and --max-seconds (\(longestRepetition)): \(which) is not; give a --min-seconds of at most \(longestRepetition)")
        }
        guard (0...Limits.accounts).contains(onePointUsers) else {
            throw ValidationError("--memory-users must be in 0...\(Limits.accounts), got \(onePointUsers)")
        }
        guard (0...Limits.accounts).contains(denseAccounts) else {
            throw ValidationError("--dense-memory-users must be in 0...\(Limits.accounts), got \(denseAccounts)")
        }
        guard NormalEntries(rawValue: normalEntries) != nil else {
            throw ValidationError("--normals must be one of \(NormalEntries.allCases.map(\.rawValue).joined(separator: ", ")), got '\(normalEntries)'")
        }
        guard PageKind(rawValue: pageKind) != nil else {
            throw ValidationError("--pages must be one of \(PageKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(pageKind)'")
        }
        guard idBytes == 0 || (16...4096).contains(idBytes) else {
            throw ValidationError("--memory-id-bytes must be 0 or in 16...4096, got \(idBytes)")
        }
        // Options that would have no effect are refused rather than ignored.
        let skipped = [("--users", users != nil), ("--memory-users", memoryUsers != nil),
                       ("--dense-memory-users", denseMemoryUsers != nil), ("--memory-id-bytes", memoryIdBytes != nil)]
            .filter(\.1).map(\.0)
        if sweepOnly && !skipped.isEmpty {
            throw ValidationError("--sweep-only skips the user sweep and the memory measurement: \(skipped.joined(separator: ", ")) would have no effect")
        }
        if onePointUsers == 0 && (denseAccounts > 0 && denseMemoryUsers != nil || memoryIdBytes != nil) {
            throw ValidationError("--memory-users 0 skips the whole memory measurement: \(denseMemoryUsers != nil ? "--dense-memory-users" : "--memory-id-bytes") would have no effect")
        }
        if !numpy, let option = [("--numpy-script", numpyScript), ("--python", python)].first(where: { $0.1 != nil })?.0 {
            throw ValidationError("\(option) is for the NumPy comparison: give --numpy as well")
        }
        try Limits.checkMemory(batches: batchSizes, dimensions: dimensionSizes, threads: threadCounts,
                               accounts: sweepOnly ? (0, 0) : (onePointUsers, onePointUsers > 0 ? denseAccounts : 0))
        // Every stage's defense at every dimension must be one the engine accepts (a dense
        // affine stops at 8192 dimensions, a binary transform at 2^26 values), and so must the
        // user sweep's pad-shuffle at the first dimension.
        var configurations = try parseStages(stageList).flatMap { stage in dimensionSizes.map { (stage, $0) } }
        if !sweepOnly { configurations.append((.padShuffle, dimensionSizes[0])) }
        for (stage, d) in configurations {
            do { _ = try stage.configuration(dimension: d, maxBatch: batchSizes.max()!, normals: .gaussian).validated() } catch {
                throw ValidationError("--stages \(stage.rawValue) at --dimensions \(d): the defense refuses this configuration: \(error)")
            }
        }
        // A sweep can take many minutes: a destination that cannot be written is reported now,
        // not after the run.
        var destinations: [(option: String, path: String)] = json.map { [("--json", $0)] } ?? []
        if let svg {
            guard !svg.isEmpty else { throw ValidationError("--svg must not be empty") }
            for d in dimensionSizes {
                for t in threadCounts {
                    destinations.append(("--svg", BenchmarkReport.figurePath(prefix: svg, dimension: d, threads: t)))
                }
            }
        }
        do {
            for (option, path) in destinations { try Files.checkWritableFile(path, option: option) }
            try Files.checkDistinct(destinations)
        } catch let error as FileError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        if !targetsOf.isEmpty {
            let runs = try targetsOf.map(Targets.readSaved)
            let empty = zip(targetsOf, runs).filter { $0.1.isEmpty }.map(\.0)
            guard empty.count < runs.count else {
                throw Targets.SavedReportFailure(description: "no target was measured in \(runs.count == 1 ? "this report" : "these reports"): a target's point is d = \(Targets.dimension) at batch 256 (or 1), or the memory of at least \(Targets.memoryAccountsForVerdict) dense accounts")
            }
            if !empty.isEmpty {
                FileHandle.standardError.write(Data("note: no target was measured in \(empty.joined(separator: ", ")) (counted as a run all the same)\n".utf8))
            }
            print(Targets.summary(runs, names: targetsOf))
            return
        }
        BLASThreads.set(1)
        var plan = BenchmarkPlan(
            batches: try parseList(batchList, option: "--batches", limit: Limits.batch),
            dimensions: try parseList(dimensionList, option: "--dimensions", limit: Limits.dimension),
            threads: try parseList(threadList, option: "--threads", limit: Limits.threads),
            stages: try parseStages(stageList),
            users: sweepOnly ? [] : try parseList(userList, option: "--users", limit: Limits.users),
            minRows: rowsPerRepetition, repetitions: repetitionCount,
            secondsPerRepetition: longestRepetition, minimumSeconds: shortestRepetition,
            measureBare: !noBare, measureKernel: !noBare && !quick, normals: NormalEntries(rawValue: normalEntries)!,
            pages: PageKind(rawValue: pageKind)!)
        plan.quick = quick
        plan.sweepOnly = sweepOnly
        plan.numpy = numpy
        if !sweepOnly {
            plan.memoryUsers = onePointUsers
            plan.denseMemoryUsers = onePointUsers > 0 ? denseAccounts : 0
            plan.memoryIdBytes = idBytes
        }
        var report = BenchmarkReport(machine: MachineInfo.current(), arguments: Array(CommandLine.arguments.dropFirst()), plan: plan)
        print(report.machine.markdown)
        if let warning = BLASLibrary.genericKernelsWarning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }

        // As many NumPy processes as the most threads, each with one BLAS thread: a point at t
        // threads is timed by the first t of them at once (see NumPyPoint).
        var workers: [NumPyWorker] = []
        if numpy {
            for index in 1...plan.threads.max()! {
                // The script's own warm-up per point: its default, shorter for --quick (as its --quick).
                workers.append(try NumPyWorker(script: numpyScript ?? "Benchmarks/numpy_pipeline.py", python: python ?? "python3",
                                               threads: 1, plan: plan, warmup: quick ? "0.05s" : "0.25s", index: index))
            }
            print("NumPy \(workers[0].version) (\(workers[0].blas)) takes turns with each point: at t threads, t processes at one BLAS thread each.\n")
        }

        let runner = BenchmarkRunner(plan: plan)
        let (results, numpyRows) = try runner.runSweep(numpy: workers, progress: { print($0) })
        report.results = results
        if let first = workers.first {
            report.numpy = NumPyResults(version: first.version, blas: first.blas, results: numpyRows)
        }
        workers = []
        if !sweepOnly {
            report.userSweep = runner.runUserSweep(progress: { print($0) })
            report.coldAffine = runner.measureColdAffine(dimension: plan.dimensions[0])
        }
        if onePointUsers > 0 && !sweepOnly {
            report.memory = runner.measureMemory(users: onePointUsers, denseUsers: denseAccounts, idBytes: idBytes,
                                                 dimension: plan.dimensions[0])
        }

        report.targets = Targets.read(results: report.results, memory: report.memory.map(SavedMemory.init))
        print(report.markdown())
        // Every result is staged beside its destination and all are renamed into place
        // together: a failure leaves every earlier result as it was.
        let staged = StagedFiles()
        let figures = try svg.map { try report.stageFigures(prefix: $0, in: staged) } ?? []
        if let json { try staged.stage(try report.jsonData(), to: json, option: "--json") }
        try staged.commit()
        for file in figures { print("SVG written to \(file)") }
        if let json { print("JSON written to \(json)") }
    }
}

/// The largest values the options take: beyond them a run would not fit a machine's memory
/// or a working day, and some products would overflow.
enum Limits {
    static let batch = 1 << 20
    static let dimension = 65_536
    static let threads = 256
    static let users = 10_000_000
    static let minRows = 1 << 30
    static let repetitions = 10_000
    static let seconds = 3600.0
    static let accounts = 100_000_000

    /// Throws a usage error when the plan's largest buffers would not fit in this machine's
    /// memory: per worker a pool of max(largest batch, 2048) rows and an output batch as wide
    /// as the widest stage (the binary transform's 4096 bits, or d + 64 padded columns), for
    /// the largest thread count and dimension, on both sides with --numpy (counted twice here
    /// in any case, a margin for the stages' own state); the accounts of the memory
    /// measurement at about 150 and 1000 bytes each.
    static func checkMemory(batches: [Int], dimensions: [Int], threads: [Int], accounts: (onePoint: Int, dense: Int),
                            available: UInt64 = ProcessInfo.processInfo.physicalMemory) throws {
        let (b, d, t) = (Double(batches.max()!), Double(dimensions.max()!), Double(threads.max()!))
        let buffers = 2 * t * (max(b, 2048) * d + b * max(d + 64, 4096)) * 4 + 2 * d * d * 4
        let state = Double(accounts.onePoint) * 150 + Double(accounts.dense) * 1000
        let gib = 1024.0 * 1024 * 1024
        guard buffers + state > Double(available) * 0.8 else { return }
        let what = buffers >= state
            ? "row pools and output buffers for --threads \(threads.max()!) × --batches \(batches.max()!) × --dimensions \(dimensions.max()!)"
            : "--memory-users \(accounts.onePoint) and --dense-memory-users \(accounts.dense) accounts"
        throw ValidationError(String(format: "this plan needs about %.1f GiB (%@), more than this machine's %.1f GiB of memory allows; give smaller values",
                                     (buffers + state) / gib, what, Double(available) / gib))
    }
}

/// Parses a comma-separated list of distinct integers in 1...`limit` given as `option`; an
/// empty item, a value out of range or a repeated one is named in the error.
func parseList(_ s: String, option: String, limit: Int) throws -> [Int] {
    let items = s.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    var values: [Int] = []
    for item in items {
        guard let value = Int(item), value >= 1 else {
            throw ValidationError("\(option) must be a comma-separated list of positive integers, got '\(s)'\(item.isEmpty ? " (an empty item)" : "")")
        }
        guard value <= limit else { throw ValidationError("\(option) takes values up to \(limit), got \(value)") }
        guard !values.contains(value) else { throw ValidationError("\(option) lists \(value) twice") }
        values.append(value)
    }
    return values
}

/// Parses the comma-separated stage names of `--stages` (distinct, each known).
func parseStages(_ s: String) throws -> [Stage] {
    var stages: [Stage] = []
    for name in s.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
        guard let stage = Stage(rawValue: name) else {
            throw ValidationError("unknown stage '\(name)'; known: \(Stage.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard !stages.contains(stage) else { throw ValidationError("--stages lists \(name) twice") }
        stages.append(stage)
    }
    return stages
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
    /// Distinct users of the user sweep (pad-shuffle stage, batch 1; empty with `--sweep-only`).
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
    /// Whether the run was `--quick`, `--sweep-only` and `--numpy`.
    var quick = false
    var sweepOnly = false
    var numpy = false
    /// The memory measurement's accounts (`--memory-users`, `--dense-memory-users`; 0 when
    /// not measured) and their ids' bytes (`--memory-id-bytes`).
    var memoryUsers = 0
    var denseMemoryUsers = 0
    var memoryIdBytes = 0

    /// The full sweep's repetitions per point and shortest repetition (seconds), which
    /// `--repetitions` and `--min-seconds` default to without `--quick`.
    static let defaultRepetitions = 5
    static let defaultMinimumSeconds = 0.1

    /// Whether repetitions are fewer or shorter than the full sweep's (as with `--quick`).
    var hasShortRepetitions: Bool { repetitions < Self.defaultRepetitions || minimumSeconds < Self.defaultMinimumSeconds }
}
