import Dispatch
import Foundation

/// Throughput and latency of one benchmark point.
struct Measurement: Sendable, Codable {
    /// Median over repetitions of rows processed per second (all workers together).
    var embeddingsPerSecond: Double
    /// 1e9 / embeddingsPerSecond.
    var nsPerEmbedding: Double
    /// Median and 99th percentile of the latency of one batch call, microseconds.
    var p50Microseconds: Double
    var p99Microseconds: Double
    var repetitions: Int
    /// Rows of the last repetition (all workers; the first may have been smaller, see ``TimedPoint``).
    var rowsPerRepetition: Int
}

/// One benchmark point ready to be timed, one repetition at a time, so that several points can
/// take turns (see ``interleave(_:repetitions:)``): a point measured in turn with another sees the
/// same spells of a busy machine, and the ratio of the two is steadier than that of two points
/// measured minutes apart.
///
/// Creating it runs `body(worker, call)` on `workers` threads at once as a warm-up and sizes the
/// repetitions: every call processes `batch` rows, and a repetition makes `callsPerWorker` calls
/// per worker, more if the warm-up shows they would take less than `minimumSeconds` (a window of a
/// few milliseconds measures the machine's hiccups more than the code), fewer if they would take
/// longer than `secondsPerRepetition` (at least one call). The size comes from the warm-up's
/// last timed round, whose calls follow each other on every worker as a repetition's do, their
/// number doubled from round to round until a round takes `warmupRoundSeconds`: a single call
/// after another point ran is often slower than the ones after it, and each round pays once for
/// waking the workers, so repetitions sized from one call fell well short of `minimumSeconds`.
/// A repetition that still takes less than `minimumSeconds` enlarges the following ones to fill
/// it at its pace.
final class TimedPoint: RepetitionTimer {
    private let workers: Int, batch: Int
    private let minimumSeconds: Double, secondsPerRepetition: Double
    /// Calls per worker in a repetition (grown by a repetition shorter than `minimumSeconds`).
    private var callsPerWorker: Int
    private let body: @Sendable (_ worker: Int, _ call: Int) -> Void
    private let latencies: LatencyLog
    private let clock = ContinuousClock()
    /// Embeddings per second of each repetition so far (all workers together).
    private(set) var rates: [Double] = []

    /// Time of the warm-up round the repetitions are sized from, seconds (or less, when
    /// `maximumWarmupCalls` calls per worker take less).
    static let warmupRoundSeconds = 0.005
    static let maximumWarmupCalls = 1 << 14

