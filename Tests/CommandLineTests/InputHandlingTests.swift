import Evaluation
import Foundation
import NumericKernels
import Testing

/// Bad input to the subcommands: refused before any work with a message naming the option or
/// file, leaving every destination (--state, --secret, --output-dir) exactly as it was.
@Suite("b4b input handling")
struct InputHandlingTests {
    private func exists(_ dir: URL, _ path: String) -> Bool {
        FileManager.default.fileExists(atPath: dir.appendingPathComponent(path).path)
    }

    private func mode(_ dir: URL, _ path: String) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(path).path)[.posixPermissions] as? Int
    }

    private func write(_ text: String, _ dir: URL, _ name: String) throws {
        try Data(text.utf8).write(to: dir.appendingPathComponent(name))
    }

    /// Expects `arguments` to fail without a trap, with every keyword in its error output.
    @discardableResult
    private func expectRefusal(_ arguments: [String], in dir: URL, _ keywords: [String],
                               sourceLocation: SourceLocation = #_sourceLocation) throws -> CommandResult {
        let r = try runB4B(arguments, in: dir)
        #expect(r.status == 1 || r.status == 64, "\(arguments): status \(r.status) \(r.standardError)", sourceLocation: sourceLocation)
        for keyword in keywords {
            #expect(r.standardError.contains(keyword), "\(arguments): '\(r.standardError)' lacks '\(keyword)'",
                    sourceLocation: sourceLocation)
        }
        return r
    }

    private func writeTask(_ dir: URL, labels: [Int]? = nil) throws -> [String] {
        let (x, y) = clusteredTask(rows: 60, d: 8, classes: 3, seed: 1)
        let (xt, yt) = clusteredTask(rows: 30, d: 8, classes: 3, seed: 2)
        try NPY.write(x, to: dir.appendingPathComponent("train.npy").path)
        try NPY.write(labels: labels ?? y, to: dir.appendingPathComponent("train_labels.npy").path)
        try NPY.write(xt, to: dir.appendingPathComponent("test.npy").path)
        try NPY.write(labels: yt, to: dir.appendingPathComponent("test_labels.npy").path)
        return ["--train", "train.npy", "--train-labels", "train_labels.npy", "--test", "test.npy", "--test-labels", "test_labels.npy"]
    }

    @Test("a task whose training labels hold one class is named by the task and its file")
    func aOneClassTaskIsNamed() throws {
        try withWorkDirectory { dir in
            _ = try writeTask(dir, labels: [Int](repeating: 2, count: 60))
            try NPY.write(spreadRows(100, d: 8, seed: 3), to: dir.appendingPathComponent("p.npy").path)
            try expectRefusal(["calibrate", "--pool", "p.npy", "--task", "w=.", "--output-dir", "out"], in: dir,
                              ["--task w: './train_labels.npy' holds one class only (every label is 2)"])
            #expect(!exists(dir, "out"))
        }
    }

    @Test func probeRefusesHugeLabelsWithoutTrapping() throws {
        try withWorkDirectory { dir in
            for huge in [Int.max, 1_000_000_000_000] {
                let (_, y) = clusteredTask(rows: 60, d: 8, classes: 3, seed: 1)
                let task = try writeTask(dir, labels: [huge] + y.dropFirst())
                try expectRefusal(["probe", "--output-dir", "out"] + task, in: dir, ["--train-labels", "train_labels.npy", "\(huge)"])
            }
            #expect(!exists(dir, "out"))
        }
    }

    @Test func calibrateRefusesSigmasBeyondTheSweepRange() throws {
        try withWorkDirectory { dir in
            for sigmas in ["0,1,2e13", "0,1e40", "0,,1", "0,1,1"] {
                try expectRefusal(["calibrate", "--pool", "p.npy", "--task", "w=w", "--output-dir", "out", "--sigmas", sigmas], in: dir, ["--sigmas"])
            }
        }
    }

    /// A budget beyond the pool's rows (the most queries its coverage curve reaches) is refused
    /// by name as soon as the pool is read, before the tasks and the sweep.
    @Test func calibrateRefusesABudgetBeyondThePool() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(20, d: 8, seed: 3), to: dir.appendingPathComponent("p.npy").path)
            try expectRefusal(["calibrate", "--pool", "p.npy", "--task", "w=missing", "--output-dir", "out", "--budget", "21"], in: dir,
                              ["--budget 21 is beyond --pool 'p.npy', whose 20 rows"])
            #expect(!exists(dir, "out"))
        }
    }

    @Test func listsAndRepeatedOptionsAreRefused() throws {
        try withWorkDirectory { dir in
            let cases: [([String], [String])] = [
                (["coverage", "--data", "a.npy", "--output-dir", "o"], ["--data takes a name, '=', then a path", "got 'a.npy'"]),
                (["coverage", "--data", "=a.npy", "--output-dir", "o"], ["--data takes a name, '=', then a path", "got '=a.npy'"]),
                (["calibrate", "--pool", "p.npy", "--task", "w", "--output-dir", "o"], ["--task takes a name, '=', then a path", "got 'w'"]),
                // The required lists are required by the parser, and shown so in the usage line.
                (["coverage", "--output-dir", "o"], ["Missing expected argument '--data <name=npy> ...'", "Usage: b4b coverage --output-dir <dir> --data"]),
                (["calibrate", "--pool", "p.npy", "--output-dir", "o"], ["Missing expected argument '--task <name=dir> ...'", "--pool <npy> --task <name=dir>"]),
                (["coverage", "--data", "a=a.npy", "--output-dir", "o", "--hashers", ","], ["--hashers", "empty"]),
                (["coverage", "--data", "a=a.npy", "--output-dir", "o", "--hashers", "origin,origin"], ["--hashers", "'origin' more than once"]),
                (["coverage", "--data", "a=a.npy", "--output-dir", "o", "--counts", "-5"], ["--counts", "positive"]),
                (["calibrate", "--pool", "p.npy", "--task", "w=w", "--task", "w=w", "--output-dir", "o"], ["--task", "'w'"]),
                (["calibrate", "--pool", "p.npy", "--task", "w=w", "--output-dir", "o", "--tolerance", "0"], ["--tolerance"]),
                (["calibrate", "--pool", "p.npy", "--task", "w=w", "--output-dir", "o", "--relative-minimum-queries", "5"],
                 ["--relative-minimum-queries", "--relative"]),
                (["protect", "--input", "x.npy", "--user", "alice", "--user", "bob", "--output-dir", "o"], ["--user", "more than once"]),
                (["protect", "--input", "x.npy", "--user", "a", "--batch", "10", "--batch=20", "--output-dir", "o"], ["--batch", "more than once"]),
                (["protect", "--input", "x.npy", "--user", "a", "--batch", "-1", "--output-dir", "o"], ["--batch must be at least 1"]),
                (["demo", "--dimension", "16", "--dimension", "32"], ["--dimension", "more than once"]),
                // A mistyped subcommand is named, not taken for demo's (the default's) argument.
                (["protec", "--input", "x.npy"], ["unknown subcommand 'protec'", "demo, protect, remap"]),
                (["keys", "add", "--store", "sqlite:k.sqlite", "--store", "sqlite:other.sqlite"], ["--store", "more than once"]),
                (["keys", "add", "--store", "sqlite:k.sqlite", "--name", "a", "--name=b"], ["--name", "more than once"]),
                (["keys", "list", "--store", "sqlite:k.sqlite", "--json", "--json"], ["--json", "more than once"]),
                (["serve", "--port", "0", "--port", "0"], ["--port", "more than once"]),
                // The value given is repeated as given (it was read as a float: 1e308 came back as inf).
                (["probe", "--train", "t", "--train-labels", "t", "--test", "t", "--test-labels", "t", "--output-dir", "o", "--lambda", "1e308"],
                 ["--lambda must be a positive number within float32's range", "got 1e+308"]),
                (["probe", "--train", "t", "--train-labels", "t", "--test", "t", "--test-labels", "t", "--output-dir", "o", "--lambda", "1e-50"],
                 ["got 1e-50"]),
                (["demo", "--cluster-spread", "1e39"], ["--cluster-spread", "got 1e+39"]),
                (["probe", "--train", "t", "--train-labels", "t", "--test", "t", "--test-labels", "t", "--output-dir", "o", "--lambda", "0"],
                 ["--lambda", "positive"]),
                (["remap", "--train", "t", "--train-labels", "t", "--test", "t", "--test-labels", "t", "--queries", "q", "--output-dir", "o",
                  "--scenarios", "affine,affine"], ["--scenarios", "'affine' more than once"]),
                (["reproduce", "--data", "d", "--output-dir", "o", "--accounts", "1"], ["--accounts", "at least 2"]),
                // Accepted once, then failing after the work (or converging nowhere).
                (["remap", "--train", "t", "--train-labels", "t", "--test", "t", "--test-labels", "t", "--queries", "q", "--output-dir", "o",
                  "--fit", "ridge=0"], ["--fit", "LAMBDA in 1e-8...1e8"]),
                (["probe", "--train", "t", "--train-labels", "t", "--test", "t", "--test-labels", "t", "--output-dir", "o", "--C", "1e-320"],
                 ["--C must be in 1e-8...1e8"]),
                (["calibrate", "--pool", "p.npy", "--task", "w=w", "--output-dir", "o", "--tolerance", "1e-20"], ["--tolerance must be in [1e-06, 1)"]),
            ]
            for (arguments, keywords) in cases { try expectRefusal(arguments, in: dir, keywords) }
            // The refused `keys` commands created no store.
            #expect(!exists(dir, "k.sqlite") && !exists(dir, "other.sqlite"))
        }
    }

    @Test("remap counts account 1's answers to the training set: a long training set with wide answers is refused, not run")
    func remapAnswersBeyondMemoryAreRefused() throws {
        try withWorkDirectory { dir in
            // Binary answers of 10000 bits: the mapper's square system takes 1.2 GB, but the
            // answers to a training set of `rows` rows take more than the 80 % of this machine's
            // memory that any run may hold (the rows sized from its memory, two columns each).
            let bits = 10_000
            let rows = Int(0.8 * Double(ProcessInfo.processInfo.physicalMemory) / Double(4 * bits)) + 1000
            let long = Matrix(rows: rows, columns: 2) { i, j in Float((i * 7 + j * 3) % 13) - 6 }
            try NPY.write(long, to: dir.appendingPathComponent("long.npy").path)
            try NPY.write(labels: (0..<rows).map { $0 % 2 }, to: dir.appendingPathComponent("long-labels.npy").path)
            let small = Matrix(rows: 4, columns: 2) { i, j in Float(i - j) }
            try NPY.write(small, to: dir.appendingPathComponent("small.npy").path)
            try NPY.write(labels: [0, 1, 0, 1], to: dir.appendingPathComponent("small-labels.npy").path)
            try expectRefusal(["remap", "--train", "long.npy", "--train-labels", "long-labels.npy", "--test", "small.npy",
                               "--test-labels", "small-labels.npy", "--queries", "small.npy", "--scenarios", "binary",
                               "--binary-dimension", "\(bits)", "--counts", "2", "--output-dir", "o"], in: dir,
                              ["remapping answers of --train 'long.npy' (\(rows) rows, 2 columns; answers up to \(bits) columns)",
                               "more than this machine's"])
            #expect(!exists(dir, "o"))
        }
    }

    @Test("square systems beyond this machine's memory are refused with the option that sets their size, not a crash")
    func squareSystemsBeyondMemoryAreRefused() throws {
        try withWorkDirectory { dir in
            // 200000 columns: a d x d system of floats would take 480 GB (three of them).
            let wide = Matrix(rows: 4, columns: 200_000) { i, j in Float((i * 7 + j) % 13) - 6 }
            try NPY.write(wide, to: dir.appendingPathComponent("wide.npy").path)
            try NPY.write(labels: [0, 1, 0, 1], to: dir.appendingPathComponent("labels.npy").path)
            let task = ["--train", "wide.npy", "--train-labels", "labels.npy", "--test", "wide.npy", "--test-labels", "labels.npy"]
            try expectRefusal(["probe"] + task + ["--classifier", "ridge", "--output-dir", "o"], in: dir,
                              ["the ridge classifier on --train 'wide.npy' (200000 features)", "more than this machine's"])
            try expectRefusal(["coverage", "--data", "w=wide.npy", "--hashers", "principal", "--ablation", "none", "--output-dir", "o"], in: dir,
                              ["the principal hasher on --data w (200000 columns)", "more than this machine's"])
            try expectRefusal(["calibrate", "--pool", "wide.npy", "--task", "w=w", "--output-dir", "o"], in: dir,
                              ["the principal hasher on --pool 'wide.npy' (200000 columns)"])
            try expectRefusal(["remap", "--queries", "wide.npy", "--output-dir", "o"] + task, in: dir,
                              ["remapping answers of --train 'wide.npy' (4 rows, 200000 columns"])
            #expect(!exists(dir, "o"))
            // A matrix without columns is named as such.
            try NPY.write(Matrix(rows: 3, columns: 0), to: dir.appendingPathComponent("empty.npy").path)
            try expectRefusal(["coverage", "--data", "e=empty.npy", "--output-dir", "o"], in: dir, ["--data e: 'empty.npy' has no columns"])
            // protect names its input, not the configuration that takes the input's dimension.
            let noColumns = try expectRefusal(["protect", "--input", "empty.npy", "--user", "u", "--output-dir", "o"], in: dir,
                                              ["--input 'empty.npy' has 0 columns"])
            #expect(!noColumns.standardError.contains("configuration"), "\(noColumns.standardError)")
        }
    }

    @Test("protect refuses values its transforms could overflow, naming the row and column, and writes nothing")
    func protectRefusesValuesBeyondTheDefensesRange() throws {
        try withWorkDirectory { dir in
            let rows = Matrix(rows: 6, columns: 8) { i, j in i == 3 && j == 2 ? 1e38 : Float(i + j) * 0.1 }
            try NPY.write(rows, to: dir.appendingPathComponent("x.npy").path)
            try expectRefusal(["protect", "--input", "x.npy", "--user", "u", "--output-dir", "out", "--state", "st.json", "--secret", "s.bin"],
                              in: dir, ["--input 'x.npy' has 1e+38 at row 3, column 2", "at most"])
            #expect(!exists(dir, "out") && !exists(dir, "st.json") && !exists(dir, "s.bin"))
        }
    }

    @Test("a state file with an account given twice, a number that does not fit its field or a key it does not know is refused as such and kept")
    func protectRefusesAmbiguousOrMistypedStates() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(20, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            let base = ["protect", "--input", "x.npy", "--user", "a", "--secret", "s.bin", "--output-dir"]
            #expect(try runB4B(base + ["out", "--state", "st.json"], in: dir).succeeded)
            let stored = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("st.json"))) as? [String: Any])
            let snapshot = String(decoding: try JSONSerialization.data(withJSONObject: try #require(stored["a"]), options: [.sortedKeys]), as: UTF8.self)
            try write("{\"a\": \(snapshot), \"a\": \(snapshot)}", dir, "dup.json")
            let fractional = snapshot.replacingOccurrences(of: "\"queryCount\":20", with: "\"queryCount\":20.5")
            try #require(fractional != snapshot, "\(snapshot)")
            try write(fractional.wrappedAsState(), dir, "frac.json")
            let misspelt = snapshot.replacingOccurrences(of: "\"queryCount\"", with: "\"querycount\"")
            try #require(misspelt != snapshot, "\(snapshot)")
            try write(misspelt.wrappedAsState(), dir, "misspelt.json")
            for (file, expected) in [("dup.json", "'a' is given more than once"), ("frac.json", "a number does not fit its field"),
                                     ("misspelt.json", "unknown key 'querycount'")] {
                let before = try Data(contentsOf: dir.appendingPathComponent(file))
                try expectRefusal(base + ["out2", "--state", file], in: dir, ["--state '\(file)': not a valid occupancy state file", expected])
                #expect(try Data(contentsOf: dir.appendingPathComponent(file)) == before)
            }
            #expect(!exists(dir, "out2"))
        }
    }

    @Test func protectRefusesCostsThatWouldAnswerNaN() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(50, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            try write(#"{"cost":{"exponential":{"lambda":1e-300,"alpha":1e10}}}"#, dir, "c.json")
            try expectRefusal(["protect", "--input", "x.npy", "--user", "u", "--output-dir", "out", "--config", "c.json",
                               "--state", "st.json", "--secret", "s.bin"], in: dir, ["c.json", "cost.alpha"])
            #expect(!exists(dir, "out") && !exists(dir, "st.json") && !exists(dir, "s.bin"))
        }
    }

    @Test func protectKeepsTheStateFilesModeAndRefusesAReadOnlyOne() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(50, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            let run = ["protect", "--input", "x.npy", "--user", "u", "--output-dir", "out", "--secret", "s.bin", "--state", "st.json"]
            #expect(try runB4B(run, in: dir).succeeded)
            let state = dir.appendingPathComponent("st.json").path
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: state)
            let second = try runB4B(run, in: dir)
            #expect(second.succeeded, "\(second.standardError)")
            #expect(try mode(dir, "st.json") == 0o600)
            try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: state)
            let before = try Data(contentsOf: URL(fileURLWithPath: state))
            let protectedBefore = try Data(contentsOf: dir.appendingPathComponent("out/protected.npy"))
            try expectRefusal(run, in: dir, ["--state 'st.json' is not writable"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: state)) == before)
            #expect(try Data(contentsOf: dir.appendingPathComponent("out/protected.npy")) == protectedBefore)
        }
    }

    @Test func unwritableDestinationsAreFoundBeforeAnythingIsWritten() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(50, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            let base = ["protect", "--input", "x.npy", "--user", "u"]
            #expect(try runB4B(base + ["--output-dir", "out", "--secret", "s.bin"], in: dir).succeeded)
            let out = dir.appendingPathComponent("out")
            func snapshot() throws -> [Data] {
                try ["protected.npy", "protect.csv", "protect.json"].map { try Data(contentsOf: out.appendingPathComponent($0)) }
            }
            let before = try snapshot()
            try expectRefusal(base + ["--output-dir", "out", "--secret", "s.bin", "--state", "nodir/st.json"], in: dir, ["--state", "nodir"])
            try expectRefusal(base + ["--output-dir", "out", "--secret", "s.bin", "--state", ""], in: dir, ["--state must not be empty"])
            try expectRefusal(base + ["--output-dir", "out", "--secret", "s.bin", "--state", "out"], in: dir, ["--state 'out' is a directory"])
            try expectRefusal(base + ["--output-dir", "out", "--secret", "out"], in: dir, ["--secret 'out' is a directory"])
            try expectRefusal(base + ["--output-dir", "out", "--config", "/dev/null"], in: dir, ["--config '/dev/null' is not a regular file"])
            try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("loop.json").path, withDestinationPath: "loop.json")
            try expectRefusal(base + ["--output-dir", "out", "--secret", "s.bin", "--state", "loop.json"], in: dir,
                              ["--state 'loop.json' is a loop of symbolic links"])
            #expect(try snapshot() == before)

            // A '..' after a directory that does not exist: refused, rather than creating that
            // directory only to pass through it and leaving it behind.
            try expectRefusal(base + ["--output-dir", "sub dir/../out3", "--secret", "s.bin"], in: dir,
                              ["cannot create --output-dir 'sub dir/../out3': it goes through 'sub dir', which does not exist"])
            #expect(!exists(dir, "sub dir") && !exists(dir, "out3"))
            // Through a directory that exists, '..' is fine.
            #expect(try runB4B(base + ["--output-dir", "out/../out3", "--secret", "s.bin"], in: dir).succeeded)
            #expect(exists(dir, "out3/protected.npy"))

            // A directory in the place of one result: nothing of the set is replaced.
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("out2/protect.json"), withIntermediateDirectories: true)
            try expectRefusal(base + ["--output-dir", "out2"], in: dir, ["out2/protect.json", "is a directory"])
            #expect(!exists(dir, "out2/protected.npy") && !exists(dir, "out2/protect.csv"))

            // reproduce checks every one of its results before reading its data, figures included.
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("out4/sybils-drop-in.svg"), withIntermediateDirectories: true)
            try expectRefusal(["reproduce", "--data", "missing-data", "--output-dir", "out4"], in: dir,
                              ["out4/sybils-drop-in.svg' is a directory"])

            // An output directory that cannot be created, in every subcommand, before any work.
            try write("", dir, "f")
            for arguments in [base,
                              ["coverage", "--data", "a=x.npy"],
                              ["calibrate", "--pool", "x.npy", "--task", "w=w"],
                              ["reproduce", "--data", "d"],
                              ["remap", "--train", "t", "--train-labels", "t", "--test", "t", "--test-labels", "t", "--queries", "x.npy"],
                              ["probe", "--train", "t", "--train-labels", "t", "--test", "t", "--test-labels", "t"]] {
                let r = try expectRefusal(arguments + ["--output-dir", "f/x"], in: dir, ["--output-dir 'f/x'", "not a directory"])
                #expect(!r.standardError.contains("Usage"), "\(r.standardError)")
            }
        }
    }

    @Test func aFailedProtectCreatesNeitherSecretNorOutputDirectory() throws {
        try withWorkDirectory { dir in
            var x = spreadRows(50, d: 8, seed: 1)
            x[40, 5] = .infinity
            try NPY.write(x, to: dir.appendingPathComponent("inf.npy").path)
            try NPY.write(labels: [1, 2, 3], to: dir.appendingPathComponent("ints.npy").path)
            try write("not json", dir, "corrupt.json")
            try NPY.write(Matrix(rows: 0, columns: 8), to: dir.appendingPathComponent("empty.npy").path)
            let cases: [([String], [String])] = [
                (["--input", "inf.npy", "--batch", "16"], ["row 40, column 5", "infinite"]),
                (["--input", "inf.npy", "--state", "corrupt.json"], ["corrupt.json"]),
                (["--input", "ints.npy"], ["--input", "ints.npy"]),
                (["--input", "empty.npy"], ["--input 'empty.npy' has no rows"]),
            ]
            for (options, keywords) in cases {
                let r = try expectRefusal(["protect", "--user", "u", "--output-dir", "new/out", "--secret", "s.bin"] + options, in: dir, keywords)
                #expect(!r.standardError.contains("nonFinite:") && !r.standardError.contains("created a new server secret"))
                #expect(!exists(dir, "s.bin") && !exists(dir, "new"), "\(options)")
            }
        }
    }

    @Test func batchFollowsTheConfigurationsLimit() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(50, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            try write(#"{"maxBatchRows":10}"#, dir, "c.json")
            let base = ["protect", "--input", "x.npy", "--user", "u", "--output-dir", "out", "--config", "c.json"]
            try expectRefusal(base + ["--batch", "20"], in: dir, ["--batch 20", "maxBatchRows 10"])
            let r = try runB4B(base, in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            #expect(try text(dir.appendingPathComponent("out"), "protect.csv").split(separator: "\n").count == 1 + 5)
        }
    }

    @Test func aStateOfAnotherConfigurationNamesTheField() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(50, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            try write(#"{"hashBits":10}"#, dir, "ten.json")
            let base = ["protect", "--input", "x.npy", "--user", "u", "--output-dir", "out", "--secret", "s.bin", "--state", "st.json"]
            #expect(try runB4B(base + ["--config", "ten.json"], in: dir).succeeded)
            try expectRefusal(base, in: dir, ["hashBits 10", "hashBits 12"])
        }
    }

    /// An input of the wrong dtype or width is named as the input's fault, not blamed on the
    /// state recorded by an earlier run (which the configuration's dimension, taken from the
    /// input, no longer fits), and the state is kept.
    @Test func aBadInputIsNamedBeforeTheStateIsBlamed() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(50, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            try NPY.write(spreadRows(50, d: 12, seed: 2), to: dir.appendingPathComponent("wide.npy").path)
            // A 2-D array of 32-bit integers: the float32 file with '<i4' in its header.
            var ints = try Data(contentsOf: dir.appendingPathComponent("x.npy"))
            let descr = try #require(ints.range(of: Data("'<f4'".utf8)))
            ints.replaceSubrange(descr, with: Data("'<i4'".utf8))
            try ints.write(to: dir.appendingPathComponent("ints.npy"))
            let base = ["--user", "u", "--output-dir", "out", "--secret", "s.bin", "--state", "st.json"]
            #expect(try runB4B(["protect", "--input", "x.npy"] + base, in: dir).succeeded)
            let state = try Data(contentsOf: dir.appendingPathComponent("st.json"))
            try expectRefusal(["protect", "--input", "ints.npy"] + base, in: dir,
                              ["--input 'ints.npy' has dtype '<i4'", "float32 or float64"])
            try expectRefusal(["protect", "--input", "wide.npy"] + base, in: dir,
                              ["dimension 12, the columns of --input", "different hasher"])
            #expect(try Data(contentsOf: dir.appendingPathComponent("st.json")) == state)
        }
    }

    @Test(arguments: ["a\nb", "tab\there", "esc\u{1B}[2J", "isolate\u{2066}x\u{2069}"])
    func protectRefusesUsersWithControlCharacters(_ user: String) throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(10, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            try expectRefusal(["protect", "--input", "x.npy", "--user", user, "--output-dir", "out", "--state", "st.json"], in: dir,
                              ["--user must not contain control, line-separator or bidirectional-control characters"])
            #expect(!exists(dir, "out") && !exists(dir, "st.json"))
        }
    }

    /// Format characters that names in many scripts need (the zero-width non-joiner, a soft
    /// hyphen) are accepted in a user id.
    @Test func protectAcceptsUsersWithJoinersAndSoftHyphens() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(10, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            let r = try runB4B(["protect", "--input", "x.npy", "--user", "mi\u{200C}xed\u{00AD}name", "--output-dir", "out"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
        }
    }

    @Test func nonFiniteInputsAreNamedByOptionAndFile() throws {
        try withWorkDirectory { dir in
            let task = try writeTask(dir)
            var pool = spreadRows(40, d: 8, seed: 3)
            pool[3, 1] = .nan
            try NPY.write(pool, to: dir.appendingPathComponent("pool.npy").path)
            try expectRefusal(["remap", "--output-dir", "o", "--queries", "pool.npy"] + task, in: dir, ["--queries", "pool.npy", "row 3, column 1"])
            try expectRefusal(["coverage", "--output-dir", "o", "--data", "a=train.npy", "--calibration", "pool.npy"], in: dir,
                              ["--calibration", "pool.npy", "row 3"])
            #expect(!exists(dir, "o"))
        }
    }

    @Test func calibrateHelpHasNoRunsOfSpaces() throws {
        try withWorkDirectory { dir in
            let r = try runB4B(["help", "calibrate"], in: dir)
            #expect(r.succeeded)
            // No run of spaces inside a line (the indentation before its first word aside).
            let discussion = r.standardOutput.components(separatedBy: "OPTIONS:")[0]
            for line in discussion.split(separator: "\n") {
                let words = line.drop { $0 == " " }
                #expect(!words.contains("   "), "'\(line)'")
            }
        }
    }

    @Test("demo: out-of-range options are refused before generating anything, negative values included")
    func demoOptions() throws {
        try withWorkDirectory { dir in
            try expectRefusal(["demo", "--queries", "-5"], in: dir, ["--queries must be in 1...10000000, got -5"])
            // Used to trap allocating the queries.
            try expectRefusal(["demo", "--queries", "99999999999"], in: dir, ["--queries must be in 1...10000000"])
            try expectRefusal(["demo", "--queries", "9000000"], in: dir, ["--queries 9000000 at --dimension 2048 needs about", "GiB"])
            // Used to say "would take 0 MiB per user".
            try expectRefusal(["demo", "--dimension", "100000000"], in: dir, ["--dimension must be in 2...8192"])
            try expectRefusal(["demo", "--batch", "500", "--queries", "100"], in: dir, ["--batch must be in 1...--queries (100), got 500"])
            let r = try runB4B(["demo", "--queries", "40", "--batch", "20", "--dimension", "16"], in: dir)
            #expect(r.status == 0, "\(r.standardError)")
            #expect(r.standardOutput.contains("80 protected representations"), "\(r.standardOutput)")
        }
    }

    @Test("protect writes through symbolic links (state, secret, results), keeps results' modes, and refuses one file in two parts")
    func linksModesAndSharedFiles() throws {
        try withWorkDirectory { dir in
            let files = FileManager.default
            try NPY.write(spreadRows(20, d: 8, seed: 1), to: dir.appendingPathComponent("x.npy").path)
            let base = ["protect", "--input", "x.npy", "--user", "u"]
            // A first run makes a secret, a state and results.
            var r = try runB4B(base + ["--secret", "real/s.bin", "--state", "real/st.json", "--output-dir", "out"],
                               in: { try files.createDirectory(at: dir.appendingPathComponent("real"), withIntermediateDirectories: false); return dir }())
            #expect(r.succeeded, "\(r.standardError)")
            let firstState = try Data(contentsOf: dir.appendingPathComponent("real/st.json"))
            // Links to them, one dangling (a new state file where it points).
            try files.createSymbolicLink(atPath: dir.appendingPathComponent("s-link").path, withDestinationPath: "real/s.bin")
            try files.createSymbolicLink(atPath: dir.appendingPathComponent("st-link").path, withDestinationPath: "real/st.json")
            try files.createSymbolicLink(atPath: dir.appendingPathComponent("new-link").path, withDestinationPath: "real/new.json")
            r = try runB4B(base + ["--secret", "s-link", "--state", "st-link", "--output-dir", "out"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            r = try runB4B(base + ["--secret", "s-link", "--state", "new-link", "--output-dir", "out"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            for link in ["s-link", "st-link", "new-link"] {
                #expect((try? files.destinationOfSymbolicLink(atPath: dir.appendingPathComponent(link).path)) != nil, "\(link) is no longer a link")
            }
            // The state behind the link was written (the user's count went up), and the dangling link's target made.
            #expect(try Data(contentsOf: dir.appendingPathComponent("real/st.json")) != firstState)
            #expect(exists(dir, "real/new.json"))
            // A result's permissions are kept; a read-only result is refused, nothing changed.
            try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir.appendingPathComponent("out/protect.csv").path)
            r = try runB4B(base + ["--secret", "s-link", "--output-dir", "out"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            #expect(try mode(dir, "out/protect.csv") == 0o600)
            try files.setAttributes([.posixPermissions: 0o444], ofItemAtPath: dir.appendingPathComponent("out/protect.json").path)
            let kept = try Data(contentsOf: dir.appendingPathComponent("out/protected.npy"))
            try expectRefusal(base + ["--secret", "s-link", "--output-dir", "out"], in: dir, ["out/protect.json' is not writable"])
            #expect(try Data(contentsOf: dir.appendingPathComponent("out/protected.npy")) == kept)
            // One file in two parts: refused before anything is written or created.
            try expectRefusal(base + ["--secret", "same.bin", "--state", "same.bin", "--output-dir", "o2"], in: dir,
                              ["--secret 'same.bin' and --state 'same.bin' are the same file"])
            try expectRefusal(base + ["--secret", "s-link", "--state", "o3/protect.csv", "--output-dir", "o3"], in: dir,
                              ["--state 'o3/protect.csv' and --output-dir", "are the same file"])
            try expectRefusal(base + ["--secret", "real/s.bin", "--state", "s-link", "--output-dir", "o4"], in: dir,
                              ["--secret 'real/s.bin' and --state 's-link' are the same file"])
            #expect(!exists(dir, "same.bin") && !exists(dir, "o2") && !exists(dir, "o3") && !exists(dir, "o4"))
            // An --output-dir that is a link to a directory not made yet: made where it points.
            try files.createSymbolicLink(atPath: dir.appendingPathComponent("out-link").path, withDestinationPath: "real/made")
            r = try runB4B(base + ["--output-dir", "out-link"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            #expect(exists(dir, "real/made/protect.csv"))
            #expect((try? files.destinationOfSymbolicLink(atPath: dir.appendingPathComponent("out-link").path)) == "real/made")
        }
    }
}

private extension String {
    /// A snapshot's JSON as the state file of one account named "a".
    func wrappedAsState() -> String { "{\"a\": \(self)}" }
}
