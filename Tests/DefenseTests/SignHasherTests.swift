import Defense
import Foundation
import NumericKernels
import Testing
import TestSupport

/// Sign hyperplanes (`HasherConfiguration.signs`, `NormalEntries.signs`): normals of ±1 drawn
/// from the seed, the same bucket ids on every projection path (the sign kernel for a lone row
/// where the CPU runs it), and a configuration that saves, loads and validates like the others.
@Suite("Sign hyperplanes")
struct SignHasherTests {
    @Test("Normals are ±1, about half each, fixed by the seed and different from the Gaussian ones")
    func normals() {
        let d = 512
        let a = RandomProjectionLSH(randomWithDimension: d, hashBits: 12, tableCount: 2, seed: RandomSeed(1, 2, 3, 4), entries: .signs)
        let b = RandomProjectionLSH(randomWithDimension: d, hashBits: 12, tableCount: 2, seed: RandomSeed(1, 2, 3, 4), entries: .signs)
        let other = RandomProjectionLSH(randomWithDimension: d, hashBits: 12, tableCount: 2, seed: RandomSeed(1, 2, 3, 5), entries: .signs)
        let gaussian = RandomProjectionLSH(randomWithDimension: d, hashBits: 12, tableCount: 2, seed: RandomSeed(1, 2, 3, 4))
        let values = a.normals.elements
        #expect(values.allSatisfy { $0 == 1 || $0 == -1 })
        let plus = values.filter { $0 == 1 }.count
        // 12 288 fair coins: the count of +1 lies within 5 standard deviations (about 55) of half.
        #expect(abs(plus - values.count / 2) < 5 * 56, "\(plus) of \(values.count) are +1")
        #expect(a.normals.elements == b.normals.elements && a.fingerprint == b.fingerprint)
        #expect(a.normals.elements != other.normals.elements && a.fingerprint != other.fingerprint)
        #expect(a.fingerprint != gaussian.fingerprint)
        // Each column (hyperplane) is balanced too, and no two columns are equal.
        for j in 0..<24 {
            let column = (0..<d).map { a.normals[$0, j] }
            #expect(abs(column.filter { $0 == 1 }.count - d / 2) < 5 * 12, "column \(j)")
        }
        #expect(Set((0..<24).map { j in (0..<d).map { a.normals[$0, j] } }).count == 24)
    }

    @Test("Bucket ids agree on every path, row by row and in batches, also for rows on a hyperplane", arguments: [300, 2048])
    func pathsAgree(dimension d: Int) throws {
        let hasher = RandomProjectionLSH(randomWithDimension: d, hashBits: 12, tableCount: 2, seed: RandomSeed(6, 5, 4, 3),
                                         centre: (0..<d).map { Float($0 % 7) * 0.01 }, entries: .signs)
        var rows = gaussianMatrix(rows: 300, columns: d, seed: 31)
        // Every third row on one of the hyperplanes (through the origin: only its own rounding
        // then separates it from the threshold), where the summation orders disagree.
        for i in stride(from: 0, to: 300, by: 3) { moveOntoHyperplane(&rows, row: i, hyperplane: (i / 3) % 24, of: hasher) }
        let blas = try #require(try bucketIDs(hasher, rows, path: .blas))
        #expect(Set(blas).count > 100, "the ids are spread over many buckets")
        for path in ProjectionPath.allCases where path != .blas && path.isAvailable {
            #expect(try bucketIDs(hasher, rows, path: path) == blas, "\(path)")
        }
        // The public call, row by row (the sign kernel where it runs) and in uneven batches.
        let singles = (0..<300).flatMap { bucketIDs(hasher, rows.rows($0 ..< $0 + 1).copy()) }
        #expect(singles == blas)
        var pieces: [UInt32] = []
        var start = 0
        for size in [1, 2, 97, 1, 199] {
            pieces += bucketIDs(hasher, rows.rows(start ..< start + size).copy())
            start += size
        }
        #expect(pieces == blas)
    }

    @Test("A defense with sign hyperplanes: JSON round trip, the same answers, a centred one needs a calibration")
    func configuration() throws {
        let d = 48
        let sample = gaussianMatrix(rows: 200, columns: d, seed: 41)
        var c = smallConfiguration(dimension: d, transforms: [.scaleShift()])
        c.calibration = try Calibration(sample: sample)
        c.hasher = .signs(centred: true)
        let json = try c.encoded()
        #expect(String(decoding: json, as: UTF8.self).contains("signs"))
        let decoded = try DefenseConfiguration.decode(from: json)
        #expect(decoded == c)
        let rows = gaussianMatrix(rows: 50, columns: d, seed: 42)
        let a = try B4BDefense(configuration: c, secret: testSecret)
        let b = try B4BDefense(configuration: decoded, secret: testSecret)
        #expect(a.hasher.normals.elements.allSatisfy { $0 == 1 || $0 == -1 })
        #expect(try a.protect(rows, user: "u").representations == (try b.protect(rows, user: "u").representations))
        #expect(a.exportOccupancy(of: "u") == b.exportOccupancy(of: "u"))
        // Gaussian and sign hashers of the same secret are different hashers: a snapshot of one
        // is refused by the other, which keeps its state.
        var gaussian = c
        gaussian.hasher = .random(centred: true)
        let g = try B4BDefense(configuration: gaussian, secret: testSecret)
        let snapshot = a.exportOccupancy(of: "u")
        #expect(snapshot.queryCount == 50)
        #expect(throws: OccupancyError.self) { try g.importOccupancy(snapshot, for: "u") }
        #expect(!g.users.contains("u") && g.exportOccupancy(of: "u").queryCount == 0)

        var uncalibrated = c
        uncalibrated.calibration = nil
        #expect { try uncalibrated.validated() } throws: { ($0 as? ConfigurationError)?.field == "hasher" }
        uncalibrated.hasher = .signs(centred: false)
        #expect(throws: Never.self) { try uncalibrated.validated() }
    }
}
