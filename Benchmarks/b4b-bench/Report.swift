import CommandFiles
import Defense
import Foundation
import NumericKernels
import Plots

/// Where the numbers were measured.
struct MachineInfo: Codable, Sendable {
    var cpu: String
    var cores: Int
    var blasProcessors: Int
    var openblasCoretype: String?
    /// `OPENBLAS_L2_SIZE` as set for the run (bytes), if it was.
    var openblasL2Size: String?
    /// The kernels OpenBLAS chose (`openblas_get_corename`): `Prescott` on a CPU with AVX2 means
    /// it did not recognise the CPU (see `BLASLibrary`), and every GEMM figure is far too low.
    var openblasCore: String
    var date: String

    static func current() -> MachineInfo {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let formatter = ISO8601DateFormatter()
        return MachineInfo(cpu: model, cores: ProcessInfo.processInfo.activeProcessorCount,
                           blasProcessors: BLASThreads.processorCount,
                           openblasCoretype: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
                           openblasL2Size: ProcessInfo.processInfo.environment["OPENBLAS_L2_SIZE"],
                           openblasCore: BLASLibrary.coreName,
                           date: formatter.string(from: Date()))
    }

    var markdown: String {
        var line = "Machine: \(cpu), \(cores) cores, OpenBLAS kernels \(openblasCore) "
            + (openblasCoretype.map { "(OPENBLAS_CORETYPE=\($0))" } ?? "(detected)") + ", \(date)\n"
        if let warning = BLASLibrary.genericKernelsWarning { line += "\nWarning: \(warning).\n" }
        return line
    }
}

/// Everything one benchmark run measured.
struct BenchmarkReport: Codable, Sendable {
    var machine: MachineInfo
    /// The command line after the executable's name, as given.
    var arguments: [String]
    /// What was swept and how each point was sized, with the `--quick` defaults resolved.
    var plan: BenchmarkPlan
    /// The LSH normals' entries (`gaussian` or `signs`) of every point.
    var normals: NormalEntries
    var results: [ResultRow] = []
    var userSweep: [ResultRow] = []
    var coldAffine: ColdTransformCost?
    var memory: MemoryReport?
    var numpy: NumPyResults?
    /// The targets read from this run's figures (`Targets`).
    var targets: [TargetReading] = []

    init(machine: MachineInfo, arguments: [String], plan: BenchmarkPlan) {
        self.machine = machine
        self.arguments = arguments
        self.plan = plan
        self.normals = plan.normals
    }

