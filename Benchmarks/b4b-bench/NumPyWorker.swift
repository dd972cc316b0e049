import Foundation

/// One `numpy_pipeline.py --serve` process: the NumPy counterpart with one number of BLAS
/// threads, asked to time its points one repetition at a time, so that its repetitions take
/// turns with ours (see ``interleave(_:repetitions:)``). Requests and answers are JSON objects,
/// one per line, over the process's standard input and output; its standard error is ours.
final class NumPyWorker {
    /// BLAS threads of this process (as NumPy's OpenBLAS reports them).
    let threads: Int
    /// How messages name this process: "the NumPy worker N" (N from 1).
    let name: String
    let version: String
    let blas: String
    private let process: Process
    private let input: FileHandle
    private let output: FileHandle
    private var pending = Data()
    private var nextID = 0

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts the script with `threads` BLAS threads, the plan's repetition sizing and `warmup`
    /// (the script's `--warmup`: seconds of untimed calls per point, e.g. "0.25s"), and reads its greeting.
    init(script: String, python: String, threads: Int, plan: BenchmarkPlan, warmup: String, index: Int = 1) throws {
        name = "the NumPy worker \(index)"
        guard FileManager.default.fileExists(atPath: script) else {
            throw Failure(description: "NumPy script not found at \(script) (run from the repository root or pass --numpy-script)")
        }
        // A worker that dies would otherwise end this process with SIGPIPE on the next request.
        signal(SIGPIPE, SIG_IGN)
        let toWorker = Pipe(), fromWorker = Pipe()
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script, "--serve", "--threads", "\(threads)",
                             "--min-rows", "\(plan.minRows)", "--max-seconds", "\(plan.secondsPerRepetition)",
                             "--min-seconds", "\(plan.minimumSeconds)", "--warmup", warmup,
                             "--normals", plan.normals.rawValue, "--pages", plan.pages.rawValue]
        process.standardInput = toWorker
        process.standardOutput = fromWorker
        input = toWorker.fileHandleForWriting
        output = fromWorker.fileHandleForReading
        do {
            try process.run()
        } catch {
            throw Failure(description: "could not start \(python) \(script): \(error)")
        }
        var pending = Data()
        let greeting = try Self.answer(Self.readLine(from: output, pending: &pending), from: "\(python) \(script) --serve --threads \(threads)")
        guard let version = greeting["numpy_version"] as? String, let blas = greeting["blas"] as? String,
              let reported = greeting["threads"] as? Int else {
            throw Failure(description: "the NumPy worker's greeting lacks numpy_version, blas or threads: \(greeting)")
        }
        self.version = version
        self.blas = blas
        self.threads = reported
        self.pending = pending
        if reported != threads {
            print("warning: asked NumPy for \(threads) BLAS threads, its OpenBLAS reports \(reported)")
        }
        if (greeting["madvise_hugepage"] as? Bool) != (plan.pages == .huge) {
            print("warning: asked NumPy for \(plan.pages.rawValue) pages; it reports \(greeting["madvise_hugepage"].map { "\($0)" } ?? "nothing") for advising huge pages")
        }
    }

    deinit {
        try? input.close()
        process.waitUntilExit()
    }

    /// Warms up a NumPy point (a fresh user) that repetitions can then be asked of, sized by the
    /// worker or, with `calls`, making exactly that many calls per repetition; returns its id in
    /// this worker and the rows of one repetition.
    func prepare(stage: String, dimension: Int, batch: Int, poolRows: Int, calls: Int? = nil) throws -> (id: String, rows: Int) {
        nextID += 1
        let id = "\(stage)-\(dimension)-\(batch)-\(nextID)"
        var message: [String: Any] = ["op": "prepare", "id": id, "stage": stage, "dimension": dimension, "batch": batch, "pool_rows": poolRows]
        if let calls { message["calls"] = calls }
        let answer = try request(message)
        guard let rows = answer["rows_per_repetition"] as? Int, rows > 0 else {
            throw Failure(description: "\(name)'s answer to preparing \(id) gives no rows per repetition: \(answer)")
        }
        return (id, rows)
    }

    /// Sends one request and returns the answer, or throws the worker's error.
    func request(_ message: [String: Any]) throws -> [String: Any] {
        try send(message)
        return try receive()
    }

    /// Sends one request without waiting for its answer (see ``receive()``).
    func send(_ message: [String: Any]) throws {
        var line = try JSONSerialization.data(withJSONObject: message)
        line.append(UInt8(ascii: "\n"))
        do {
            try input.write(contentsOf: line)
        } catch {
            throw Failure(description: "\(name) no longer takes requests (\(message["op"] ?? "?") \(message["id"] ?? "")): \(error)")
        }
    }

    /// The answer to the oldest request not yet answered, or the worker's error. After an error
    /// the workers are not used again (the benchmark stops), so that no answer left unread in
    /// another worker can be paired with a later request.
    func receive() throws -> [String: Any] {
        try Self.answer(Self.readLine(from: output, pending: &pending), from: name)
    }

    private static func answer(_ line: Data?, from who: String) throws -> [String: Any] {
        guard let line else { throw Failure(description: "\(who) ended without answering") }
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            throw Failure(description: "\(who) answered something that is not a JSON object: \(String(decoding: line, as: UTF8.self))")
        }
        guard object["ok"] as? Bool == true else {
            throw Failure(description: "\(who) refused a request: \(object["error"] as? String ?? "no reason given")")
        }
        return object
    }

    /// The next line of `output` without its newline, taking bytes already read (`pending`)
    /// first and keeping what follows the line there; nil at end of output.
    private static func readLine(from output: FileHandle, pending: inout Data) -> Data? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[pending.startIndex..<newline]
                pending = Data(pending[(newline + 1)...])
                return Data(line)
            }
            let more = output.availableData
            if more.isEmpty { return nil }
            pending.append(more)
        }
    }
}

