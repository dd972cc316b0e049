import Defense
import Dispatch
import Foundation
import NumericKernels

/// One measured point of the sweep.
struct ResultRow: Codable, Sendable {
    var stage: String
    var dimension: Int
    var batch: Int
    var threads: Int
    var users: Int
    var measurement: Measurement
    /// Useful GFLOP/s of the stage's GEMMs (GEMM-dominated stages only).
    var gflops: Double?
    /// Throughput of a bare `cblas_sgemm` of the stage's main shape, same threads, timed in turns
    /// with the stage (rows/s; median over rounds of the candidate with the highest median: the
    /// sgemm's two orientations, and under ``smallBatchRows`` rows one sgemv per row).
    var bareSgemmEmbeddingsPerSecond: Double?
    /// Median over rounds of the stage's throughput over the bare sgemm's in the same round.
    var ratioToBareSgemm: Double?
    /// NumPy throughput of the same stage and point (median over its repetitions), and the median
    /// over rounds of our throughput over NumPy's in the same round.
    var numpyEmbeddingsPerSecond: Double?
    var ratioToNumpy: Double?
    /// Hash stage: median over rounds of our throughput over the reference code's bucket
    /// tracking (NumPy product, Python set of tuples) in the same round.
    var ratioToReferenceTracking: Double?
    /// Noise stage: median over rounds of our throughput over NumPy's noise keyed per row.
    var ratioToNumpyKeyedNoise: Double?
    /// More than one thread: median over rounds of this point's throughput over the same stage
    /// and batch with one thread (when the plan has one thread), in the same round.
    var ratioToOneThread: Double?
    /// Hash stage: throughput of the bare projection (`ProjectionDirections.project`: the
    /// hashing kernel's 12 projections and sums of squares, no bucket decision, no account),
    /// same threads and rows, timed in turns with the stage (rows/s, median over rounds), and
    /// the median over rounds of the stage's throughput over it: what hash+track costs on top
    /// of its kernel.
    var bareProjectionEmbeddingsPerSecond: Double?
    var ratioToBareProjection: Double?
    /// Hash stage: throughput of reading the same rows and nothing else (every value of each
    /// batch summed once, row after row), same threads, timed in turns with the stage (rows/s,
    /// median over rounds), and the median over rounds of the stage's throughput over it. The
    /// rows' trip from the pool is one of the two limits of hashing (the other is its
    /// arithmetic): near 1, the stage runs at the memory bandwidth the machine gave the run.
    var rowReadEmbeddingsPerSecond: Double?
    var ratioToRowRead: Double?
    /// More than one thread: the same ratio as `ratioToOneThread` for the bare sgemm of this
    /// point's shape (its faster orientation at each thread count) and for the hash stage's
    /// kernel alone, in the same rounds. Their callers share nothing they write (each sgemm
    /// caller has its own weights; the kernel's callers read the same directions, as the hash
    /// stage's do), so they show how much of a second core the machine gave during the run: the
    /// control for the stage's own scaling on a shared host.
    var bareSgemmRatioToOneThread: Double?
    var bareProjectionRatioToOneThread: Double?
}

/// Runs the sweeps of a ``BenchmarkPlan``.
struct BenchmarkRunner {
    let plan: BenchmarkPlan
    let secret = ServerSecret.generate()

    /// Calls per worker so that one repetition covers at least `minRows` rows.
    func callsPerWorker(batch: Int, workers: Int) -> Int {
        max(1, (plan.minRows + batch * workers - 1) / (batch * workers))
    }