    func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    func markdown() -> String {
        func f(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "" }
        var s = "\n## Throughput (d = dimension, threads = concurrent callers, BLAS single-threaded)\n\n"
        s += "Ratios are medians over rounds of the ratio within a round (the points of a stage and batch take turns). "
        s += "LSH normals: \(normals == .signs ? "signs (+1 or -1)" : "Gaussian").\n\n"
        s += "| stage | d | batch | threads | emb/s | ns/emb | p50 µs | p99 µs | GFLOP/s | × bare sgemm | × NumPy | × 1 thread |\n"
        s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in results {
            let m = r.measurement
            s += "| \(r.stage) | \(r.dimension) | \(r.batch) | \(r.threads) | \(f(m.embeddingsPerSecond, "%.0f")) | \(f(m.nsPerEmbedding, "%.0f")) "
            s += "| \(f(m.p50Microseconds, "%.1f")) | \(f(m.p99Microseconds, "%.1f")) | \(f(r.gflops, "%.1f")) "
            s += "| \(f(r.ratioToBareSgemm, "%.2f")) | \(f(r.ratioToNumpy, "%.2f")) | \(f(r.ratioToOneThread, "%.2f")) |\n"
        }
        let overKernel = results.filter { $0.ratioToBareProjection != nil }
        if !overKernel.isEmpty {
            s += "\n## Hash+track against its kernel alone and against reading its rows alone (timed in turns)\n\n"
            s += "The kernel: the 12 projections and sums of squares, nothing after. Reading: every value of the same rows summed once, "
            s += "nothing else (the rows' trip from the pool, one of hashing's two limits; the other is the kernel's arithmetic).\n\n"
            s += "| d | batch | threads | kernel emb/s | hash+track / kernel | reading emb/s | hash+track / reading |\n"
            s += "|---:|---:|---:|---:|---:|---:|---:|\n"
            for r in overKernel {
                s += "| \(r.dimension) | \(r.batch) | \(r.threads) | \(f(r.bareProjectionEmbeddingsPerSecond, "%.0f")) | \(f(r.ratioToBareProjection, "%.2f")) "
                s += "| \(f(r.rowReadEmbeddingsPerSecond, "%.0f")) | \(f(r.ratioToRowRead, "%.2f")) |\n"
            }
        }
        let scaling = results.filter { $0.bareSgemmRatioToOneThread != nil || $0.bareProjectionRatioToOneThread != nil }
        if !scaling.isEmpty {
            s += "\n## More threads over one, beside the same for the bare references (timed in turns)\n\n"
            s += "The bare sgemm (each caller with its own weights, as each account has its own transform) and the kernel alone "
            s += "(its read-only directions shared, as the accounts share the hasher's) share nothing else between their callers: "
            s += "their own scaling shows how much of the other cores the machine gave during the run.\n\n"
            s += "| stage | d | batch | threads | stage × 1 thread | bare sgemm × 1 thread | kernel alone × 1 thread |\n"
            s += "|---|---:|---:|---:|---:|---:|---:|\n"
            for r in scaling {
                s += "| \(r.stage) | \(r.dimension) | \(r.batch) | \(r.threads) | \(f(r.ratioToOneThread, "%.2f")) "
                s += "| \(f(r.bareSgemmRatioToOneThread, "%.2f")) | \(f(r.bareProjectionRatioToOneThread, "%.2f")) |\n"
            }
        }
        if let numpy {
            s += "\n## NumPy reference (\(numpy.version), \(numpy.blas))\n\n"
            s += "At t threads: t NumPy processes at one BLAS thread each, timed together (all their rows over the span of their repetition).\n\n"
            s += "| stage | d | batch | threads | emb/s | ns/emb | p50 µs | p99 µs |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
            for r in numpy.results {
                s += "| \(r.stage) | \(r.dimension) | \(r.batch) | \(r.threads) | \(f(r.embeddingsPerSecond, "%.0f")) | \(f(r.nsPerEmbedding, "%.0f")) "
                s += "| \(f(r.p50Us, "%.1f")) | \(f(r.p99Us, "%.1f")) |\n"
            }
            s += "\n## Ratios to NumPy\n\n"
            s += "| comparison | d | batch | threads | ratio |\n|---|---:|---:|---:|---:|\n"
            for r in results {
                if let ratio = r.ratioToNumpy {
                    s += "| \(r.stage) vs NumPy's \(r.stage) | \(r.dimension) | \(r.batch) | \(r.threads) | \(f(ratio, "%.2f")) |\n"
                }
                if let ratio = r.ratioToReferenceTracking {
                    s += "| hash+track vs the reference code's set of tuples | \(r.dimension) | \(r.batch) | \(r.threads) | \(f(ratio, "%.1f")) |\n"
                }
                if let ratio = r.ratioToNumpyKeyedNoise {
                    s += "| noise (keyed per row) vs NumPy keyed per row | \(r.dimension) | \(r.batch) | \(r.threads) | \(f(ratio, "%.1f")) |\n"
                }
            }
        }
        if !userSweep.isEmpty {
            s += "\n## Distinct users (pad-shuffle, batch 1: every user is cold on its first call)\n\n"
            s += "| users | threads | emb/s | p50 µs | p99 µs |\n|---:|---:|---:|---:|---:|\n"
            for r in userSweep {
                let m = r.measurement
                s += "| \(r.users) | \(r.threads) | \(f(m.embeddingsPerSecond, "%.0f")) | \(f(m.p50Microseconds, "%.1f")) | \(f(m.p99Microseconds, "%.1f")) |\n"
            }
        }
        if let c = coldAffine {
            s += String(format: "\nCold dense affine transform (d = %d): %.0f ms to derive (Gaussian fill + QR), %.1f MiB cached.\n",
                        c.dimension, c.milliseconds, Double(c.bytes) / 1048576)
        }
        if let m = memory {
            let ids = m.idBytes > 0 ? "user ids of \(m.idBytes) bytes" : "user ids like user-123"
            s += "\nMemory (\(ids)): " + String(format: "%d users tracked in %.1f s: %.0f bytes resident per user; %.0f MiB (2^20 bytes) projected for 1 million users.\n",
                        m.users, m.secondsToCreate, m.bytesPerUser, m.projectedMegabytesForMillion)
            if m.denseUsers > 0 {
                s += String(format: "Memory, dense accounts: %d accounts each loaded with the occupancy of an account that sent %d rows (%.0f buckets occupied on average, held as bit sets): %.0f bytes resident per account; %.0f MiB projected for 1 million such accounts.\n",
                            m.denseUsers, m.denseRowsPerUser, m.bucketsPerDenseUser, m.bytesPerDenseUser, m.projectedMegabytesForMillionDense)
            }
        }
        s += Targets.markdown(targets, shortRepetitions: plan.hasShortRepetitions)
        return s
    }