/// NumPy's counterpart of one of our points at `t` threads: `t` worker processes, each with
/// one BLAS thread (as each of our `t` callers calls BLAS single-threaded) and its own user,
/// timing the point at the same time. A NumPy service uses `t` cores this way, with one process
/// per core: within one process the Python code around the products (the reference's set of
/// tuples, the noise draw, the elementwise transforms) runs on one core whatever BLAS's threads.
/// Each repetition request goes to every process before any answer is read; the repetition's
/// throughput is all their rows over the span from the first start to the last end (one
/// monotonic clock for every process), so a process that starts late or ends early never
/// counts as running in parallel when it did not.
final class NumPyPoint: RepetitionTimer {
    private let workers: [NumPyWorker]
    private let ids: [String]
    /// Embeddings per second of each repetition so far (all processes together).
    private(set) var rates: [Double] = []
    private var rowsPerRepetition = 0

    /// Prepares the point in each of `workers` (their warm-ups run one after another): the first
    /// sizes its repetitions, and the others make the same number of calls, so that all do the
    /// same work (each sizing itself, one would run on alone after the others and the span
    /// would count it as parallel work that was not).
    init(workers: [NumPyWorker], stage: String, dimension: Int, batch: Int, poolRows: Int) throws {
        precondition(!workers.isEmpty, "a NumPy point needs at least one process")
        self.workers = workers
        let first = try workers[0].prepare(stage: stage, dimension: dimension, batch: batch, poolRows: poolRows)
        let calls = first.rows / batch
        ids = try [first.id] + workers.dropFirst().map {
            try $0.prepare(stage: stage, dimension: dimension, batch: batch, poolRows: poolRows, calls: calls).id
        }
    }

    /// How far ahead of the requests a repetition's common start is set: sending them takes
    /// microseconds, and each process is waiting on its input.
    static let startDelayNanoseconds = 5_000_000

    func runRepetition() throws -> Double {
        // Every process starts its calls at the same instant of the machine's monotonic clock.
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let startAt = Int(now.tv_sec) * 1_000_000_000 + Int(now.tv_nsec) + (workers.count > 1 ? Self.startDelayNanoseconds : 0)
        for (worker, id) in zip(workers, ids) { try worker.send(["op": "repetition", "id": id, "start_at_ns": startAt]) }
        let answers = try workers.map { try $0.receive() }
        var (rows, first, last) = (0, Int.max, Int.min)
        for answer in answers {
            guard let r = answer["rows"] as? Int, r > 0, let started = answer["started_ns"] as? Int,
                  let ended = answer["ended_ns"] as? Int, ended > started else {
                throw NumPyWorker.Failure(description: "a NumPy worker's repetition of \(ids[0]) gave no rows or times: \(answer)")
            }
            (rows, first, last) = (rows + r, min(first, started), max(last, ended))
        }
        let rate = Double(rows) * 1e9 / Double(last - first)
        rowsPerRepetition = rows
        rates.append(rate)
        return rate
    }

    /// The point's figures over its repetitions: the median of the repetitions' joint
    /// throughput, latency percentiles over every process's calls (the workers then forget
    /// the point).
    func result() throws -> NumPyResults.Row {
        var latencies: [Double] = []
        var rows: [NumPyResults.Row] = []
        for (worker, id) in zip(workers, ids) {
            let answer = try worker.request(["op": "result", "id": id, "latencies": true])
            guard let figures = answer["result"] as? [String: Any], let values = figures["latencies_us"] as? [Double] else {
                throw NumPyWorker.Failure(description: "the NumPy worker's result of \(id) is missing or lacks its latencies")
            }
            latencies += values
            var trimmed = figures
            trimmed["latencies_us"] = nil
            rows.append(try JSONDecoder().decode(NumPyResults.Row.self, from: JSONSerialization.data(withJSONObject: trimmed)))
        }
        latencies.sort()
        var row = rows[0]
        row.threads = workers.count
        row.processes = workers.count
        row.embeddingsPerSecond = median(rates)
        row.nsPerEmbedding = 1e9 / row.embeddingsPerSecond
        row.p50Us = percentile(latencies, 0.5)
        row.p99Us = percentile(latencies, 0.99)
        row.repetitions = rates.count
        row.rowsPerRepetition = rowsPerRepetition
        return row
    }
}
