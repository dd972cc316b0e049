import Evaluation
import Foundation
import NumericKernels
import Testing

/// `b4b reproduce --quick` end to end on a small generated dataset of texts and representations.
@Suite("b4b reproduce")
struct ReproduceCommandTests {
    /// A dataset in the layout `--data` expects. Each text is a bag of words from one of
    /// `topics` vocabularies, and its representation is that topic's centre plus noise, so
    /// the thief's text features do predict the representations (and a task's labels are its
    /// topics): a thief without defense learns something, which the test checks.
    private func writeDataset(_ dir: URL, d: Int = 16, topics: Int = 6, poolRows: Int = 3000) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var generator = RandomGenerator(seed: RandomSeed(77, 1, 2, 3))
        let centres = Matrix.gaussian(rows: topics, columns: d, standardDeviation: 1, using: &generator)
        let vocabulary = (0 ..< topics).map { t in (0 ..< 30).map { "w\(t)x\($0)" } }
        func sample(_ rows: Int, topicsUsed: Range<Int>) -> (Matrix, [String], [Int]) {
            var elements: [Float] = [], texts: [String] = [], labels: [Int] = []
            let noise = Matrix.gaussian(rows: rows, columns: d, standardDeviation: 0.3, using: &generator)
            for i in 0 ..< rows {
                let t = Int.random(in: topicsUsed, using: &generator)
                labels.append(t - topicsUsed.lowerBound)
                elements += (0 ..< d).map { centres[t, $0] + noise[i, $0] }
                texts.append((0 ..< 8).map { _ in vocabulary[t].randomElement(using: &generator)! }.joined(separator: " "))
            }
            return (Matrix(rows: rows, columns: d, elements: elements), texts, labels)
        }
        func jsonl(_ texts: [String]) -> Data {
            Data(texts.map { #"{"text": "\#($0)"}"# + "\n" }.joined().utf8)
        }
        let (pool, poolTexts, _) = sample(poolRows, topicsUsed: 0 ..< topics)
        try NPY.write(pool, to: dir.appendingPathComponent("pool.npy").path)
        try jsonl(poolTexts).write(to: dir.appendingPathComponent("pool.jsonl"))
        for (name, used) in [("alpha", 0 ..< 3), ("beta", 3 ..< 6)] {
            let folder = dir.appendingPathComponent("tasks/\(name)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (part, rows) in [("train", 600), ("test", 200)] {
                let (x, texts, labels) = sample(rows, topicsUsed: used)
                try NPY.write(x, to: folder.appendingPathComponent("\(part).npy").path)
                try NPY.write(labels: labels, to: folder.appendingPathComponent("\(part)_labels.npy").path)
                try jsonl(texts).write(to: folder.appendingPathComponent("\(part).jsonl"))
            }
        }
    }

    @Test func quickRunWritesTheFourPartsWithSpreadOverSeeds() throws {
        try withWorkDirectory { dir in
            let data = dir.appendingPathComponent("data")
            try writeDataset(data)
            let r = try runB4B(["reproduce", "--data", "data", "--output-dir", "out", "--quick"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let out = dir.appendingPathComponent("out")
            let report = try text(out, "report.md")
            for heading in ["## Headline", "### Targets", "## 1. Legitimate users", "## 2. Stealing with one account", "## 3. Sybils",
                            "## 4. Coverage, cost and calibration", "Quick mode"] {
                #expect(report.contains(heading), "report.md lacks '\(heading)'")
            }
            for figure in ["stealing-centred-fidelity.svg", "stealing-drop-in.svg", "sybils-drop-in.svg", "coverage-origin.svg",
                           "coverage-centred.svg", "coverage.svg", "cost-curve.svg", "noise-sweep.svg"] {
                #expect(try text(out, figure).contains("</svg>"), "\(figure)")
                #expect(report.contains(figure) || figure == "stealing-fidelity.svg", "report.md does not show \(figure)")
            }
            let results = try #require(try json(out, "results.json") as? [String: Any])
            #expect(results["seeds"] as? [Int] == [1, 2, 3])
            // Legitimate users: 3 seeds x 2 tasks x 5 defenses.
            let legitimate = try #require(results["legitimate"] as? [[String: Any]])
            #expect(legitimate.count == 30)
            let points = legitimate.compactMap { $0["point"] as? [String: Any] }
            for p in points where p["defense"] as? String == "none" {
                #expect(p["sigma"] as? Double == 0 && p["coverage"] as? Double == 0)
                // Separable topics: the undefended probe is far above chance (1/3).
                #expect((p["accuracy"] as? Double ?? 0) > 0.8, "\(p)")
            }
            // The B4B accounts are priced: coverage and sigma are positive.
            for p in points where (p["defense"] as? String ?? "").hasPrefix("B4B") {
                #expect((p["coverage"] as? Double ?? 0) > 0)
            }
            let stealing = try #require(results["stealing"] as? [[String: Any]]).compactMap { $0["point"] as? [String: Any] }
            // Seeds x defenses x budgets: 1000, and 2500 and "all" both capped to the 3000 - 600 texts not held out.
            #expect(stealing.count == 3 * 5 * 2)
            #expect(Set(stealing.compactMap { $0["queries"] as? Int }) == [1000, 2400])
            // Without defense the thief's copy learns the topics: centred fidelity well above 0.
            let openFull = stealing.filter { $0["defense"] as? String == "none" && $0["queries"] as? Int == stealing.compactMap { $0["queries"] as? Int }.max() }
            #expect(openFull.count == 3)
            for p in openFull { #expect((p["centredFidelity"] as? Double ?? 0) > 0.5, "\(p)") }
            let padding = try #require(results["padding"] as? [[String: Any]]).compactMap { $0["point"] as? [String: Any] }
            #expect(padding.count == 3 * 2 && padding.allSatisfy { $0["padding"] as? Int == 2 })
            let sybils = try #require(results["sybils"] as? [[String: Any]]).compactMap { $0["point"] as? [String: Any] }
            #expect(sybils.count == 3 * 3 && sybils.allSatisfy { $0["accounts"] as? Int == 2 })
            for name in ["legitimate.csv", "stealing.csv", "sybils.csv"] {
                #expect(try text(out, name).split(separator: "\n").count > 3, "\(name)")
            }
        }
    }

    @Test("--hasher centred calibrates and runs both B4B defenses with secret centred hyperplanes, and compares the others' coverage")
    func quickRunWithSecretCentredHyperplanes() throws {
        try withWorkDirectory { dir in
            try writeDataset(dir.appendingPathComponent("data"))
            let r = try runB4B(["reproduce", "--data", "data", "--output-dir", "out", "--quick", "--seeds", "1", "--hasher", "centred"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let out = dir.appendingPathComponent("out")
            let results = try #require(try json(out, "results.json") as? [String: Any])
            #expect(results["hasher"] as? String == "centred")
            // The calibration measured the pool with the defense's hasher.
            let calibration = try #require(results["calibration"] as? [String: Any])
            #expect((calibration["pool"] as? [String: Any])?["hasher"] as? String == "centred")
            // Coverage curves: the defense's (centred) once, and origin and principal beside it.
            let curves = try #require(results["coverage"] as? [[String: Any]])
            let kinds = curves.compactMap { $0["hasher"] as? String }
            #expect(Set(kinds) == ["origin", "centred", "principal"])
            #expect(kinds.filter { $0 == "centred" }.count == kinds.filter { $0 == "origin" }.count)
            for figure in ["coverage.svg", "coverage-origin.svg", "coverage-principal.svg"] {
                #expect(try text(out, figure).contains("</svg>"), "\(figure)")
            }
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("coverage-centred.svg").path))
            let report = try text(out, "report.md")
            #expect(report.contains("Hasher of both B4B defenses: random hyperplanes through the pool's mean (centred)"))
            #expect(report.contains("coverage-principal.svg"))
            #expect(try runB4B(["reproduce", "--data", "data", "--output-dir", "o2", "--quick", "--hasher", "fitted"], in: dir).status == 64)
        }
    }

    @Test func badDataIsRefusedWithItsName() throws {
        try withWorkDirectory { dir in
            let data = dir.appendingPathComponent("data")
            try writeDataset(data, poolRows: 400)
            let missing = try runB4B(["reproduce", "--data", "nowhere", "--output-dir", "out", "--quick"], in: dir)
            #expect(!missing.succeeded && missing.standardError.contains("pool.npy"), "\(missing.standardError)")
            let task = try runB4B(["reproduce", "--data", "data", "--output-dir", "out", "--quick", "--steal-task", "gamma"], in: dir)
            #expect(!task.succeeded && task.standardError.contains("--steal-task 'gamma'"), "\(task.standardError)")
            // One text too few: texts and representations must be row-aligned.
            let jsonl = data.appendingPathComponent("tasks/beta/test.jsonl")
            let lines = try String(contentsOf: jsonl, encoding: .utf8).split(separator: "\n")
            try (lines.dropLast().joined(separator: "\n") + "\n").write(to: jsonl, atomically: true, encoding: .utf8)
            let short = try runB4B(["reproduce", "--data", "data", "--output-dir", "out", "--quick"], in: dir)
            #expect(!short.succeeded && short.standardError.contains("row-aligned") && short.standardError.contains("test.jsonl"),
                    "\(short.standardError)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/report.md").path))
            let seeds = try runB4B(["reproduce", "--data", "data", "--output-dir", "out", "--seeds", "0"], in: dir)
            #expect(!seeds.succeeded && seeds.standardError.contains("--seeds"))
        }
    }

    @Test("a --feature-count beyond this machine's memory is refused before anything is allocated, not a crash")
    func featureCountBeyondMemoryIsRefused() throws {
        try withWorkDirectory { dir in
            try writeDataset(dir.appendingPathComponent("data"), poolRows: 400)
            // 10^7 features: the thief's ridge system alone would be 10^14 floats.
            let huge = try runB4B(["reproduce", "--data", "data", "--output-dir", "out", "--seeds", "1", "--feature-count", "10000000"], in: dir)
            #expect(huge.status == 1, "status \(huge.status): \(huge.standardError)")
            #expect(huge.standardError.contains("--feature-count 10000000") && huge.standardError.contains("more than this machine's"),
                    "\(huge.standardError)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path))
        }
    }
}
