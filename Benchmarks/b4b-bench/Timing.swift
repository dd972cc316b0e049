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
    var rowsPerRepetition: Int
}

/// Runs `body(worker, call)` on `workers` threads at once: a warm-up pass, then
/// `repetitions` timed passes of the same number of calls per worker. Every call processes
/// `batch` rows. A repetition makes `callsPerWorker` calls, more if the warm-up shows they
/// would take less than `minimumSeconds` (a window of a few milliseconds measures the
/// machine's hiccups more than the code), fewer if they would take longer than
/// `secondsPerRepetition` (at least one call). Returns the median throughput over
/// repetitions and latency percentiles over all calls.
func measure(workers: Int, batch: Int, callsPerWorker requested: Int, repetitions: Int, secondsPerRepetition: Double,
             minimumSeconds: Double = 0, body: @Sendable (_ worker: Int, _ call: Int) -> Void) -> Measurement {
    let clock = ContinuousClock()
    // Warm-up: a few calls per worker (page faults, caches, lazily derived state), the last
    // of which is timed, on its own, to size the repetitions. (Timing the first calls too
    // would count a cold user's transform derivation, 0.7 s for a dense affine at d = 2048,
    // as the cost of a call, and shrink the repetitions of the GEMM stages to one call.)
    let warmupCalls = max(2, min(requested, 3))
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        for c in 0..<warmupCalls - 1 { body(w, c) }
    }
    let warmupStart = clock.now
    DispatchQueue.concurrentPerform(iterations: workers) { w in body(w, warmupCalls - 1) }
    let perCall = max((clock.now - warmupStart) / .seconds(1), 1e-9)
    let wanted = max(Double(requested), (minimumSeconds / perCall).rounded(.up))
    let affordable = secondsPerRepetition / perCall
    let callsPerWorker = affordable < wanted ? max(1, Int(affordable)) : Int(wanted)
    let latencies = LatencyLog(workers: workers, capacity: callsPerWorker * repetitions)
    var rates: [Double] = []
    for _ in 0..<repetitions {
        let start = clock.now
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for c in 0..<callsPerWorker {
                let t0 = clock.now
                body(w, c)
                latencies.append(worker: w, clock.now - t0)
            }
        }
        let seconds = (clock.now - start) / .seconds(1)
        rates.append(Double(workers * callsPerWorker * batch) / seconds)
    }
    let rate = median(rates)
    let all = latencies.all().sorted()
    return Measurement(
        embeddingsPerSecond: rate, nsPerEmbedding: 1e9 / rate,
        p50Microseconds: percentile(all, 0.5), p99Microseconds: percentile(all, 0.99),
        repetitions: repetitions, rowsPerRepetition: workers * callsPerWorker * batch)
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
