import CommandFiles
import Foundation

/// One of the operating targets read from a run's own ratios: the throughput targets at
/// d = 2048 (batch 256 unless the target names another), and the memory of a million accounts.
/// A run says which targets it met; `b4b-bench --targets-of` gathers several runs' readings
/// into one table.
struct TargetReading: Codable, Sendable, Equatable {
    /// What is compared, e.g. "hash+track × reference tracking".
    var target: String
    /// The stage the reading belongs to ("memory" for the memory target).
    var stage: String
    var batch: Int?
    var threads: Int?
    /// The run's reading: a ratio, or MB (10^6 bytes) for the memory target; nil when the run
    /// did not measure it (`missing` says what it lacks).
    var value: Double?
    /// The bound the reading must reach (at least), or stay under for the memory target.
    var bound: Double
    /// Whether the reading must stay under `bound` instead of reaching it.
    var atMost: Bool
    var missing: String?
    /// Beside a two-thread reading: the bare sgemm's own scaling in the same rounds, which
    /// shares nothing between callers (how much of a second core the machine gave).
    var control: Double?

    /// Whether the reading meets the target; nil when it was not measured.
    var met: Bool? { value.map { atMost ? $0 < bound : $0 >= bound } }
}

/// The targets the benchmark reads from a run.
enum Targets {
    /// The dimension every throughput target is stated at.
    static let dimension = 2048

    /// The fewest dense accounts whose memory is projected to a million accounts and judged
    /// against the target (the `--quick` default): a handful of accounts says more about the
    /// allocator's slack than about the accounts.
    static let memoryAccountsForVerdict = 100_000

    /// Every target whose point the run measured, in the order of the README's table.
    static func read(results: [ResultRow], memory: SavedMemory?) -> [TargetReading] {
        func point(_ stage: Stage, batch: Int, threads: Int) -> ResultRow? {
            results.first { $0.stage == stage.rawValue && $0.dimension == dimension && $0.batch == batch && $0.threads == threads }
        }
        let threadCounts = Set(results.map(\.threads)).sorted()
        var readings: [TargetReading] = []
        func add(_ target: String, _ stage: Stage, batch: Int = 256, bound: Double,
                 value: (ResultRow) -> Double?, missing: String) {
            for t in threadCounts {
                guard let row = point(stage, batch: batch, threads: t) else { continue }
                let v = value(row)
                readings.append(TargetReading(target: target, stage: stage.rawValue, batch: batch, threads: t, value: v,
                                              bound: bound, atMost: false, missing: v == nil ? missing : nil))
            }
        }
        add("full protect (dense affine) × bare sgemm", .full, bound: 0.85, value: \.ratioToBareSgemm,
            missing: "the bare sgemm (not with --no-bare)")
        add("scale+shift × NumPy", .scaleShift, bound: 3, value: \.ratioToNumpy, missing: "--numpy")
        add("pad+shuffle × NumPy", .padShuffle, bound: 3, value: \.ratioToNumpy, missing: "--numpy")
        add("hash+track × reference tracking", .hash, bound: 10, value: \.ratioToReferenceTracking, missing: "--numpy")
        add("hash+track × NumPy", .hash, bound: 1, value: \.ratioToNumpy, missing: "--numpy")
        add("hash+track × NumPy", .hash, batch: 1, bound: 5, value: \.ratioToNumpy, missing: "--numpy")
        for stage in Stage.allCases {
            for row in results where row.stage == stage.rawValue && row.dimension == dimension && row.batch == 256 && row.threads == 2 {
                readings.append(TargetReading(target: "2 threads × 1 thread", stage: stage.rawValue, batch: 256, threads: 2,
                                              value: row.ratioToOneThread, bound: 1.7, atMost: false,
                                              missing: row.ratioToOneThread == nil ? "a one-thread point (--threads 1,2)" : nil,
                                              control: row.bareSgemmRatioToOneThread))
            }
        }
        if let memory, let accounts = memory.denseUsers, accounts > 0, let bytes = memory.bytesPerDenseUser {
            // The largest per-user state: every account holds a bit set. Bytes per account
            // times a million accounts, in MB of 10^6 bytes, is bytes per account.
            let judged = accounts >= memoryAccountsForVerdict
            readings.append(TargetReading(target: "1 million accounts' occupancy state (transform cache excluded), MB", stage: "memory", batch: nil, threads: nil,
                                          value: judged ? bytes : nil, bound: 600, atMost: true,
                                          missing: judged ? nil : "at least \(memoryAccountsForVerdict) accounts (--dense-memory-users; this run had \(accounts))"))
        }
        return readings
    }

    /// A reading as printed: ratios to two decimals, megabytes whole.
    static func figure(_ value: Double) -> String {
        String(format: value >= 100 ? "%.0f" : "%.2f", value)
    }

    /// A reading beside its bound: as `figure`, with as many more decimals as it takes not
    /// to print the bound itself for a reading that is not the bound (1.6996 against 1.7).
    static func shown(_ value: Double, bound: Double) -> String {
        let plain = figure(value)
        guard plain == figure(bound), value != bound else { return plain }
        for digits in 1...8 {
            let text = String(format: "%.\(digits)f", value)
            if text != String(format: "%.\(digits)f", bound) { return text }
        }
        return "\(value)"
    }

