import Defense
import NumericKernels
import Testing
import TestSupport

@Suite("Block 1: LSH buckets and occupancy")
struct CoverageTests {
    @Test("Bucket ids equal numpy's reference definition (sign of x·P against the threshold, bit j = hyperplane j)",
          arguments: ["origin", "centred"])
    func bucketIDsMatchNumpy(_ variant: String) throws {
        let normals = try Fixture.load("lsh_normals.npy").matrix
        let batch = try Fixture.load("lsh_batch.npy").matrix
        let thresholds = try Fixture.load("lsh_\(variant)_thresholds.npy").floats
        let expected = try Fixture.load("lsh_\(variant)_ids.npy").ints
        let distinct = try Fixture.load("lsh_\(variant)_distinct.npy").ints
        let hasher = RandomProjectionLSH(normals: normals, thresholds: thresholds, hashBits: 12, tableCount: 2)
        let ids = bucketIDs(hasher, batch)
        let mismatches = zip(ids, expected).enumerated().filter { Int($0.element.0) != $0.element.1 }
        #expect(mismatches.isEmpty, "first mismatch: \(mismatches.first.map { "row \($0.offset / 2) table \($0.offset % 2): \($0.element.0) vs \($0.element.1)" } ?? "")")
        // Row by row (each lone row takes the screening pass where it can run): the same ids.
        let singles = (0..<batch.rows).flatMap { bucketIDs(hasher, batch.rows($0 ..< $0 + 1).copy()) }
        #expect(singles.map(Int.init) == expected)

        var occupancy = Occupancy(hashBits: 12, tableCount: 2)
        for i in 0..<batch.rows { for t in 0..<2 { occupancy.insert(bucket: ids[i * 2 + t], table: t) } }
        #expect(occupancy.occupiedCount(table: 0) == distinct[0])
        #expect(occupancy.occupiedCount(table: 1) == distinct[1])
        #expect(occupancy.coverage == Double(distinct[0] + distinct[1]) / Double(2 * 4096))
    }

    @Test("Bucket ids with many tables (a row's hyperplane bits spanning several 64-bit words) equal the definition",
          arguments: [(12, 7), (5, 20), (24, 3), (1, 64), (7, 1)])
    func manyTablesMatchDefinition(hashBits k: Int, tables: Int) {
        let d = 40
        let centre = (0..<d).map { Float($0 % 5) * 0.1 - 0.2 }
        let hasher = RandomProjectionLSH(randomWithDimension: d, hashBits: k, tableCount: tables,
                                         seed: RandomSeed(UInt64(k), UInt64(tables), 5, 6), centre: centre)
        let rows = gaussianMatrix(rows: 37, columns: d, seed: UInt64(k * 100 + tables))
        // The definition: bit j of table t is whether x · p (in double, left to right) exceeds
        // the threshold of hyperplane t k + j.
        let expected = (0..<rows.rows).flatMap { i in
            (0..<tables).map { referenceBucketID(rows, row: i, normals: hasher.normals, thresholds: hasher.thresholds, table: $0, hashBits: k) }
        }
        #expect(bucketIDs(hasher, rows) == expected)
        let singles = (0..<rows.rows).flatMap { bucketIDs(hasher, rows.rows($0 ..< $0 + 1).copy()) }
        #expect(singles == expected)
    }

    @Test("Bucket ids do not depend on batching, even for rows on a hyperplane to within rounding")
    func batchingDoesNotChangeBuckets() {
        let d = 300
        let hasher = RandomProjectionLSH(randomWithDimension: d, hashBits: 12, seed: RandomSeed(9, 9, 9, 9))
        var rows = gaussianMatrix(rows: 400, columns: d, seed: 21)
        // Project every other row onto one of the hyperplanes: x·p is then zero up to rounding,
        // exactly where a GEMM of another shape could round to the other side.
        for i in stride(from: 0, to: 400, by: 2) { moveOntoHyperplane(&rows, row: i, hyperplane: (i / 2) % 12, of: hasher) }
        let whole = bucketIDs(hasher, rows)
        var pieces: [UInt32] = []
        var start = 0
        for size in [1, 3, 64, 7, 200, 1, 124] {
            pieces += bucketIDs(hasher, rows.rows(start ..< start + size).copy())
            start += size
        }
        #expect(start == 400)
        #expect(whole == pieces)
        let singles = (0..<400).flatMap { bucketIDs(hasher, rows.rows($0 ..< $0 + 1).copy()) }
        #expect(whole == singles)
    }