    /// Measures every (dimension, stage, batch) of the plan. The points of one stage and batch
    /// (each thread count, the bare sgemms of its shape, NumPy's counterparts from `numpy`: the
    /// first t processes for t threads) are prepared, then take turns, one repetition each per round, so
    /// that every ratio between them is taken within rounds. Returns our rows and NumPy's.
    func runSweep(numpy: [NumPyWorker] = [], progress: (String) -> Void) throws -> ([ResultRow], [NumPyResults.Row]) {
        var rows: [ResultRow] = []
        var numpyRows: [NumPyResults.Row] = []
        for d in plan.dimensions {
            let poolRows = max(plan.batches.max()!, 2048)
            let hugeBefore = PageAdvisedMemory.hugePageBytesInUse()
            let pools = RowPools(dimension: d, workers: plan.threads.max()!, rows: poolRows, pages: plan.pages)
            let poolBytes = poolRows * d * MemoryLayout<Float>.stride
            var onHuge: Int?
            if let before = hugeBefore, let after = PageAdvisedMemory.hugePageBytesInUse() { onHuge = after - before }
            progress(String(format: "Row pools, d = %d: %d × %.1f MiB (%@ pages)", d, plan.threads.max()!,
                            Double(poolBytes) / 1048576, plan.pages.rawValue)
                     + (onHuge.map { String(format: ", %.1f MiB of this process's memory came on huge pages with them", Double($0) / 1048576) } ?? ""))
            for stage in plan.stages {
                // One defense per stage: its users' transforms are derived once (a dense affine at
                // d = 2048 takes 0.3-1 s to derive) and serve every batch size and thread count.
                let defense = try! B4BDefense(configuration: stage.configuration(dimension: d, maxBatch: plan.batches.max()!, normals: plan.normals),
                                              secret: secret)
                for b in plan.batches {
                    var timers: [any RepetitionTimer] = []
                    var points: [(threads: Int, point: TimedPoint, bare: [TimedPoint], projection: TimedPoint?, read: TimedPoint?,
                                  numpy: [String: NumPyPoint])] = []
                    for t in plan.threads {
                        let point = stagePoint(stage, defense: defense, batch: b, workers: t, pools: pools)
                        // The limit is the faster of the two orientations of the same product,
                        // and below smallBatchRows of one sgemv per row (what the transforms run
                        // there: a GEMM of one row pays for packing the whole weight matrix).
                        let bare = plan.measureBare ? stage.bareShape(dimension: d).map { (k, n) in
                            [false, true].map { bareSgemmPoint(k: k, n: n, batch: b, workers: t, pools: pools, transposed: $0) }
                                + (b < smallBatchRows ? [bareGemvPoint(k: k, n: n, batch: b, workers: t, pools: pools)] : [])
                        } ?? [] : []
                        let projection = plan.measureKernel && stage == .hash ? bareProjectionPoint(dimension: d, batch: b, workers: t, pools: pools) : nil
                        let read = plan.measureKernel && stage == .hash ? rowReadPoint(batch: b, workers: t, pools: pools) : nil
                        var counterparts: [String: NumPyPoint] = [:]
                        if numpy.count >= t {
                            for name in [stage.rawValue] + stage.numpyReferences {
                                counterparts[name] = try NumPyPoint(workers: Array(numpy.prefix(t)), stage: name, dimension: d,
                                                                    batch: b, poolRows: poolRows)
                            }
                        }
                        points.append((t, point, bare, projection, read, counterparts))
                        timers += [point] + bare + [projection, read].compactMap { $0 } + counterparts.keys.sorted().map { counterparts[$0]! }
                    }
                    try interleave(timers, repetitions: plan.repetitions)

                    let single = points.first { $0.threads == 1 }
                    // The fastest bare product: the one with the highest median; the largest in
                    // each round would be biased upwards by the rounds' noise (the larger of two
                    // equal, noisy readings).
                    func fastestBare(_ bare: [TimedPoint]) -> [Double]? {
                        bare.max { median($0.rates) < median($1.rates) }?.rates
                    }
                    for (t, point, bare, projection, read, counterparts) in points {
                        let m = point.measurement()
                        var row = ResultRow(stage: stage.rawValue, dimension: d, batch: b, threads: t, users: 1, measurement: m)
                        if let flops = stage.gemmFlopsPerRow(dimension: d) {
                            row.gflops = flops * m.embeddingsPerSecond / 1e9
                        }
                        if let limit = fastestBare(bare) {
                            row.bareSgemmEmbeddingsPerSecond = median(limit)
                            row.ratioToBareSgemm = pairedRatio(point.rates, limit)
                            if t > 1, let one = single.flatMap({ fastestBare($0.bare) }) { row.bareSgemmRatioToOneThread = pairedRatio(limit, one) }
                        }
                        if let projection {
                            row.bareProjectionEmbeddingsPerSecond = median(projection.rates)
                            row.ratioToBareProjection = pairedRatio(point.rates, projection.rates)
                            if t > 1, let one = single?.projection { row.bareProjectionRatioToOneThread = pairedRatio(projection.rates, one.rates) }
                        }
                        if let read {
                            row.rowReadEmbeddingsPerSecond = median(read.rates)
                            row.ratioToRowRead = pairedRatio(point.rates, read.rates)
                        }
                        if let n = counterparts[stage.rawValue] {
                            row.ratioToNumpy = pairedRatio(point.rates, n.rates)
                        }
                        if let n = counterparts["hash-reference"] { row.ratioToReferenceTracking = pairedRatio(point.rates, n.rates) }
                        if let n = counterparts["noise-keyed"] { row.ratioToNumpyKeyedNoise = pairedRatio(point.rates, n.rates) }
                        if t > 1, let single { row.ratioToOneThread = pairedRatio(point.rates, single.point.rates) }
                        for name in counterparts.keys.sorted() {
                            let result = try counterparts[name]!.result()
                            if name == stage.rawValue { row.numpyEmbeddingsPerSecond = result.embeddingsPerSecond }
                            numpyRows.append(result)
                        }
                        var line = String(format: "  %-12@ d=%-5d batch=%-5d threads=%d  %10.0f emb/s", stage.rawValue, d, b, t, m.embeddingsPerSecond)
                        if let r = row.ratioToNumpy { line += String(format: "  %.2f × NumPy", r) }
                        progress(line)
                        rows.append(row)
                    }
                }
            }
        }
        // Reported in the plan's order: by dimension, then threads, stage and batch.
        func key(_ r: ResultRow) -> [Int] {
            [plan.dimensions.firstIndex(of: r.dimension)!, plan.threads.firstIndex(of: r.threads)!,
             plan.stages.firstIndex { $0.rawValue == r.stage }!, plan.batches.firstIndex(of: r.batch)!]
        }
        return (rows.sorted { key($0).lexicographicallyPrecedes(key($1)) }, numpyRows)
    }

