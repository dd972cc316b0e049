import Defense
import Dispatch
import NumericKernels
import Testing
import TestSupport

@Suite("Concurrency")
struct ConcurrencyTests {
    @Test("Many threads protecting batches of several users lose no occupancy update")
    func stress() throws {
        var configuration = smallConfiguration(dimension: 64, transforms: [.scaleShift()])
        configuration.hashBits = 10
        configuration.tableCount = 2
        let defense = try B4BDefense(configuration: configuration, secret: testSecret)
        let users = ["a", "b", "c", "d"]
        let batches = 160
        let rows = spreadQueries(count: batches * 8, dimension: 64, seed: 81)
        // Every batch goes to one user; each user's batches are spread over all threads.
        DispatchQueue.concurrentPerform(iterations: batches) { i in
            _ = try! defense.protect(rows.rows(i * 8 ..< i * 8 + 8).copy(), user: users[i % users.count])
        }
        // Ground truth: hash each user's rows directly and count distinct buckets per table.
        let ids = bucketIDs(defense.hasher, rows)
        for (u, user) in users.enumerated() {
            var occupied = [Set<UInt32>](repeating: [], count: 2)
            for i in stride(from: u, to: batches, by: users.count) {
                for r in i * 8 ..< i * 8 + 8 { for t in 0..<2 { occupied[t].insert(ids[r * 2 + t]) } }
            }
            let expected = Double(occupied[0].count + occupied[1].count) / Double(2 * 1024)
            #expect(defense.coverage(of: user) == expected, "user \(user)")
        }
        #expect(defense.userCount == 4)
    }
}
