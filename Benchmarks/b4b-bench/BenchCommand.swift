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

    @Option(help: "Comma-separated batch sizes (rows per protect call).")
    var batches: String = "1,4,16,64,256,1024,4096"

    @Option(help: "Comma-separated representation dimensions.")
    var dimensions: String = "2048,1536,384"

    @Option(help: "Comma-separated numbers of concurrent worker threads.")
    var threads: String = "1,2"

    @Option(help: "Comma-separated stages: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var stages: String = Stage.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: "Comma-separated numbers of distinct users for the user sweep (pad-shuffle stage, batch 1).")
    var users: String = "1,1000,100000"

    @Option(help: "Users who each send one row, to measure resident memory per user (0 skips the memory measurement).")
    var memoryUsers: Int = 1_000_000

    @Option(help: "Accounts each loaded with the occupancy of an account that sent a batch of 256 rows (held as bit sets, the largest per-user state), to measure resident memory per such account (0 skips).")
    var denseMemoryUsers: Int = 1_000_000

    @Option(help: "UTF-8 bytes of each user id in the memory measurement: 0 uses ids like 'user-123' (at most 15 bytes, which a String holds inline); N >= 16 pads every id to N bytes (36: the length of a UUID).")
    var memoryIdBytes: Int = 0

    @Option(help: "Entries of the LSH hyperplanes' normals: gaussian (the paper's and the default configuration's) or signs (+1 or -1; a lone row is hashed from bits where the CPU has AVX-512). The NumPy counterpart uses the same kind.")
    var normals: String = NormalEntries.gaussian.rawValue

    @Option(help: "Rows processed per timed repetition (at least one batch per worker).")
    var minRows: Int = 4096

    @Option(help: "Timed repetitions per point.")
    var repetitions: Int = 5

    @Option(help: "Longest a repetition may take, seconds: slow points (e.g. a dense transform at batch 1) make fewer calls than --min-rows asks.")
    var maxSeconds: Double = 0.5

    @Option(help: "Shortest a repetition may take, seconds: fast points make more calls than --min-rows asks, so that a short burst of other work on the machine does not decide a repetition.")
    var minSeconds: Double = 0.1

    @Flag(help: "Measure the stage sweep only (skip the user sweep, the cold-transform cost and the memory measurement).")
    var sweepOnly = false

    @Flag(help: "Skip the reference measurements timed in turns with the stages: the bare sgemms, and for the hash stage its projection kernel alone (not timed with --quick either); for profiling a stage alone.")
    var noBare = false

    @Flag(help: "A short run for CI (under a minute): d = 2048, batches 1, 16, 256, fewer rows; no NumPy unless --numpy.")
    var quick = false

    @Flag(help: "Also time Benchmarks/numpy_pipeline.py's counterpart of every point, in turns with ours (one helper process per thread count), and print the ratios.")
    var numpy = false

    @Option(help: "The NumPy counterpart script.")
    var numpyScript: String = "Benchmarks/numpy_pipeline.py"

    @Option(help: "Python interpreter for the NumPy comparison.")
    var python: String = "python3"

    @Option(help: "Write every figure as JSON to this file.")
    var json: String?

    @Option(help: "Write throughput-vs-batch SVG figures with this path prefix (one per dimension and thread count).")
    var svg: String?

    mutating func validate() throws {
        if quick {
            batches = "1,16,256"
            dimensions = "2048"
            minRows = 1024
            repetitions = 3
            maxSeconds = 0.1
            minSeconds = 0.01
            users = "1,1000"
            memoryUsers = 100_000
            denseMemoryUsers = 100_000
        }
        for (name, list) in [("--batches", batches), ("--dimensions", dimensions), ("--threads", threads), ("--users", users)] {
            guard let values = parseList(list), !values.isEmpty, values.allSatisfy({ $0 >= 1 }) else {
                throw ValidationError("\(name) must be a comma-separated list of positive integers, got '\(list)'")
            }
        }
        for s in stages.split(separator: ",") where Stage(rawValue: String(s)) == nil {
            throw ValidationError("unknown stage '\(s)'; known: \(Stage.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard minRows >= 1 else { throw ValidationError("--min-rows must be at least 1") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        guard maxSeconds > 0 else { throw ValidationError("--max-seconds must be positive") }
        guard minSeconds >= 0, minSeconds <= maxSeconds else {
            throw ValidationError("--min-seconds must be between 0 and --max-seconds (\(maxSeconds)), got \(minSeconds)")
        }
        guard memoryUsers >= 0 else { throw ValidationError("--memory-users must be non-negative") }
        guard denseMemoryUsers >= 0 else { throw ValidationError("--dense-memory-users must be non-negative") }
        guard NormalEntries(rawValue: normals) != nil else {
            throw ValidationError("--normals must be one of \(NormalEntries.allCases.map(\.rawValue).joined(separator: ", ")), got '\(normals)'")
        }
        guard memoryIdBytes == 0 || (16...4096).contains(memoryIdBytes) else {
            throw ValidationError("--memory-id-bytes must be 0 or in 16...4096, got \(memoryIdBytes)")
        }
    }

    func run() throws {
        BLASThreads.set(1)
        let plan = BenchmarkPlan(
            batches: parseList(batches)!, dimensions: parseList(dimensions)!, threads: parseList(threads)!,
            stages: stages.split(separator: ",").compactMap { Stage(rawValue: String($0)) },
            users: parseList(users)!, minRows: minRows, repetitions: repetitions, secondsPerRepetition: maxSeconds,
            minimumSeconds: minSeconds, measureBare: !noBare, measureKernel: !noBare && !quick, normals: NormalEntries(rawValue: normals)!)
        var report = BenchmarkReport(machine: MachineInfo.current(), normals: plan.normals)
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
        if memoryUsers > 0 && !sweepOnly {
            report.memory = runner.measureMemory(users: memoryUsers, denseUsers: denseMemoryUsers, idBytes: memoryIdBytes,
                                                 dimension: plan.dimensions[0])
        }

        print(report.markdown())
        if let json {
            try report.jsonData().write(to: URL(fileURLWithPath: json))
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
struct BenchmarkPlan: Sendable {
    var batches: [Int]
    var dimensions: [Int]
    var threads: [Int]
    var stages: [Stage]
    var users: [Int]
    var minRows: Int
    var repetitions: Int
    var secondsPerRepetition: Double
    var minimumSeconds: Double
    var measureBare = true
    /// Whether the hash stage's projection kernel alone is timed in turns with it (with
    /// `measureBare`, not with `--quick`, which must stay under a minute).
    var measureKernel = true
    /// How the LSH normals' entries are drawn, here and in the NumPy counterpart.
    var normals: NormalEntries = .gaussian
}