    /// The readings as a Markdown section (empty when there are none); `shortRepetitions` adds
    /// that a run of fewer or shorter repetitions than the defaults (`--quick`) reads roughly.
    static func markdown(_ readings: [TargetReading], shortRepetitions: Bool = false) -> String {
        guard !readings.isEmpty else { return "" }
        var s = "\n## Targets (d = \(dimension); ratios from this run)\n\n"
        if shortRepetitions {
            s += "Fewer or shorter repetitions than the defaults (as with --quick): on a shared machine these readings "
            s += "are rough, two threads over one most of all. The README's targets command reads them steadily.\n\n"
        }
        s += "| target | stage | batch | threads | reading | bound | met | bare sgemm × 1 thread |\n"
        s += "|---|---|---:|---:|---:|---:|---|---:|\n"
        for r in readings {
            let reading = r.value.map { shown($0, bound: r.bound) } ?? "needs \(r.missing ?? "more")"
            let verdict = r.met.map { $0 ? "yes" : "**no**" } ?? ""
            s += "| \(r.target) | \(r.stage) | \(r.batch.map(String.init) ?? "") | \(r.threads.map(String.init) ?? "") "
            s += "| \(reading) | \(r.atMost ? "<" : "≥") \(String(format: "%g", r.bound)) | \(verdict) "
            s += "| \(r.control.map(figure) ?? "") |\n"
        }
        return s
    }

    /// Several runs' readings of each target as a Markdown table: the smallest and largest
    /// reading over the runs and how many met the target (what the README's targets table
    /// gives). `names` label the runs in the header.
    static func summary(_ runs: [[TargetReading]], names: [String]) -> String {
        struct Key: Hashable { var target: String, stage: String, batch: Int?, threads: Int? }
        var order: [Key] = []
        var readings: [Key: [TargetReading]] = [:]
        for run in runs {
            for r in run {
                let key = Key(target: r.target, stage: r.stage, batch: r.batch, threads: r.threads)
                if readings[key] == nil { order.append(key) }
                readings[key, default: []].append(r)
            }
        }
        func range(_ values: [Double], bound: Double? = nil) -> String {
            guard let low = values.min(), let high = values.max() else { return "" }
            let (a, b) = bound.map { (shown(low, bound: $0), shown(high, bound: $0)) } ?? (figure(low), figure(high))
            return a == b ? a : "\(a)–\(b)"
        }
        var s = "## Targets over \(runs.count) run\(runs.count == 1 ? "" : "s") (d = \(dimension)): \(names.joined(separator: ", "))\n\n"
        s += "| target | stage | batch | threads | smallest–largest | bound | met | bare sgemm × 1 thread |\n"
        s += "|---|---|---:|---:|---:|---:|---|---:|\n"
        for key in order {
            let all = readings[key]!
            let measured = all.filter { $0.value != nil }
            let met = measured.filter { $0.met == true }.count
            let first = all[0]
            var verdict = "\(met) of \(measured.count)"
            if measured.count < all.count { verdict += " (\(all.count - measured.count) not measured)" }
            s += "| \(key.target) | \(key.stage) | \(key.batch.map(String.init) ?? "") | \(key.threads.map(String.init) ?? "") "
            s += "| \(range(measured.compactMap(\.value), bound: first.bound)) | \(first.atMost ? "<" : "≥") \(String(format: "%g", first.bound)) "
            s += "| \(verdict) | \(range(all.compactMap(\.control))) |\n"
        }
        return s
    }
}

/// What the targets need of a saved `--json` report; files from before the report recorded
/// its targets, plan or command line decode as well.
struct SavedReport: Decodable {
    var results: [ResultRow]
    var memory: SavedMemory?
}

/// What the memory target needs of a run's memory measurement; reports from before the
/// dense accounts were measured have neither field.
struct SavedMemory: Decodable {
    /// Accounts held as bit sets, and the resident bytes each took.
    var denseUsers: Int?
    var bytesPerDenseUser: Double?

    init(_ report: MemoryReport) {
        denseUsers = report.denseUsers
        bytesPerDenseUser = report.bytesPerDenseUser
    }
}

extension Targets {
    /// The targets of the saved report at `path`; a file that cannot be read or decoded is
    /// named in the error.
    static func readSaved(_ path: String) throws -> [TargetReading] {
        guard !path.isEmpty else { throw SavedReportFailure(description: "--targets-of takes file paths, got an empty one") }
        guard Files.kind(path) != .directory else {
            throw SavedReportFailure(description: "--targets-of file '\(path)' is a directory; give the --json files in it")
        }
        let data = try Files.read(path, what: "--targets-of file '\(path)'")
        do {
            let saved = try JSONDecoder().decode(SavedReport.self, from: data)
            return read(results: saved.results, memory: saved.memory)
        } catch {
            throw SavedReportFailure(description: "--targets-of file '\(path)' is not a b4b-bench --json report: \(error)")
        }
    }

    /// A saved report that could not be read.
    struct SavedReportFailure: Error, CustomStringConvertible {
        let description: String
    }
}