    /// The figure of dimension `d` and `threads` threads written for `--svg prefix`.
    static func figurePath(prefix: String, dimension d: Int, threads: Int) -> String {
        "\(prefix)-d\(d)-t\(threads).svg"
    }

    /// Throughput vs batch size, one file per (dimension, threads), one line per stage plus
    /// the bare sgemm; staged in `staged` (written when it commits). Returns the files' paths.
    func stageFigures(prefix: String, in staged: StagedFiles) throws -> [String] {
        var files: [String] = []
        let keys = Set(results.map { "\($0.dimension)/\($0.threads)" }).sorted()
        for key in keys {
            let parts = key.split(separator: "/").map { Int($0)! }
            let (d, t) = (parts[0], parts[1])
            var plot = LinePlot(title: "B4B throughput, d = \(d), \(t) thread\(t == 1 ? "" : "s")",
                                xLabel: "batch size (rows per call)", yLabel: "embeddings per second",
                                xScale: .logarithmic, yScale: .logarithmic)
            let points = results.filter { $0.dimension == d && $0.threads == t }
            var stages: [String] = []
            for r in points where !stages.contains(r.stage) { stages.append(r.stage) }
            for stage in stages {
                plot.series.append(.init(name: stage, points: points.filter { $0.stage == stage }
                    .map { (Double($0.batch), $0.measurement.embeddingsPerSecond) }))
            }
            let bare = points.filter { $0.stage == "full" || $0.stage == "affine" }
            if let first = bare.first?.stage {
                plot.series.append(.init(name: "bare sgemm d×d", points: bare.filter { $0.stage == first }
                    .compactMap { r in r.bareSgemmEmbeddingsPerSecond.map { (Double(r.batch), $0) } }))
            }
            let file = Self.figurePath(prefix: prefix, dimension: d, threads: t)
            try staged.stage(Data(plot.svg().utf8), to: file, option: "--svg")
            files.append(file)
        }
        return files
    }
}

/// The NumPy counterpart's figures (`Benchmarks/numpy_pipeline.py`), one row per point it measured.
struct NumPyResults: Codable, Sendable {
    /// One NumPy point: `processes` worker processes at one BLAS thread each, timed together
    /// (see ``NumPyPoint``); `threads` is that count, the thread count of our point it pairs with.
    struct Row: Codable, Sendable {
        var stage: String
        var dimension: Int
        var batch: Int
        var threads: Int
        var processes: Int?
        /// Median over repetitions of all processes' rows per second together.
        var embeddingsPerSecond: Double
        var nsPerEmbedding: Double?
        /// Latency of one batch call over every process's calls, microseconds (nearest rank).
        var p50Us: Double
        var p99Us: Double
        var repetitions: Int?
        /// Rows of the last repetition, all processes together.
        var rowsPerRepetition: Int?

        enum CodingKeys: String, CodingKey {
            case stage, dimension, batch, threads, processes, repetitions
            case embeddingsPerSecond = "embeddings_per_second"
            case nsPerEmbedding = "ns_per_embedding"
            case p50Us = "p50_us"
            case p99Us = "p99_us"
            case rowsPerRepetition = "rows_per_repetition"
        }
    }

    var version: String
    var blas: String
    var results: [Row]
}