    /// One stage's point, prepared: every worker protects batches of its own rows for its own user
    /// (worker w's user is the same at every point of the stage).
    func stagePoint(_ stage: Stage, defense: B4BDefense, batch b: Int, workers: Int, pools: RowPools) -> TimedPoint {
        let names = (0..<workers).map { "w\($0)-user" }
        let outputs = OutputBuffers(workers: workers, rows: b, columns: defense.configuration.outputDimension, pages: plan.pages)
        return poolPoint(batch: b, workers: workers, pools: pools) { w, batch in
            outputs.withBuffers(w) { out, coverage, sigma in
                if stage == .hash {
                    try! defense.track(batch, user: names[w], coverage: coverage, sigma: sigma)
                } else {
                    try! defense.protect(batch, user: names[w], into: out, coverage: coverage, sigma: sigma)
                }
            }
        }
    }

    /// A point whose every call hands worker `w` the next `b` rows of its own pool (wrapping
    /// round), for `body` to process.
    func poolPoint(batch b: Int, workers: Int, pools: RowPools,
                   _ body: @escaping @Sendable (_ worker: Int, _ batch: MatrixView) -> Void) -> TimedPoint {
        TimedPoint(workers: workers, batch: b, callsPerWorker: callsPerWorker(batch: b, workers: workers),
                   repetitions: plan.repetitions, secondsPerRepetition: plan.secondsPerRepetition,
                   minimumSeconds: plan.minimumSeconds) { w, c in
            let pool = pools.pool(w)
            let start = (c * b) % (pool.rows - b + 1)
            pool.withView { v in body(w, v.rows(start ..< start + b)) }
        }
    }

