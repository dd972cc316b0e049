import Evaluation
import Foundation
import NumericKernels
import Testing

@Suite("b4b remap")
struct RemapCommandTests {
    /// Writes a small task (train/test with labels) and a pool into `dir`.
    private func writeTask(_ dir: URL, d: Int = 16) throws {
        let (train, trainLabels) = clusteredTask(rows: 150, d: d, classes: 3, seed: 11)
        let (test, testLabels) = clusteredTask(rows: 60, d: d, classes: 3, seed: 11 &+ 100)
        try NPY.write(train, to: dir.appendingPathComponent("train.npy").path)
        try NPY.write(labels: trainLabels, to: dir.appendingPathComponent("train_labels.npy").path)
        try NPY.write(test, to: dir.appendingPathComponent("test.npy").path)
        try NPY.write(labels: testLabels, to: dir.appendingPathComponent("test_labels.npy").path)
        try NPY.write(spreadRows(300, d: d, seed: 12), to: dir.appendingPathComponent("pool.npy").path)
    }

    private let taskArguments = ["--train", "train.npy", "--train-labels", "train_labels.npy", "--test", "test.npy",
                                 "--test-labels", "test_labels.npy", "--queries", "pool.npy"]

    @Test func producesTheFourCurvesAsCSVJSONAndSVG() throws {
        try withWorkDirectory { dir in
            try writeTask(dir)
            let r = try runB4B(["remap", "--output-dir", "out", "--counts", "10,100,1000", "--binary-dimension", "256"] + taskArguments, in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let out = dir.appendingPathComponent("out")
            let lines = try text(out, "remap.csv").split(separator: "\n")
            #expect(lines.first == "scenario,noise,queries,fit,cosine_distance,cosine_distance_encoder_space,cosine_distance_to_noiseless,accuracy_remapped,accuracy_account1,coverage_account1,coverage_account2,sigma_account1,sigma_account2")
            // 4 scenarios x 2 noise settings x 3 counts (1000 capped to the pool's 300).
            #expect(lines.count == 1 + 24)
            let points = try #require((try json(out, "remap.json") as? [String: Any])?["points"] as? [[String: Any]])
            #expect(points.count == 24)
            func point(_ scenario: String, _ noise: Bool, _ n: Int) throws -> [String: Any] {
                try #require(points.first { $0["scenario"] as? String == scenario && $0["noise"] as? Bool == noise && $0["queries"] as? Int == n })
            }
            for scenario in ["affine", "pad+shuffle", "affine+pad+shuffle"] {
                let exact = try point(scenario, false, 300)
                #expect((exact["cosineDistance"] as? Double ?? 1) < 1e-4, "\(scenario)")
                #expect((exact["cosineDistanceInEncoderSpace"] as? Double ?? 1) < 1e-4, "\(scenario)")
                let noisy = try point(scenario, true, 300)
                #expect((noisy["cosineDistance"] as? Double ?? 0) > (exact["cosineDistance"] as? Double ?? 1))
            }
            let binary = try point("binary", false, 300)
            #expect((binary["cosineDistance"] as? Double ?? 0) > 0.01)
            #expect(binary["cosineDistanceInEncoderSpace"] == nil)
            // One line per scenario and noise setting in the figure.
            let svg = try text(out, "remap.svg")
            #expect(svg.hasPrefix("<svg") || svg.hasPrefix("<?xml"))
            for name in ["affine", "pad+shuffle", "affine+pad+shuffle", "binary", "binary + B4B noise"] {
                #expect(svg.contains(">\(name)<"), "legend lacks \(name)")
            }
            #expect(r.standardOutput.contains("affine+pad+shuffle"))
            // Progress went to standard error as plain lines (not a terminal).
            #expect(r.standardError.contains("remap: 24/24"))
        }
    }

    @Test("--shared-queries train draws n from the training set and records the protocol in remap.json")
    func sharedQueriesFromTheTrainingSet() throws {
        try withWorkDirectory { dir in
            try writeTask(dir)
            let r = try runB4B(["remap", "--output-dir", "out", "--counts", "10,1000", "--scenarios", "affine",
                                "--noise", "off", "--shared-queries", "train"] + taskArguments, in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let out = dir.appendingPathComponent("out")
            let report = try #require(try json(out, "remap.json") as? [String: Any])
            #expect(report["sharedQueries"] as? String == "train")
            let points = try #require(report["points"] as? [[String: Any]])
            // 1000 is capped to the training set's 150 rows (the pool has 300).
            #expect(points.compactMap { $0["queries"] as? Int } == [10, 150])
            let all = try #require(points.last)
            // Both accounts sent exactly the training set: the same coverage.
            let (coverage1, coverage2) = (try #require(all["coverageAccount1"] as? Double), try #require(all["coverageAccount2"] as? Double))
            #expect(coverage1 == coverage2 && coverage1 > 0)
            #expect((all["cosineDistance"] as? Double ?? 1) < 1e-4)
            #expect(try runB4B(["remap", "--output-dir", "o2", "--shared-queries", "test"] + taskArguments, in: dir).status == 64)
        }
    }

    @Test("--queries is optional with --shared-queries train (the training set gives the calibration sample), required with pool")
    func queriesOnlyWhereTheyAreUsed() throws {
        try withWorkDirectory { dir in
            try writeTask(dir)
            let withoutPool = Array(taskArguments.dropLast(2))
            #expect(!withoutPool.contains("--queries"))
            let base = ["remap", "--counts", "10,1000", "--scenarios", "affine", "--noise", "off", "--shared-queries", "train"]
            let r = try runB4B(base + ["--output-dir", "out"] + withoutPool, in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let points = try #require((try json(dir.appendingPathComponent("out"), "remap.json") as? [String: Any])?["points"] as? [[String: Any]])
            #expect(points.compactMap { $0["queries"] as? Int } == [10, 150])
            #expect((points.last?["cosineDistance"] as? Double ?? 1) < 1e-4)
            // The default protocol draws its shared queries from the pool: without one it is refused.
            let refused = try runB4B(["remap", "--output-dir", "o2", "--counts", "10"] + withoutPool, in: dir)
            #expect(refused.status == 64)
            #expect(refused.standardError.contains("--queries is required with --shared-queries pool"), "\(refused.standardError)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("o2").path))
        }
    }

    @Test func badInputsAreNamed() throws {
        try withWorkDirectory { dir in
            try writeTask(dir)
            try NPY.write(labels: [0, 1], to: dir.appendingPathComponent("short_labels.npy").path)
            try NPY.write(spreadRows(20, d: 5, seed: 1), to: dir.appendingPathComponent("narrow.npy").path)
            let cases: [([String], [String])] = [
                (["--counts", "10,x"], ["--counts"]),
                (["--counts", "0"], ["--counts"]),
                (["--scenarios", "affine,rotation"], ["unknown scenario 'rotation'"]),
                (["--fit", "ridge=-1"], ["--fit"]),
                (["--noise", "sometimes"], ["--noise"]),
                (["--train-labels", "short_labels.npy"], ["--train-labels", "2 labels for 150 rows"]),
                (["--queries", "narrow.npy"], ["dimensions differ"]),
                (["--test", "missing.npy"], ["--test", "missing.npy", "not found"]),
            ]
            for (override, keywords) in cases {
                var arguments = taskArguments
                for pair in stride(from: 0, to: override.count, by: 2) {
                    if let i = arguments.firstIndex(of: override[pair]) { arguments[i + 1] = override[pair + 1] } else {
                        arguments += [override[pair], override[pair + 1]]
                    }
                }
                let r = try runB4B(["remap", "--output-dir", "out"] + arguments, in: dir)
                #expect(!r.succeeded, "\(override) should fail")
                for keyword in keywords {
                    #expect(r.standardError.contains(keyword), "\(override): '\(r.standardError)' lacks '\(keyword)'")
                }
            }
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/remap.csv").path))
        }
    }
}