    init(workers: Int, batch: Int, callsPerWorker requested: Int, repetitions: Int, secondsPerRepetition: Double,
         minimumSeconds: Double = 0, body: @escaping @Sendable (_ worker: Int, _ call: Int) -> Void) {
        self.workers = workers
        self.batch = batch
        self.body = body
        self.minimumSeconds = minimumSeconds
        self.secondsPerRepetition = secondsPerRepetition
        // Warm-up: one untimed call per worker (page faults, lazily derived state: timing it
        // would count a cold user's transform derivation, 0.7 s for a dense affine at d = 2048,
        // as the cost of a call, and shrink the repetitions of the GEMM stages to one call), then
        // timed rounds of 1, 2, 4, ... calls per worker in a row, which walk on through the rows,
        // at least two rounds (slow calls: one call each) and until one takes `warmupRoundSeconds`.
        DispatchQueue.concurrentPerform(iterations: workers) { w in body(w, 0) }
        var (calls, next, rounds) = (1, 1, 0)
        var perCall = 0.0
        while true {
            let (first, count) = (next, calls)
            let start = clock.now
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for c in first ..< first + count { body(w, c) }
            }
            let seconds = (clock.now - start) / .seconds(1)
            (perCall, next, rounds) = (max(seconds / Double(count), 1e-9), next + count, rounds + 1)
            if seconds < Self.warmupRoundSeconds && calls < Self.maximumWarmupCalls {
                calls *= 2
            } else if rounds >= 2 {
                break
            }
        }
        let wanted = max(Double(requested), (minimumSeconds / perCall).rounded(.up))
        let affordable = secondsPerRepetition / perCall
        callsPerWorker = affordable < wanted ? max(1, Int(affordable)) : Int(wanted)
        latencies = LatencyLog(workers: workers, capacity: callsPerWorker * repetitions)
    }

    /// Times one repetition; returns its embeddings per second.
    @discardableResult
    func runRepetition() -> Double {
        let start = clock.now
        let (body, latencies, clock, callsPerWorker) = (self.body, self.latencies, self.clock, self.callsPerWorker)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for c in 0..<callsPerWorker {
                let t0 = clock.now
                body(w, c)
                latencies.append(worker: w, clock.now - t0)
            }
        }
        let seconds = (clock.now - start) / .seconds(1)
        let rate = Double(workers * callsPerWorker * batch) / seconds
        rates.append(rate)
        if seconds < minimumSeconds {
            // Sized from a warm-up slower than this repetition: fill `minimumSeconds` at this
            // repetition's pace from the next one on (within `secondsPerRepetition`).
            let perCall = seconds / Double(callsPerWorker)
            let wanted = (minimumSeconds / perCall).rounded(.up), affordable = secondsPerRepetition / perCall
            self.callsPerWorker = max(callsPerWorker, Int(min(wanted, max(affordable, 1))))
        }
        return rate
    }

    /// The median throughput over the repetitions so far and latency percentiles over all their calls.
    func measurement() -> Measurement {
        let rate = median(rates)
        let all = latencies.all().sorted()
        return Measurement(
            embeddingsPerSecond: rate, nsPerEmbedding: 1e9 / rate,
            p50Microseconds: percentile(all, 0.5), p99Microseconds: percentile(all, 0.99),
            repetitions: rates.count, rowsPerRepetition: workers * callsPerWorker * batch)
    }
}

/// Something timed one repetition at a time: a ``TimedPoint`` of ours or a NumPy point.
protocol RepetitionTimer: AnyObject {
    /// Times one repetition; returns its embeddings per second.
    func runRepetition() throws -> Double
}

/// Runs `repetitions` rounds; in each, every timer runs one repetition, in the given order.
func interleave(_ timers: [any RepetitionTimer], repetitions: Int) throws {
    for _ in 0..<repetitions {
        for t in timers { _ = try t.runRepetition() }
    }
}

/// The median over repetitions of the ratio of `numerator`'s throughput to `denominator`'s in
/// the same round (rounds run by ``interleave(_:repetitions:)``).
func pairedRatio(_ numerator: [Double], _ denominator: [Double]) -> Double {
    precondition(numerator.count == denominator.count && !numerator.isEmpty, "paired ratios need the same rounds")
    return median(zip(numerator, denominator).map { $0 / $1 })
}

/// Times a point on its own: warm-up and sizing (see ``TimedPoint``), then `repetitions`
/// repetitions back to back. Returns the median throughput over repetitions and latency
/// percentiles over all calls.
func measure(workers: Int, batch: Int, callsPerWorker requested: Int, repetitions: Int, secondsPerRepetition: Double,
             minimumSeconds: Double = 0, body: @escaping @Sendable (_ worker: Int, _ call: Int) -> Void) -> Measurement {
    let point = TimedPoint(workers: workers, batch: batch, callsPerWorker: requested, repetitions: repetitions,
                           secondsPerRepetition: secondsPerRepetition, minimumSeconds: minimumSeconds, body: body)
    for _ in 0..<repetitions { point.runRepetition() }
    return point.measurement()
}

/// Per-worker latency records: each worker appends only to its own slot object.
final class LatencyLog: @unchecked Sendable {
    private final class Slot {
        var values: [Double] = []
    }
    private let slots: [Slot]

    init(workers: Int, capacity: Int) {
        slots = (0..<workers).map { _ in
            let s = Slot()
            s.values.reserveCapacity(capacity)
            return s
        }
    }

    func append(worker: Int, _ d: Duration) {
        slots[worker].values.append(d / .microseconds(1))
    }

    func all() -> [Double] { slots.flatMap(\.values) }
}

func median(_ xs: [Double]) -> Double { percentile(xs.sorted(), 0.5) }

/// Nearest-rank percentile of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}