    /// The physical limit, prepared: a bare `(B x k)·(k x n)` sgemm per call on every worker,
    /// computed as `X P` or, `transposed`, as `Pᵀ Xᵀ` (the same product; OpenBLAS speed differs).
    func bareSgemmPoint(k: Int, n: Int, batch b: Int, workers: Int, pools: RowPools, transposed: Bool) -> TimedPoint {
        // Each worker multiplies by its own weights (`P`, or `Pᵀ` held as such), as each
        // account's dense transform is its own: callers share no matrix a cache could serve twice.
        let weights = (0..<workers).map { w in
            transposed ? SharedMatrix(gaussianRows: n, columns: k, seed: 99 &+ UInt64(w))
                       : SharedMatrix(gaussianRows: k, columns: n, seed: 99 &+ UInt64(w))
        }
        let outputs = OutputBuffers(workers: workers, rows: transposed ? n : b, columns: transposed ? b : n, pages: plan.pages)
        return poolPoint(batch: b, workers: workers, pools: pools) { w, batch in
            let x = batch.columns(0 ..< k)
            weights[w].withView { p in
                outputs.withBuffers(w) { out, _, _ in
                    if transposed { gemm(p, .none, x, .transpose, into: out) } else { gemm(x, .none, p, .none, into: out) }
                }
            }
        }
    }

    /// The physical limit of a batch of a few rows, prepared: a bare `(k x n)ᵀ x` sgemv per row
    /// on every worker, as the dense transforms compute batches under ``smallBatchRows`` rows.
    func bareGemvPoint(k: Int, n: Int, batch b: Int, workers: Int, pools: RowPools) -> TimedPoint {
        let weights = (0..<workers).map { w in SharedMatrix(gaussianRows: k, columns: n, seed: 99 &+ UInt64(w)) }
        let outputs = OutputBuffers(workers: workers, rows: b, columns: n, pages: plan.pages)
        return poolPoint(batch: b, workers: workers, pools: pools) { w, batch in
            let x = batch.columns(0 ..< k)
            weights[w].withView { p in
                outputs.withBuffers(w) { out, _, _ in
                    for i in 0..<b { gemv(p, .transpose, x.row(i), into: out.row(i)) }
                }
            }
        }
    }

    /// The hashing kernel alone, prepared: every worker projects batches of its own rows onto 12
    /// Gaussian directions (projections and sums of squares, the path the hash stage takes),
    /// with nothing after.
    func bareProjectionPoint(dimension d: Int, batch b: Int, workers: Int, pools: RowPools) -> TimedPoint {
        let directions = ProjectionDirections(SharedMatrix(gaussianRows: 12, columns: d, seed: 98).matrix)
        let outputs = OutputBuffers(workers: workers, rows: b, columns: 12, pages: plan.pages)
        return poolPoint(batch: b, workers: workers, pools: pools) { w, batch in
            outputs.withBuffers(w) { out, _, squares in
                _ = directions.project(batch, into: out, sumsOfSquares: squares)
            }
        }
    }

    /// The rows' trip alone, prepared: every worker reads each batch of its own rows, row after
    /// row, every value once (summed in 32 lanes, the sums kept so the reads cannot be left out),
    /// with nothing else.
    func rowReadPoint(batch b: Int, workers: Int, pools: RowPools) -> TimedPoint {
        let outputs = OutputBuffers(workers: workers, rows: 1, columns: 32, pages: plan.pages)
        return poolPoint(batch: b, workers: workers, pools: pools) { w, batch in
            outputs.withBuffers(w) { out, _, _ in
                let total = RowRead.sum(batch)
                out.start![0] = total
            }
        }
    }

    /// Batch-1 throughput of the pad-shuffle stage as the number of distinct users grows:
    /// every user is new on its first call (cold transform derivation, new occupancy).
    func runUserSweep(progress: (String) -> Void) -> [ResultRow] {
        let d = plan.dimensions[0]
        let workers = plan.threads.max()!
        let pools = RowPools(dimension: d, workers: workers, rows: 2048, pages: plan.pages)
        var rows: [ResultRow] = []
        for u in plan.users {
            let defense = try! B4BDefense(configuration: Stage.padShuffle.configuration(dimension: d, maxBatch: 1, normals: plan.normals), secret: secret)
            let perWorker = max(1, u / workers)
            let calls = max(perWorker, callsPerWorker(batch: 1, workers: workers))
            let outputs = OutputBuffers(workers: workers, rows: 1, columns: defense.configuration.outputDimension, pages: plan.pages)
            // The warm-up's calls go to users of their own, so that each timed user is new on
            // its first timed call.
            let phase = WarmupPhase()
            let point = TimedPoint(workers: workers, batch: 1, callsPerWorker: calls, repetitions: 1,
                                   secondsPerRepetition: .infinity) { w, c in
                let pool = pools.pool(w)
                let user = phase.timing ? "w\(w)-user\(c % perWorker)" : "w\(w)-warm-up\(c)"
                pool.withView { v in
                    outputs.withBuffers(w) { out, coverage, sigma in
                        try! defense.protect(v.rows(c % pool.rows ..< c % pool.rows + 1), user: user,
                                             into: out, coverage: coverage, sigma: sigma)
                    }
                }
            }
            phase.timing = true
            point.runRepetition()
            let m = point.measurement()
            progress(String(format: "  users=%-7d pad-shuffle batch=1 threads=%d  %10.0f emb/s", u, workers, m.embeddingsPerSecond))
            rows.append(ResultRow(stage: Stage.padShuffle.rawValue, dimension: d, batch: 1, threads: workers, users: u, measurement: m))
        }
        return rows
    }