    @Test("The projection kernel and the BLAS path give the same bucket ids, also for rows on a hyperplane to within rounding",
          .enabled(if: ProjectionPath.kernel.isAvailable,
                   "this CPU lacks AVX2, FMA or F16C: only the BLAS path can run here, the kernel is untested"),
          arguments: [300, 2048])
    func projectionPathsAgree(dimension d: Int) throws {
        let hasher = RandomProjectionLSH(randomWithDimension: d, hashBits: 12, tableCount: 2, seed: RandomSeed(4, 3, 2, 1))
        var rows = gaussianMatrix(rows: 333, columns: d, seed: 77)
        // A third of the rows moved onto a hyperplane: there the two summation orders disagree
        // in the last bits, and only the exact recomputation keeps the ids equal.
        for i in stride(from: 0, to: 333, by: 3) { moveOntoHyperplane(&rows, row: i, hyperplane: (i / 3) % 24, of: hasher) }
        let paths = [ProjectionPath.kernel, .blas, .wideKernel, .wideKernelDescending].filter(\.isAvailable)
        let byPath = try paths.map { try #require(try bucketIDs(hasher, rows, path: $0)) }
        for (path, ids) in zip(paths, byPath) { #expect(ids == byPath[0], "\(path)") }
        #expect(Set(byPath[0]).count > 100, "the ids are spread over many buckets")
        // The public call, row by row, twice: with AVX-512 a thread's lone rows walk the
        // directions both ways in turn, and with an odd number of rows each row is walked both
        // ways over the two rounds. The same ids.
        for round in 0..<2 {
            let singles = (0..<333).flatMap { bucketIDs(hasher, rows.rows($0 ..< $0 + 1).copy()) }
            #expect(singles == byPath[0], "round \(round)")
        }
    }

    @Test("Rows so small that their squares underflow get the double-precision definition's ids on every path, also on a hyperplane",
          arguments: [300, 2048])
    func tinyRowsKeepTheirBound(dimension d: Int) throws {
        let hasher = RandomProjectionLSH(randomWithDimension: d, hashBits: 12, seed: RandomSeed(5, 7, 9, 11))
        var rows = gaussianMatrix(rows: 96, columns: d, seed: 79)
        // Every other row onto a hyperplane, then every row scaled by 2^-100 (exact): each square
        // (about 1e-61) rounds to 0 in single precision, so the float sum of squares is 0 while the
        // row is not. The projections' rounding must still be bounded by the row's true size.
        for i in stride(from: 0, to: 96, by: 2) { moveOntoHyperplane(&rows, row: i, hyperplane: (i / 2) % 12, of: hasher) }
        for i in 0..<96 { for c in 0..<d { rows[i, c] = rows[i, c] * 0x1p-100 } }
        let expected = (0..<96).map { referenceBucketID(rows, row: $0, normals: hasher.normals, thresholds: hasher.thresholds, table: 0, hashBits: 12) }
        var runs: [(String, [UInt32])] = []
        for path in [ProjectionPath.kernel, .blas, .wideKernel, .wideKernelDescending].filter(\.isAvailable) {
            runs.append(("\(path)", try #require(try bucketIDs(hasher, rows, path: path))))
        }
        for screening in [Screening.halfPrecision, .integers] {
            if let ids = try bucketIDs(hasher, rows, path: nil, screening: screening) { runs.append(("\(screening)", ids)) }
        }
        runs.append(("lone rows", (0..<96).flatMap { bucketIDs(hasher, rows.rows($0 ..< $0 + 1).copy()) }))
        for (name, ids) in runs {
            let wrong = (0..<96).filter { ids[$0] != expected[$0] }
            #expect(wrong.isEmpty, "\(name): rows \(wrong) differ from the definition")
        }
    }

    @Test("Screened rows (half-precision first pass) get the ids of the kernel and BLAS paths, also on and near a hyperplane",
          .enabled(if: ProjectionPath.kernel.isAvailable,
                   "this CPU lacks AVX2, FMA or F16C: screening cannot run here, it is untested"),
          arguments: [300, 2048])
    func screenedRowsAgree(dimension d: Int) throws {
        let hasher = RandomProjectionLSH(randomWithDimension: d, hashBits: 12, tableCount: 2, seed: RandomSeed(8, 6, 4, 2))
        var rows = gaussianMatrix(rows: 360, columns: d, seed: 78)
        // Rows 0, 3, 6, ... lie on a hyperplane (to within rounding: only the exact recomputation
        // decides them); rows 1, 4, 7, ... lie 1e-4 ‖x‖ ‖p‖ from one, inside the screening bound
        // but far outside the single-precision one (the second, single-precision pass decides).
        for i in stride(from: 0, to: 360, by: 3) {
            let j = (i / 3) % 24
            moveOntoHyperplane(&rows, row: i, hyperplane: j, of: hasher)
            moveOntoHyperplane(&rows, row: i + 1, hyperplane: j, of: hasher)
            var (rowNorm, normalNorm) = (0.0, 0.0)
            for c in 0..<d { rowNorm += Double(rows[i + 1, c] * rows[i + 1, c]); normalNorm += Double(hasher.normals[c, j] * hasher.normals[c, j]) }
            let shift = (i / 3) % 2 == 0 ? 1e-4 : -1e-4
            for c in 0..<d { rows[i + 1, c] += Float(shift * rowNorm.squareRoot() / normalNorm.squareRoot()) * hasher.normals[c, j] }
        }
        let byPath = try [(ProjectionPath?.some(.kernel), Screening.none), (.blas, .none), (nil, .halfPrecision)].map { path, screening in
            try #require(try bucketIDs(hasher, rows, path: path, screening: screening))
        }
        #expect(byPath[0] == byPath[1])
        #expect(byPath[0] == byPath[2])
        // Screened with integers (where the CPU runs it): the same ids, row by row, whichever way
        // the directions are walked.
        if let integers = try bucketIDs(hasher, rows, path: nil, screening: .integers) {
            #expect(integers == byPath[0])
        }
        // The rows near a hyperplane fall on the side they were moved to.
        for i in stride(from: 1, to: 360, by: 3) {
            let j = ((i - 1) / 3) % 24
            let bit = (byPath[2][i * 2 + j / 12] >> UInt32(j % 12)) & 1
            #expect(bit == (((i - 1) / 3) % 2 == 0 ? 1 : 0), "row \(i), hyperplane \(j)")
        }
        // The public call screens a lone row: the same ids row by row.
        let singles = (0..<360).flatMap { bucketIDs(hasher, rows.rows($0 ..< $0 + 1).copy()) }
        #expect(singles == byPath[0])
    }

    @Test("The lone-row screening chosen: integers for Gaussian normals over 48 KiB where AVX-512 VNNI runs, never for sign normals")
    func loneRowScreeningChoice() {
        let wide = RandomProjectionLSH(randomWithDimension: 2048, hashBits: 12, seed: RandomSeed(1, 2, 3, 4))
        let narrow = RandomProjectionLSH(randomWithDimension: 384, hashBits: 12, seed: RandomSeed(1, 2, 3, 4))
        let signs = RandomProjectionLSH(randomWithDimension: 2048, hashBits: 12, seed: RandomSeed(1, 2, 3, 4), entries: .signs)
        #expect((wide.loneRowScreening == .integers) == ProjectionDirections.integerScreeningRuns)
        #expect(narrow.loneRowScreening != .integers)
        if ProjectionPath.signKernel.isAvailable { #expect(signs.loneRowScreening != .integers) }
    }

    @Test("A NaN or infinity is reported by row and column, counted from the batch's first row")
    func nonFiniteValues() {
        let gaussian = RandomProjectionLSH(randomWithDimension: 40, hashBits: 12, seed: RandomSeed(1, 1, 1, 1))
        let signs = RandomProjectionLSH(randomWithDimension: 40, hashBits: 12, seed: RandomSeed(1, 1, 1, 1), entries: .signs)
        for path in ProjectionPath.allCases where path.isAvailable {
            // The sign kernel runs on sign hyperplanes only.
            let hasher = path == .signKernel ? signs : gaussian
            for (row, column, value) in [(0, 0, Float.nan), (6, 39, Float.infinity), (3, 17, -Float.infinity)] {
                var x = gaussianMatrix(rows: 7, columns: 40, seed: 8)
                x[row, column] = value
                if row > 0 { x[row - 1, column] = 3e19 }     // finite, but its square overflows a float
                var ids = [UInt32](repeating: 0, count: 7)
                #expect(throws: NonFiniteValue(row: row, column: column, value: value)) {
                    try x.withView { v in try ids.withUnsafeMutableBufferPointer { try hasher.bucketIDs(v, into: $0, path: path) } }
                }
            }
        }
    }

    @Test("Rows whose squares overflow a float, in the middle of a batch: the batch goes on, and each such row gets the ids of the same row unscaled")
    func overflowingSquaresInBatch() {
        // Thresholds at 0 (the hyperplanes through the origin): scaling a row by a positive
        // factor keeps every side, so the scaled rows' ids are known independently.
        let hasher = RandomProjectionLSH(randomWithDimension: 96, hashBits: 12, seed: RandomSeed(5, 6, 7, 8))
        let plain = gaussianMatrix(rows: 11, columns: 96, seed: 77)
        var scaled = plain
        for row in [2, 3, 9] { for j in 0..<96 { scaled[row, j] *= 1e30 } }   // finite, squares overflow
        for path in ProjectionPath.allCases where path.isAvailable && path != .signKernel {
            var expected = [UInt32](repeating: 0, count: 11), got = expected
            plain.withView { v in _ = expected.withUnsafeMutableBufferPointer { try? hasher.bucketIDs(v, into: $0, path: path) } }
            scaled.withView { v in _ = got.withUnsafeMutableBufferPointer { try? hasher.bucketIDs(v, into: $0, path: path) } }
            #expect(got == expected, "path \(path)")
            #expect(Set(expected).count > 5, "the rows fall in different buckets")
        }
    }

    @Test("Occupancy counts, union and persistence round trip")
    func occupancy() throws {
        var a = Occupancy(hashBits: 4, tableCount: 2)
        let first = a.insert(bucket: 3, table: 0)
        let second = a.insert(bucket: 3, table: 0)
        #expect(first && !second)
        a.insert(bucket: 15, table: 1)
        #expect(a.coverage == 2.0 / 32)
        var b = Occupancy(hashBits: 4, tableCount: 2)
        b.insert(bucket: 4, table: 0)
        b.insert(bucket: 15, table: 1)
        a.formUnion(b)
        #expect(a.occupiedCount(table: 0) == 2 && a.occupiedCount(table: 1) == 1)
        #expect(a.contains(bucket: 4, table: 0) && !a.contains(bucket: 4, table: 1))
        let restored = try Occupancy(hashBits: 4, tableCount: 2, rawWords: a.rawWords)
        #expect(restored == a)
        #expect(throws: OccupancyError.self) { try Occupancy(hashBits: 12, tableCount: 1, rawWords: [0, 1]) }
        #expect(throws: OccupancyError.self) { try Occupancy(hashBits: 4, tableCount: 1, rawWords: [1 << 20]) }
    }

    @Test("A principal hasher puts each threshold at the median of the sample's projections")
    func principalHasher() throws {
        // Anisotropic sample: a large common offset plus a few strong directions.
        var sample = gaussianMatrix(rows: 801, columns: 40, seed: 31, scale: 0.05)
        for i in 0..<801 { for j in 0..<40 { sample[i, j] += 1 + (j < 4 ? Float(4 - j) * sample[i, j] * 20 : 0) } }
        let fitted = try FittedProjection.principal(sample: sample, hashBits: 6, tableCount: 2, seed: RandomSeed(1, 2, 3, 4))
        let hasher = RandomProjectionLSH(fitted)
        let ids = bucketIDs(hasher, sample)
        for t in 0..<2 {
            for j in 0..<6 {
                let above = (0..<801).filter { ids[$0 * 2 + t] & (1 << UInt32(j)) != 0 }.count
                // 400 rows lie strictly above the median; the median row itself lies on the
                // threshold up to rounding of its float projection, so it may count either way.
                #expect((400...401).contains(above), "table \(t) bit \(j): \(above) of 801 above the median")
            }
        }
        // Table 0's hyperplanes are orthonormal principal directions; the first is the strongest axis.
        let first = (0..<40).map { hasher.normals[$0, 0] }
        #expect(abs(first[0]) > 0.9, "first principal direction \(first.prefix(4))")
    }
}

/// Moves row `i` of `rows` onto hyperplane `j` of `hasher` (removes its component along the
/// normal, in double): its projection is then zero up to rounding, where summation orders
/// disagree about the sign.
func moveOntoHyperplane(_ rows: inout Matrix, row i: Int, hyperplane j: Int, of hasher: RandomProjectionLSH) {
    let d = rows.columns
    var (dot, pp) = (0.0, 0.0)
    for c in 0..<d { dot += Double(rows[i, c]) * Double(hasher.normals[c, j]); pp += Double(hasher.normals[c, j] * hasher.normals[c, j]) }
    for c in 0..<d { rows[i, c] -= Float(dot / pp) * hasher.normals[c, j] }
}

/// Bucket ids of a whole matrix on a chosen projection path and screening choice; nil when that
/// path cannot run here.
func bucketIDs(_ hasher: RandomProjectionLSH, _ batch: Matrix, path: ProjectionPath?, screening: Screening = .none) throws -> [UInt32]? {
    var ids = [UInt32](repeating: 0, count: batch.rows * hasher.tableCount)
    let ran = try batch.withView { v in
        try ids.withUnsafeMutableBufferPointer { try hasher.bucketIDs(v, into: $0, path: path, screening: screening) }
    }
    return ran ? ids : nil
}

/// Bucket ids of a whole matrix through the public batch API.
func bucketIDs(_ hasher: RandomProjectionLSH, _ batch: Matrix) -> [UInt32] {
    var ids = [UInt32](repeating: 0, count: batch.rows * hasher.tableCount)
    batch.withView { v in
        ids.withUnsafeMutableBufferPointer { out in
            do { try hasher.bucketIDs(v, into: out) } catch { Issue.record("unexpected \(error)") }
        }
    }
    return ids
}
