import Evaluation
import Foundation
import NumericKernels
import Testing

/// End-to-end runs of `b4b probe`, `b4b coverage` and `b4b calibrate` on small generated data.
@Suite("b4b probe, coverage, calibrate")
struct MeasurementCommandTests {
    /// Writes a task directory (train/test with labels) under `dir/name`.
    private func writeTask(_ dir: URL, name: String, d: Int, classes: Int, seed: UInt64, rows: Int = 300) throws -> URL {
        let folder = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let (train, trainLabels) = clusteredTask(rows: rows, d: d, classes: classes, seed: seed, task: seed)
        let (test, testLabels) = clusteredTask(rows: rows / 2, d: d, classes: classes, seed: seed &+ 50, task: seed)
        try NPY.write(train, to: folder.appendingPathComponent("train.npy").path)
        try NPY.write(labels: trainLabels, to: folder.appendingPathComponent("train_labels.npy").path)
        try NPY.write(test, to: folder.appendingPathComponent("test.npy").path)
        try NPY.write(labels: testLabels, to: folder.appendingPathComponent("test_labels.npy").path)
        return folder
    }

    @Test func probeReportsBothClassifiers() throws {
        try withWorkDirectory { dir in
            _ = try writeTask(dir, name: "task", d: 12, classes: 4, seed: 21)
            let r = try runB4B(["probe", "--train", "task/train.npy", "--train-labels", "task/train_labels.npy",
                                "--test", "task/test.npy", "--test-labels", "task/test_labels.npy", "--output-dir", "out"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let out = dir.appendingPathComponent("out")
            let lines = try text(out, "probe.csv").split(separator: "\n")
            #expect(lines.first == "classifier,train_rows,test_rows,features,classes,train_accuracy,test_accuracy,iterations,converged,seconds")
            #expect(lines.count == 3)
            let results = try #require(try json(out, "probe.json") as? [[String: Any]])
            #expect(results.map { $0["classifier"] as? String } == ["logistic", "ridge"])
            for result in results {
                // Well-separated clusters: both probes are far above chance (0.25).
                #expect((result["testAccuracy"] as? Double ?? 0) > 0.9, "\(result)")
            }
            #expect(results[0]["converged"] as? Bool == true)
        }
    }

    @Test func probeRefusesMismatchedInputs() throws {
        try withWorkDirectory { dir in
            _ = try writeTask(dir, name: "a", d: 12, classes: 3, seed: 1)
            _ = try writeTask(dir, name: "b", d: 10, classes: 3, seed: 2, rows: 200)
            try NPY.write(labels: [0, 0, 0, 0], to: dir.appendingPathComponent("one_class.npy").path)
            try NPY.write(spreadRows(4, d: 12, seed: 3), to: dir.appendingPathComponent("four.npy").path)
            let cases: [([String], [String])] = [
                (["--train", "a/train.npy", "--train-labels", "a/train_labels.npy", "--test", "b/test.npy", "--test-labels", "b/test_labels.npy"],
                 ["dimensions differ", "--test 10"]),
                (["--train", "a/train.npy", "--train-labels", "b/train_labels.npy", "--test", "a/test.npy", "--test-labels", "a/test_labels.npy"],
                 ["--train-labels"]),
                (["--train", "four.npy", "--train-labels", "one_class.npy", "--test", "a/test.npy", "--test-labels", "a/test_labels.npy"],
                 ["class"]),
                (["--train", "a/train.npy", "--train-labels", "a/train_labels.npy", "--test", "a/test.npy", "--test-labels", "a/test_labels.npy", "--C", "0"],
                 ["--C"]),
            ]
            for (arguments, keywords) in cases {
                let r = try runB4B(["probe", "--output-dir", "out"] + arguments, in: dir)
                #expect(!r.succeeded, "\(arguments)")
                for k in keywords { #expect(r.standardError.contains(k), "'\(r.standardError)' lacks '\(k)'") }
            }
        }
    }

    @Test func coverageWritesCurvesAndAblation() throws {
        try withWorkDirectory { dir in
            let (task, _) = clusteredTask(rows: 400, d: 16, classes: 2, seed: 31)
            try NPY.write(task, to: dir.appendingPathComponent("task.npy").path)
            try NPY.write(spreadRows(800, d: 16, seed: 32), to: dir.appendingPathComponent("pool.npy").path)
            let r = try runB4B(["coverage", "--data", "pool=pool.npy", "--data", "task=task.npy", "--output-dir", "out",
                                "--hash-bits", "8", "--repetitions", "3", "--ablation", "6,10", "--counts", "50,200,800"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let out = dir.appendingPathComponent("out")
            let lines = try text(out, "coverage.csv").split(separator: "\n")
            #expect(lines.first == "dataset,hasher,hash_bits,tables,repetitions,queries,mean,std")
            // 3 hashers x 2 datasets x 3 counts (800 capped to 400 for the task) + 2 ablation k x 2 datasets x 3 counts.
            #expect(lines.count == 1 + 18 + 12)
            let report = try #require(try json(out, "coverage.json") as? [String: Any])
            let curves = try #require(report["curves"] as? [[String: Any]])
            func final(_ name: String, _ hasher: String) -> Double? {
                (curves.first { $0["name"] as? String == name && $0["hasher"] as? String == hasher }?["mean"] as? [Double])?.last
            }
            // The broad pool covers more buckets than the two-cluster task with every hasher.
            for hasher in ["origin", "centred", "principal"] {
                let (p, t) = (try #require(final("pool", hasher)), try #require(final("task", hasher)))
                #expect(p > t, "\(hasher): pool \(p) vs task \(t)")
            }
            for name in ["coverage-origin.svg", "coverage-centred.svg", "coverage-principal.svg", "coverage-ablation.svg"] {
                #expect(try text(out, name).contains("</svg>"), "\(name)")
            }
        }
    }

    @Test func coverageWithSignHyperplanes() throws {
        try withWorkDirectory { dir in
            let (task, _) = clusteredTask(rows: 300, d: 16, classes: 2, seed: 33)
            try NPY.write(task, to: dir.appendingPathComponent("task.npy").path)
            try NPY.write(spreadRows(600, d: 16, seed: 34), to: dir.appendingPathComponent("pool.npy").path)
            let r = try runB4B(["coverage", "--data", "pool=pool.npy", "--data", "task=task.npy", "--output-dir", "out",
                                "--hashers", "signs-origin,signs-centred", "--hash-bits", "8", "--repetitions", "3",
                                "--ablation", "6", "--counts", "50,300"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            // The generic-kernels warning on standard error exactly when OpenBLAS runs its
            // generic kernels here (the child has this process's environment).
            #expect(r.standardError.contains("OPENBLAS_CORETYPE=") == BLASLibrary.runsGenericKernels, "\(r.standardError)")
            let out = dir.appendingPathComponent("out")
            let report = try #require(try json(out, "coverage.json") as? [String: Any])
            let curves = try #require(report["curves"] as? [[String: Any]])
            #expect(Set(curves.compactMap { $0["hasher"] as? String }) == ["signs-origin", "signs-centred"])
            for hasher in ["signs-origin", "signs-centred"] {
                let final = { (name: String) in
                    (curves.first { $0["name"] as? String == name && $0["hasher"] as? String == hasher }?["mean"] as? [Double])?.last
                }
                let (p, t) = (try #require(final("pool")), try #require(final("task")))
                #expect(p > t, "\(hasher): pool \(p) vs task \(t)")
                #expect(try text(out, "coverage-\(hasher).svg").contains("</svg>"))
            }
        }
    }

    @Test func coverageRefusesBadOptions() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(30, d: 8, seed: 1), to: dir.appendingPathComponent("a.npy").path)
            try NPY.write(spreadRows(30, d: 9, seed: 1), to: dir.appendingPathComponent("b.npy").path)
            let cases: [([String], [String])] = [
                (["--data", "a.npy"], ["--data"]),
                (["--data", "a=a.npy", "--hashers", "origin,lsh"], ["unknown hasher 'lsh'"]),
                (["--data", "a=a.npy", "--data", "b=b.npy"], ["--data b has 9 columns"]),
                (["--data", "a=a.npy", "--hash-bits", "30"], ["--hash-bits"]),
                (["--data", "a=a.npy", "--repetitions", "0"], ["--repetitions"]),
                (["--data", "a=missing.npy"], ["missing.npy", "not found"]),
            ]
            for (arguments, keywords) in cases {
                let r = try runB4B(["coverage", "--output-dir", "out"] + arguments, in: dir)
                #expect(!r.succeeded, "\(arguments)")
                for k in keywords { #expect(r.standardError.contains(k), "'\(r.standardError)' lacks '\(k)'") }
            }
        }
    }

    @Test func calibrateProposesAUsableConfiguration() throws {
        try withWorkDirectory { dir in
            let d = 16
            _ = try writeTask(dir, name: "task", d: d, classes: 4, seed: 41, rows: 400)
            try NPY.write(spreadRows(3000, d: d, seed: 42), to: dir.appendingPathComponent("pool.npy").path)
            let r = try runB4B(["calibrate", "--pool", "pool.npy", "--task", "task=task", "--output-dir", "out",
                                "--hash-bits", "8", "--repetitions", "2", "--classifier", "ridge",
                                "--sigmas", "0,0.1,0.5,1,2,5,10,20,50,100,200"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let out = dir.appendingPathComponent("out")
            let report = try #require(try json(out, "calibration.json") as? [String: Any])
            let proposal = try #require(report["proposal"] as? [String: Any])
            let (lambda, alpha, beta) = (proposal["lambda"] as? Double ?? -1, proposal["alpha"] as? Double ?? -1, proposal["beta"] as? Double ?? -1)
            let legitimate = proposal["legitimateCoverage"] as? Double ?? 2
            #expect(0 < lambda && lambda < alpha)
            #expect(legitimate < beta && beta <= 1)
            // The written configuration is accepted by the engine: protect runs with it.
            try NPY.write(spreadRows(20, d: d, seed: 43), to: dir.appendingPathComponent("q.npy").path)
            let p = try runB4B(["protect", "--input", "q.npy", "--user", "u", "--output-dir", "p", "--config", "out/defense.json"], in: dir)
            #expect(p.succeeded, "\(p.standardError)")
            let configuration = try #require(try json(out, "defense.json") as? [String: Any])
            #expect(configuration["units"] as? String == "calibrationSpread")
            for name in ["noise-sweep.csv", "cost-curve.csv", "coverage.csv"] {
                #expect(try text(out, name).split(separator: "\n").count > 2, "\(name)")
            }
            for name in ["noise-sweep.svg", "cost-curve.svg", "coverage.svg"] {
                #expect(try text(out, name).contains("</svg>"), "\(name)")
            }
            #expect(configuration["relativeCost"] == nil)
            // With --relative the configuration also carries the relative price, calibrated on the
            // task's coverage relative to the pool's (a task covers slower than the pool: below 1).
            let relative = try runB4B(["calibrate", "--pool", "pool.npy", "--task", "task=task", "--output-dir", "rel",
                                       "--hash-bits", "8", "--repetitions", "2", "--classifier", "ridge", "--relative",
                                       "--sigmas", "0,0.1,0.5,1,2,5,10,20,50,100,200"], in: dir)
            #expect(relative.succeeded, "\(relative.standardError)")
            let rel = dir.appendingPathComponent("rel")
            let price = try #require(try json(rel, "defense.json") as? [String: Any])["relativeCost"] as? [String: Any]
            #expect(price?["minimumQueries"] as? Int == 500)
            let calibrated = try #require(try json(rel, "calibration.json") as? [String: Any])["relative"] as? [String: Any]
            let level = calibrated?["legitimateRelativeCoverage"] as? Double ?? 2
            #expect(level > 0 && level < 1, "legitimate relative coverage \(level)")
        }
    }

    @Test func calibrateExplainsWhyItCannotPropose() throws {
        try withWorkDirectory { dir in
            _ = try writeTask(dir, name: "task", d: 16, classes: 4, seed: 51)
            try NPY.write(spreadRows(500, d: 16, seed: 52), to: dir.appendingPathComponent("pool.npy").path)
            // The sweep stops long before the probe reaches chance.
            let r = try runB4B(["calibrate", "--pool", "pool.npy", "--task", "task=task", "--output-dir", "out",
                                "--hash-bits", "8", "--repetitions", "1", "--classifier", "ridge", "--sigmas", "0,0.01"], in: dir)
            #expect(!r.succeeded)
            #expect(r.standardError.contains("cannot calibrate"), "\(r.standardError)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/defense.json").path))
            let noZero = try runB4B(["calibrate", "--pool", "pool.npy", "--task", "task=task", "--output-dir", "out", "--sigmas", "1,2"], in: dir)
            #expect(!noZero.succeeded && noZero.standardError.contains("include 0"))
            let unknown = try runB4B(["calibrate", "--pool", "pool.npy", "--task", "task=task", "--output-dir", "out", "--probe-task", "other"], in: dir)
            #expect(!unknown.succeeded && unknown.standardError.contains("--probe-task"))
        }
    }

    @Test("calibrate's help lists exactly the hashers --hasher accepts")
    func calibrateHelpListsItsHashers() throws {
        try withWorkDirectory { dir in
            let help = try runB4B(["help", "calibrate"], in: dir)
            #expect(help.succeeded)
            // The parser wraps the list: compare it with the line breaks taken out.
            let text = help.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains("(values: origin, centred, signs-origin, signs-centred, principal; default: principal)"), "\(text)")
            #expect(!text.contains("fitted"), "\(text)")
            let fitted = try runB4B(["calibrate", "--pool", "pool.npy", "--task", "task=task", "--output-dir", "out", "--hasher", "fitted"], in: dir)
            #expect(!fitted.succeeded && fitted.standardError.contains("--hasher"), "\(fitted.standardError)")
        }
    }
}