    /// Time to derive a cold user's dense affine transform (Gaussian fill + QR), milliseconds (median of 3).
    func measureColdAffine(dimension d: Int) -> ColdTransformCost {
        let clock = ContinuousClock()
        var times: [Double] = []
        for i in 0..<3 {
            let start = clock.now
            let t = AffineTransform(dimension: d, scaleRange: 0.5...2, translation: 1, seed: RandomSeed(UInt64(i), 1, 2, 3))
            times.append((clock.now - start) / .milliseconds(1))
            precondition(t.inputDimension == d)
        }
        return ColdTransformCost(dimension: d, milliseconds: median(times), bytes: d * d * 4 + d * 8)
    }

    /// Resident memory per tracked user, in two measurements, each in a defense of its own:
    /// - RSS before and after `users` users each send one row (a new or one-off account: its
    ///   occupancy is held sparse);
    /// - RSS before and after `denseUsers` accounts are loaded (``B4BDefense/importOccupancy(_:for:mode:)``)
    ///   with the occupancy of an account that sent `denseRows` rows (enough distinct buckets that
    ///   it is held as bit sets: the largest an account's state gets). Loading stores the same
    ///   state as tracking those rows would, without hashing `denseUsers x denseRows` rows, so a
    ///   million such accounts take seconds.
    /// Free heap is handed back to the system before each baseline, so that memory freed by
    /// earlier work and reused here does not hide what the accounts take.
    func measureMemory(users: Int, denseUsers: Int, idBytes: Int, dimension d: Int) -> MemoryReport {
        // "user-123", or with the number zero-padded so the id has `idBytes` bytes.
        func id(_ prefix: String, _ u: Int) -> String {
            let number = String(u)
            return prefix + "-" + String(repeating: "0", count: max(0, idBytes - prefix.utf8.count - 1 - number.utf8.count)) + number
        }
        let denseRows = 256
        var configuration = Stage.hash.configuration(dimension: d, maxBatch: denseRows, normals: plan.normals)
        configuration.transformCacheBytes = 0
        let pools = RowPools(dimension: d, workers: 1, rows: 4096, pages: plan.pages)
        let pool = pools.pool(0)
        let clock = ContinuousClock()

        // One-row accounts, created with `track` (the state `protect` records, without a
        // per-call output matrix: freed after each call, it would be handed back by the trim
        // below and faulted in again inside the measurement). Warm up the allocator and the
        // code path before the baseline.
        var (before, after, seconds) = (0, 0, 0.0)
        do {
            let defense = try! B4BDefense(configuration: configuration, secret: secret)
            pool.withView { v in _ = try! defense.track(v.rows(0..<1), user: "warm-up") }
            releaseFreeHeap()
            before = residentBytes()
            let start = clock.now
            pool.withView { v in
                for u in 0..<users {
                    let r = u % v.rows
                    _ = try! defense.track(v.rows(r ..< r + 1), user: id("user", u))
                }
            }
            seconds = (clock.now - start) / .seconds(1)
            after = residentBytes()
        }
        let perUser = users > 0 ? Double(after - before) / Double(users) : 0

        // Accounts held as bit sets: 16 accounts each send `denseRows` rows (distinct windows
        // of the pool); their snapshots are loaded round-robin into `denseUsers` accounts.
        var (denseBefore, denseAfter, occupied) = (0, 0, 0.0)
        do {
            let defense = try! B4BDefense(configuration: configuration, secret: secret)
            let snapshots = pool.withView { v in
                (0..<16).map { j in
                    let r = (j * denseRows) % (v.rows - denseRows + 1)
                    _ = try! defense.track(v.rows(r ..< r + denseRows), user: "template-\(j)")
                    defer { defense.removeUser("template-\(j)") }
                    return defense.exportOccupancy(of: "template-\(j)")
                }
            }
            try! defense.importOccupancy(snapshots[0], for: "warm-up", mode: .replace)
            releaseFreeHeap()
            denseBefore = residentBytes()
            for u in 0..<denseUsers {
                // Each account's snapshot in words of its own, as if read from a store (loading
                // must not leave accounts sharing one array).
                let t = snapshots[u % snapshots.count]
                let snapshot = OccupancySnapshot(hasherFingerprint: t.hasherFingerprint, hashBits: t.hashBits, tableCount: t.tableCount,
                                                 words: t.words.map { $0 }, queryCount: t.queryCount)
                try! defense.importOccupancy(snapshot, for: id("dense", u), mode: .replace)
            }
            denseAfter = residentBytes()
            for u in 0..<denseUsers { occupied += defense.coverage(of: id("dense", u)) }
        }
        let bucketsPerDenseUser = denseUsers > 0 ? occupied / Double(denseUsers) * Double(configuration.tableCount << configuration.hashBits) : 0
        let densePerUser = denseUsers > 0 ? Double(denseAfter - denseBefore) / Double(denseUsers) : 0
        return MemoryReport(users: users, idBytes: idBytes, residentBytesBefore: before, residentBytesAfter: after,
                            bytesPerUser: perUser, projectedMegabytesForMillion: perUser * 1e6 / 1048576,
                            secondsToCreate: seconds, denseUsers: denseUsers, denseRowsPerUser: denseRows,
                            bucketsPerDenseUser: bucketsPerDenseUser, bytesPerDenseUser: densePerUser,
                            projectedMegabytesForMillionDense: densePerUser * 1e6 / 1048576)
    }
}

struct ColdTransformCost: Codable, Sendable {
    var dimension: Int
    var milliseconds: Double
    var bytes: Int
}

struct MemoryReport: Codable, Sendable {
    var users: Int
    /// UTF-8 bytes of each user id (0: ids like "user-123", at most 15 bytes).
    var idBytes: Int
    var residentBytesBefore: Int
    var residentBytesAfter: Int
    var bytesPerUser: Double
    /// `bytesPerUser` times a million, in MiB (2^20 bytes), as are the other "megabytes".
    var projectedMegabytesForMillion: Double
    var secondsToCreate: Double
    /// Accounts each loaded with the occupancy of an account that sent one batch of
    /// `denseRowsPerUser` rows (held as bit sets).
    var denseUsers: Int
    var denseRowsPerUser: Int
    /// Mean occupied buckets (all tables) of those accounts.
    var bucketsPerDenseUser: Double
    var bytesPerDenseUser: Double
    var projectedMegabytesForMillionDense: Double
}

/// Hands the allocator's free memory back to the system (glibc `malloc_trim(0)`, looked up at
/// run time; a no-op where it does not exist), so that a following resident-memory baseline
/// does not include freed pages that later allocations would reuse unseen.
func releaseFreeHeap() {
    #if canImport(Glibc)
    typealias Trim = @convention(c) (Int) -> Int32
    guard let symbol = dlsym(nil, "malloc_trim") else { return }  // nil is glibc's RTLD_DEFAULT
    _ = unsafeBitCast(symbol, to: Trim.self)(0)
    #endif
}

/// Resident set size of this process, bytes (Linux `/proc/self/statm`).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Generated unit-norm rows, one pool per worker (read-only once built). `runSweep` makes each
/// pool max(largest batch, 2048) rows, as `numpy_pipeline.py` does (POOL_ROWS), so that both
/// sides read rows from the same level of the memory hierarchy.
final class RowPools: Sendable {
    private let pools: [RowPool]
    init(dimension d: Int, workers: Int, rows: Int, pages: PageKind) {
        pools = (0..<workers).map { RowPool(unitRows: rows, columns: d, seed: UInt64(1000 + $0), pages: pages) }
    }
    func pool(_ w: Int) -> RowPool { pools[w] }
}

/// An immutable matrix shared by worker threads.
final class SharedMatrix: Sendable {
    let matrix: Matrix
    var rows: Int { matrix.rows }

    init(_ matrix: Matrix) { self.matrix = matrix }

    /// I.i.d. N(0, 1) entries.
    convenience init(gaussianRows rows: Int, columns: Int, seed: UInt64) {
        var g = RandomGenerator(seed: RandomSeed(seed, 7, 7, 7))
        self.init(Matrix.gaussian(rows: rows, columns: columns, using: &g))
    }

    func withView<R>(_ body: (MatrixView) -> R) -> R { matrix.withView(body) }
}

/// One output matrix and one pair of price buffers (coverage, sigma) per worker, written only
/// by that worker.
final class OutputBuffers: @unchecked Sendable {
    private let buffers: [UnsafeMutableBufferPointer<Float>]
    private let coverages: [UnsafeMutableBufferPointer<Double>]
    private let sigmas: [UnsafeMutableBufferPointer<Float>]
    private let rows: Int, columns: Int

    /// The output matrices in page-advised memory (``PageAdvisedMemory``: advised from 4 MiB
    /// on, as NumPy advises its output arrays).
    init(workers: Int, rows: Int, columns: Int, pages: PageKind) {
        self.rows = rows
        self.columns = columns
        func zeros<T: Numeric>(_ count: Int) -> UnsafeMutableBufferPointer<T> {
            let b = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
            b.initialize(repeating: 0)
            return b
        }
        buffers = (0..<workers).map { _ in
            let memory = PageAdvisedMemory.allocate(bytes: rows * columns * MemoryLayout<Float>.stride, pages: pages)
            return UnsafeMutableBufferPointer(start: memory.bindMemory(to: Float.self, capacity: rows * columns), count: rows * columns)
        }
        coverages = (0..<workers).map { _ in zeros(rows) }
        sigmas = (0..<workers).map { _ in zeros(rows) }
    }

    deinit {
        buffers.forEach { $0.baseAddress.map { PageAdvisedMemory.deallocate(UnsafeMutableRawPointer($0)) } }
        coverages.forEach { $0.deallocate() }
        sigmas.forEach { $0.deallocate() }
    }

    /// Worker `worker`'s output matrix (`rows x columns`) and its coverage and sigma buffers.
    func withBuffers<R>(_ worker: Int, _ body: (MutableMatrixView, UnsafeMutableBufferPointer<Double>, UnsafeMutableBufferPointer<Float>) -> R) -> R {
        body(MutableMatrixView(buffers[worker], rows: rows, columns: columns), coverages[worker], sigmas[worker])
    }
}

/// Whether a ``TimedPoint``'s calls are still its warm-up's (false) or timed (true). Set only
/// between the point's rounds of concurrent calls, which the dispatch of each round orders
/// before the calls read it.
final class WarmupPhase: @unchecked Sendable {
    var timing = false
}

/// Reading rows and nothing else, for ``BenchmarkRunner/rowReadPoint(batch:workers:pools:)``.
enum RowRead {
    /// The sum of every value of `view`, read row after row in blocks of 32 floats (four
    /// independent 8-lane sums, so the additions keep up with the loads).
    static func sum(_ view: MatrixView) -> Float {
        guard let start = view.start, view.rows > 0 else { return 0 }
        var (a, b, c, e) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        var tail: Float = 0
        let blocks = view.columns / 32
        for i in 0..<view.rows {
            let row = UnsafeRawPointer(start + i * view.rowStride)
            for k in 0..<blocks {
                let offset = k * 128
                a += row.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                b += row.loadUnaligned(fromByteOffset: offset + 32, as: SIMD8<Float>.self)
                c += row.loadUnaligned(fromByteOffset: offset + 64, as: SIMD8<Float>.self)
                e += row.loadUnaligned(fromByteOffset: offset + 96, as: SIMD8<Float>.self)
            }
            for j in blocks * 32 ..< view.columns { tail += start[i * view.rowStride + j] }
        }
        return ((a + b) + (c + e)).sum() + tail
    }
}
