import Foundation
import Testing

/// `b4b-bench`'s options: what `--quick` sets and what it leaves to the caller, and result
/// destinations that cannot be written, reported before the run.
@Suite("b4b-bench options")
struct BenchCommandTests {
    /// Runs `b4b-bench arguments...` in `directory`.
    private func runBench(_ arguments: [String], in directory: URL) throws -> CommandResult {
        try runExecutable(try builtExecutable("b4b-bench"), arguments, in: directory)
    }

    /// The (stage, dimension, batch, threads, repetitions) of every point in a `--json` file.
    private func points(_ file: URL) throws -> [(String, Int, Int, Int, Int)] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
        let results = try #require(object?["results"] as? [[String: Any]])
        return try results.map { r in
            let measurement = try #require(r["measurement"] as? [String: Any])
            return (try #require(r["stage"] as? String), try #require(r["dimension"] as? Int),
                    try #require(r["batch"] as? Int), try #require(r["threads"] as? Int),
                    try #require(measurement["repetitions"] as? Int))
        }
    }

    /// The `plan` and `arguments` recorded in a `--json` file.
    private func recorded(_ file: URL) throws -> (plan: [String: Any], arguments: [String]) {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
        return (try #require(object?["plan"] as? [String: Any]), try #require(object?["arguments"] as? [String]))
    }

    @Test("options given with --quick win over its defaults; the JSON records the command line and the plan")
    func explicitOptionsWinOverQuick() throws {
        try withWorkDirectory { dir in
            let arguments = ["--quick", "--stages", "hash,scale-shift", "--dimensions", "64", "--batches", "2,3",
                             "--threads", "1", "--repetitions", "2", "--sweep-only", "--no-bare", "--pages", "base",
                             "--json", "r.json", "--svg", "fig"]
            let r = try runBench(arguments, in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let (plan, given) = try recorded(dir.appendingPathComponent("r.json"))
            #expect(given == arguments)
            #expect(plan["batches"] as? [Int] == [2, 3] && plan["dimensions"] as? [Int] == [64])
            #expect(plan["stages"] as? [String] == ["hash", "scale-shift"])
            // Options not given keep --quick's defaults.
            #expect(plan["minRows"] as? Int == 1024 && plan["secondsPerRepetition"] as? Double == 0.1)
            #expect(plan["repetitions"] as? Int == 2 && plan["measureBare"] as? Bool == false)
            #expect(plan["pages"] as? String == "base")
            #expect(r.standardOutput.contains("Row pools, d = 64: 1 × 0.5 MiB (base pages)"), "\(r.standardOutput)")
            let seen = try points(dir.appendingPathComponent("r.json"))
            #expect(seen.map { "\($0.0) \($0.1) \($0.2) \($0.3)" }.sorted()
                    == ["hash 64 2 1", "hash 64 3 1", "scale-shift 64 2 1", "scale-shift 64 3 1"])
            #expect(seen.allSatisfy { $0.4 == 2 })
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("fig-d64-t1.svg").path))
        }
    }

    @Test("--quick alone keeps its own defaults: d = 2048, batches 1, 16, 256, three repetitions")
    func quickDefaults() throws {
        try withWorkDirectory { dir in
            let r = try runBench(["--quick", "--stages", "hash", "--threads", "1", "--sweep-only", "--no-bare",
                                  "--json", "r.json"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let seen = try points(dir.appendingPathComponent("r.json"))
            #expect(seen.map { "\($0.1) \($0.2)" }.sorted() == ["2048 1", "2048 16", "2048 256"])
            #expect(seen.allSatisfy { $0.4 == 3 })
            let plan = try recorded(dir.appendingPathComponent("r.json")).plan
            #expect(plan["minRows"] as? Int == 1024 && plan["minimumSeconds"] as? Double == 0.01)
            // --sweep-only measures no user sweep and no memory, and the plan says so.
            #expect(plan["users"] as? [Int] == [] && plan["sweepOnly"] as? Bool == true && plan["quick"] as? Bool == true)
            #expect(plan["memoryUsers"] as? Int == 0 && plan["denseMemoryUsers"] as? Int == 0)
            #expect(plan["pages"] as? String == "huge")
            // Where the kernel backs advised memory only (transparent huge pages in "madvise"
            // mode), the 16 MiB pool is what comes on huge pages.
            let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
            if mode.contains("[madvise]") {
                #expect(r.standardOutput.contains("Row pools, d = 2048: 1 × 16.0 MiB (huge pages), 16.0 MiB of this process's memory came on huge pages with them"),
                        "\(r.standardOutput)")
            }
        }
    }

    @Test("a result destination that cannot be written is reported before the run, naming the option")
    func unwritableDestinations() throws {
        try withWorkDirectory { dir in
            let cases: [([String], String)] = [
                (["--json", "missing/r.json"], "--json 'missing/r.json': its directory 'missing' does not exist"),
                (["--json", "."], "--json '.' is a directory"),
                (["--svg", "missing/fig"], "--svg 'missing/fig-d2048-t1.svg': its directory 'missing' does not exist"),
                (["--json", ""], "--json must not be empty"),
                (["--json", "/dev/null"], "--json '/dev/null' is not a regular file (a device, a pipe or a socket)"),
                // A directory no one may create files in, root included.
                (["--json", "/proc/self/r.json"], "--json '/proc/self/r.json': its directory '/proc/self' is not writable"),
            ]
            for (arguments, message) in cases {
                // Without the check, --quick would measure for half a minute before failing.
                let r = try runBench(["--quick"] + arguments, in: dir)
                #expect(!r.succeeded)
                #expect(r.standardError.contains(message), "\(r.standardError)")
                #expect(!r.standardOutput.contains("emb/s"), "a point was measured: \(r.standardOutput)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
            let null = try FileManager.default.attributesOfItem(atPath: "/dev/null")
            #expect(null[.type] as? FileAttributeType == .typeCharacterSpecial)
        }
    }

    /// A run of one tiny point (d = 64, batch 1, one repetition): a second or two.
    private func tinyRun(threads: String = "1") -> [String] {
        ["--stages", "hash", "--batches", "1", "--dimensions", "64", "--threads", threads, "--repetitions", "1",
         "--sweep-only", "--no-bare", "--min-rows", "1", "--max-seconds", "0.01", "--min-seconds", "0"]
    }

    @Test("every figure's destination is checked before the run, and a symbolic link is written through, not replaced")
    func destinationsChecked() throws {
        try withWorkDirectory { dir in
            let files = FileManager.default
            // The second thread count's figure cannot be written: nothing is measured or left behind.
            try files.createDirectory(at: dir.appendingPathComponent("fig-d64-t2.svg"), withIntermediateDirectories: false)
            var r = try runBench(tinyRun(threads: "1,2") + ["--json", "r.json", "--svg", "fig"], in: dir)
            #expect(!r.succeeded)
            #expect(r.standardError.contains("--svg 'fig-d64-t2.svg' is a directory"), "\(r.standardError)")
            #expect(!files.fileExists(atPath: dir.appendingPathComponent("r.json").path))
            #expect(!files.fileExists(atPath: dir.appendingPathComponent("fig-d64-t1.svg").path))
            // A file where a directory should be.
            try Data().write(to: dir.appendingPathComponent("plain"))
            r = try runBench(tinyRun() + ["--json", "plain/r.json"], in: dir)
            #expect(r.standardError.contains("--json 'plain/r.json': 'plain' is not a directory"), "\(r.standardError)")
            // A one-letter name in the working directory.
            r = try runBench(tinyRun() + ["--json", "o"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            #expect(files.fileExists(atPath: dir.appendingPathComponent("o").path))
            // A link to a file in another directory: the file is written, the link stays a link.
            try files.createDirectory(at: dir.appendingPathComponent("kept"), withIntermediateDirectories: false)
            try files.createSymbolicLink(atPath: dir.appendingPathComponent("link.json").path, withDestinationPath: "kept/r.json")
            r = try runBench(tinyRun() + ["--json", "link.json"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            #expect(try files.destinationOfSymbolicLink(atPath: dir.appendingPathComponent("link.json").path) == "kept/r.json")
            let written = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("kept/r.json"))) as? [String: Any]
            #expect(written?["results"] as? [[String: Any]] != nil)
        }
    }

    @Test("the hash stage is timed in turns with its kernel alone and with reading its rows alone, and both ratios are reported")
    func hashLimitsReported() throws {
        try withWorkDirectory { dir in
            // d = 72 is not a multiple of the reading's 32-value blocks.
            let r = try runBench(["--stages", "hash", "--batches", "1,8", "--dimensions", "72", "--threads", "1", "--repetitions", "2",
                                  "--sweep-only", "--min-rows", "64", "--max-seconds", "0.01", "--min-seconds", "0", "--json", "r.json"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            #expect(r.standardOutput.contains("| reading emb/s | hash+track / reading |"), "\(r.standardOutput)")
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("r.json"))) as? [String: Any]
            let results = try #require(object?["results"] as? [[String: Any]])
            #expect(results.count == 2)
            for row in results {
                for key in ["bareProjectionEmbeddingsPerSecond", "ratioToBareProjection", "rowReadEmbeddingsPerSecond", "ratioToRowRead"] {
                    let value = try #require(row[key] as? Double, "\(key) missing in \(row)")
                    #expect(value > 0 && value.isFinite, "\(key) = \(value)")
                }
            }
            // Without the references (--no-bare), neither is timed.
            let bare = try runBench(tinyRun() + ["--json", "n.json"], in: dir)
            #expect(bare.succeeded, "\(bare.standardError)")
            let none = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("n.json"))) as? [String: Any]
            let rows = try #require(none?["results"] as? [[String: Any]])
            #expect(!rows.isEmpty && rows.allSatisfy { $0["ratioToRowRead"] == nil && $0["ratioToBareProjection"] == nil })
        }
    }

    @Test("a read-only result, a loop of links and one file for two results are refused before the run; a replaced result keeps its permissions")
    func resultFilesRefusedOrKept() throws {
        try withWorkDirectory { dir in
            let files = FileManager.default
            let earlier = Data("{\"earlier\": true}".utf8)
            let locked = dir.appendingPathComponent("locked.json")
            try earlier.write(to: locked)
            try files.setAttributes([.posixPermissions: 0o444], ofItemAtPath: locked.path)
            try files.createSymbolicLink(atPath: dir.appendingPathComponent("loop.json").path, withDestinationPath: "loop.json")
            let cases: [([String], String)] = [
                (["--json", "locked.json"], "--json 'locked.json' is not writable"),
                (["--json", "loop.json"], "--json 'loop.json' is a loop of symbolic links"),
                (["--json", "fig-d64-t1.svg", "--svg", "fig"], "--json 'fig-d64-t1.svg' and --svg 'fig-d64-t1.svg' are the same file"),
                (["--svg", ""], "--svg must not be empty"),
            ]
            for (arguments, message) in cases {
                let r = try runBench(tinyRun() + arguments, in: dir)
                #expect(!r.succeeded)
                #expect(r.standardError.contains(message), "\(r.standardError)")
                #expect(!r.standardOutput.contains("emb/s"), "a point was measured: \(r.standardOutput)")
            }
            #expect(try Data(contentsOf: locked) == earlier)
            #expect(try files.destinationOfSymbolicLink(atPath: dir.appendingPathComponent("loop.json").path) == "loop.json")
            #expect(!files.fileExists(atPath: dir.appendingPathComponent("fig-d64-t1.svg").path))
            // A result replaced by a run keeps the permissions its owner gave it.
            let kept = dir.appendingPathComponent("kept.json")
            try earlier.write(to: kept)
            try files.setAttributes([.posixPermissions: 0o640], ofItemAtPath: kept.path)
            let r = try runBench(tinyRun() + ["--json", "kept.json", "--svg", "fig"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            #expect(try Data(contentsOf: kept) != earlier)
            #expect(try files.attributesOfItem(atPath: kept.path)[.posixPermissions] as? Int == 0o640)
            #expect(files.fileExists(atPath: dir.appendingPathComponent("fig-d64-t1.svg").path))
            // No staged file is left beside the results.
            #expect(try files.contentsOfDirectory(atPath: dir.path).filter { $0.contains("staged") }.isEmpty)
        }
    }

    @Test("bad options are named, and an earlier result file is left as it was")
    func badOptionsLeaveResultsAlone() throws {
        try withWorkDirectory { dir in
            let earlier = Data("{\"earlier\": true}".utf8)
            let file = dir.appendingPathComponent("r.json")
            try earlier.write(to: file)
            let cases: [([String], String)] = [
                (["--batches", "0"], "--batches must be a comma-separated list of positive integers, got '0'"),
                (["--quick", "--dimensions", "2048,x"], "--dimensions must be a comma-separated list of positive integers, got '2048,x'"),
                (["--stages", "hash,,noise"], "unknown stage ''"),
                (["--quick", "--min-seconds", "0.2"], "--min-seconds must be between 0 and --max-seconds (0.1): --min-seconds (0.2) is not"),
                (["--max-seconds", "0.05"], "--min-seconds's default (0.1) is not; give a --min-seconds of at most 0.05"),
                (["--max-seconds=-1"], "--max-seconds must be a positive number"),
                (["--memory-users=-5"], "--memory-users must be in 0...100000000, got -5"),
                (["--pages", "giant"], "--pages must be one of huge, base, got 'giant'"),
                // A negative value after a space is the option's value, not an unknown option.
                (["--batches", "-1"], "--batches must be a comma-separated list of positive integers, got '-1'"),
                (["--batches", "1,,2"], "got '1,,2' (an empty item)"),
                (["--batches", "1,1"], "--batches lists 1 twice"),
                (["--stages", "hash,hash"], "--stages lists hash twice"),
                (["--batches", "9223372036854775807"], "--batches takes values up to 1048576, got 9223372036854775807"),
                (["--threads", "5000"], "--threads takes values up to 256, got 5000"),
                (["--threads", "256", "--batches", "65536", "--dimensions", "65536"],
                 "(row pools and output buffers for --threads 256 × --batches 65536 × --dimensions 65536), more than this machine's"),
                (["--memory-users", "90000000", "--dense-memory-users", "90000000"],
                 "(--memory-users 90000000 and --dense-memory-users 90000000 accounts), more than this machine's"),
                // Options that would have no effect.
                (["--sweep-only", "--users", "5"], "--sweep-only skips the user sweep and the memory measurement: --users would have no effect"),
                (["--memory-users", "0", "--dense-memory-users", "10"], "--memory-users 0 skips the whole memory measurement: --dense-memory-users"),
                (["--python", "python3"], "--python is for the NumPy comparison: give --numpy as well"),
                // Configurations the defense refuses are named before anything runs (not a trap).
                (["--sweep-only", "--stages", "hash,full", "--dimensions", "384,9000"],
                 "--stages full at --dimensions 9000: the defense refuses this configuration"),
                (["--sweep-only", "--stages", "binary", "--dimensions", "20000"],
                 "--stages binary at --dimensions 20000: the defense refuses this configuration"),
            ]
            for (arguments, message) in cases {
                let r = try runBench(arguments + ["--json", "r.json"], in: dir)
                #expect(!r.succeeded)
                #expect(r.standardError.contains(message), "\(arguments): \(r.standardError)")
                #expect(try Data(contentsOf: file) == earlier)
            }
        }
    }

    @Test("a run reads its targets from its own ratios: a bound met or not, and what it did not measure")
    func targetsOfARun() throws {
        try withWorkDirectory { dir in
            let r = try runBench(["--quick", "--stages", "hash,full", "--batches", "1,256", "--threads", "1,2",
                                  "--sweep-only", "--repetitions", "1", "--json", "r.json"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            #expect(r.standardOutput.contains("## Targets (d = 2048; ratios from this run)"))
            #expect(r.standardOutput.contains("Fewer or shorter repetitions than the defaults (as with --quick)"))
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("r.json"))) as? [String: Any]
            let results = try #require(object?["results"] as? [[String: Any]])
            let targets = try #require(object?["targets"] as? [[String: Any]])
            func result(_ stage: String, _ batch: Int, _ threads: Int) -> [String: Any]? {
                results.first { $0["stage"] as? String == stage && $0["batch"] as? Int == batch && $0["threads"] as? Int == threads }
            }
            func target(_ name: String, _ stage: String, _ batch: Int, _ threads: Int) -> [String: Any]? {
                targets.first { $0["target"] as? String == name && $0["stage"] as? String == stage
                    && $0["batch"] as? Int == batch && $0["threads"] as? Int == threads }
            }
            // Full protect against its bare sgemm, on one and two threads: the row's own ratio.
            for threads in [1, 2] {
                let reading = try #require(target("full protect (dense affine) × bare sgemm", "full", 256, threads))
                let ratio = try #require(result("full", 256, threads)?["ratioToBareSgemm"] as? Double)
                #expect(reading["value"] as? Double == ratio && reading["bound"] as? Double == 0.85)
            }
            // Two threads over one, for each stage, with the bare sgemm's own scaling beside it.
            for stage in ["hash", "full"] {
                let reading = try #require(target("2 threads × 1 thread", stage, 256, 2))
                let row = try #require(result(stage, 256, 2))
                #expect(reading["value"] as? Double == row["ratioToOneThread"] as? Double)
                #expect(reading["control"] as? Double == row["bareSgemmRatioToOneThread"] as? Double)
                let value = try #require(reading["value"] as? Double)
                // The printed row: the reading to within its printed decimals, and the verdict.
                let prefix = "| 2 threads × 1 thread | \(stage) | 256 | 2 | "
                let line = try #require(r.standardOutput.split(separator: "\n").first { $0.hasPrefix(prefix) })
                let cells = line.dropFirst(prefix.count).split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                let printed = try #require(Double(cells[0]))
                #expect(abs(printed - value) <= 0.005 && (printed >= 1.7) == (value >= 1.7), "\(line)")
                #expect(cells[1] == "≥ 1.7" && cells[2] == (value >= 1.7 ? "yes" : "**no**"), "\(line)")
            }
            // Without --numpy the NumPy targets are listed as not measured, never as met.
            for (batch, threads) in [(256, 1), (256, 2), (1, 1)] {
                let reading = try #require(target("hash+track × NumPy", "hash", batch, threads))
                #expect(reading["value"] == nil && reading["missing"] as? String == "--numpy")
            }
            #expect(target("hash+track × reference tracking", "hash", 256, 1)?["missing"] as? String == "--numpy")
            #expect(r.standardOutput.contains("| hash+track × reference tracking | hash | 256 | 1 | needs --numpy | ≥ 10 |  |"))
        }
    }

    /// A saved report with one point per (stage, batch, threads) and the given ratios.
    private func savedReport(_ points: [(String, Int, Int, [String: Double])]) throws -> Data {
        let results: [[String: Any]] = points.map { stage, batch, threads, ratios in
            var row: [String: Any] = ["stage": stage, "dimension": 2048, "batch": batch, "threads": threads, "users": 1,
                                      "measurement": ["embeddingsPerSecond": 1e6, "nsPerEmbedding": 1000.0, "p50Microseconds": 1.0,
                                                      "p99Microseconds": 2.0, "repetitions": 7, "rowsPerRepetition": 4096]]
            for (key, value) in ratios { row[key] = value }
            return row
        }
        return try JSONSerialization.data(withJSONObject: ["results": results])
    }

    @Test("--targets-of gathers earlier runs' readings: smallest–largest, how many met, what was not measured")
    func targetsOfSavedRuns() throws {
        try withWorkDirectory { dir in
            try savedReport([
                ("hash", 256, 1, ["ratioToReferenceTracking": 5.25, "ratioToNumpy": 2.5]),
                ("hash", 256, 2, ["ratioToReferenceTracking": 9.6, "ratioToOneThread": 1.62, "bareSgemmRatioToOneThread": 1.5]),
            ]).write(to: dir.appendingPathComponent("a.json"))
            try savedReport([
                ("hash", 256, 1, ["ratioToReferenceTracking": 5.75]),
                ("hash", 256, 2, ["ratioToReferenceTracking": 10.2, "ratioToOneThread": 1.9, "bareSgemmRatioToOneThread": 2.1]),
            ]).write(to: dir.appendingPathComponent("b.json"))
            let r = try runBench(["--targets-of", "a.json", "b.json"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let lines = r.standardOutput.split(separator: "\n").map(String.init)
            #expect(lines.first == "## Targets over 2 runs (d = 2048): a.json, b.json")
            for row in [
                "| hash+track × reference tracking | hash | 256 | 1 | 5.25–5.75 | ≥ 10 | 0 of 2 |  |",
                "| hash+track × reference tracking | hash | 256 | 2 | 9.60–10.20 | ≥ 10 | 1 of 2 |  |",
                "| hash+track × NumPy | hash | 256 | 1 | 2.50 | ≥ 1 | 1 of 1 (1 not measured) |  |",
                "| 2 threads × 1 thread | hash | 256 | 2 | 1.62–1.90 | ≥ 1.7 | 1 of 2 | 1.50–2.10 |",
            ] {
                #expect(lines.contains(row), "missing \(row) in\n\(r.standardOutput)")
            }
            // A point a run does not have is no reading at all: no batch-1 rows here.
            #expect(!r.standardOutput.contains("| hash | 1 |"))
        }
    }

    @Test("a reading just under its bound is not printed as the bound; one on it meets it")
    func readingsAtTheBound() throws {
        try withWorkDirectory { dir in
            try savedReport([
                ("full", 256, 1, ["ratioToBareSgemm": 0.85]),
                ("full", 256, 2, ["ratioToOneThread": 1.6996, "bareSgemmRatioToOneThread": 1.53]),
            ]).write(to: dir.appendingPathComponent("a.json"))
            let r = try runBench(["--targets-of", "a.json"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            for row in ["| full protect (dense affine) × bare sgemm | full | 256 | 1 | 0.85 | ≥ 0.85 | 1 of 1 |  |",
                        "| 2 threads × 1 thread | full | 256 | 2 | 1.6996 | ≥ 1.7 | 0 of 1 | 1.53 |"] {
                #expect(r.standardOutput.split(separator: "\n").contains(Substring(row)), "missing \(row) in\n\(r.standardOutput)")
            }
        }
    }

    @Test("--targets-of names a file it cannot read or that is not a report")
    func targetsOfBadFiles() throws {
        try withWorkDirectory { dir in
            try Data("{\"results\": [{\"stage\": \"hash\"}]}".utf8).write(to: dir.appendingPathComponent("cut.json"))
            try Data("{\"results\": []}".utf8).write(to: dir.appendingPathComponent("empty.json"))
            for (file, message) in [("missing.json", "--targets-of file 'missing.json' does not exist"),
                                    ("cut.json", "--targets-of file 'cut.json' is not a b4b-bench --json report"),
                                    ("cut.json --json out.json", "--targets-of reads saved runs and measures nothing: it takes no other option (got --json)"),
                                    ("cut.json --quick --batches 1", "it takes no other option (got --batches, --quick)"),
                                    (".", "--targets-of file '.' is a directory"),
                                    ("empty.json", "no target was measured in this report")] {
                let r = try runBench(["--targets-of"] + file.split(separator: " ").map(String.init), in: dir)
                #expect(!r.succeeded)
                #expect(r.standardError.contains(message), "\(r.standardError)")
            }
        }
    }

    @Test("--targets-of reads reports from before the dense accounts; the memory target is judged from a sample large enough")
    func memoryTargetOfSavedRuns() throws {
        try withWorkDirectory { dir in
            func report(_ memory: [String: Any]) throws -> Data {
                var object = try JSONSerialization.jsonObject(with: try savedReport([("hash", 256, 1, ["ratioToReferenceTracking": 5.5])])) as! [String: Any]
                object["memory"] = memory
                return try JSONSerialization.data(withJSONObject: object)
            }
            // The first reports' memory section: one-row accounts only, no id bytes.
            try report(["users": 1000000, "bytesPerUser": 97.0, "projectedMegabytesForMillion": 92.5, "residentBytesBefore": 1,
                        "residentBytesAfter": 2, "secondsToCreate": 1.0]).write(to: dir.appendingPathComponent("old.json"))
            try report(["denseUsers": 100000, "bytesPerDenseUser": 566.0]).write(to: dir.appendingPathComponent("large.json"))
            try report(["denseUsers": 10, "bytesPerDenseUser": 22118.0]).write(to: dir.appendingPathComponent("tiny.json"))
            let r = try runBench(["--targets-of", "old.json", "large.json", "tiny.json"], in: dir)
            #expect(r.succeeded, "\(r.standardError)")
            let lines = r.standardOutput.split(separator: "\n").map(String.init)
            for row in ["| hash+track × reference tracking | hash | 256 | 1 | 5.50 | ≥ 10 | 0 of 3 |  |",
                        "| 1 million accounts' occupancy state (transform cache excluded), MB | memory |  |  | 566 | < 600 | 1 of 1 (1 not measured) |  |"] {
                #expect(lines.contains(row), "missing \(row) in\n\(r.standardOutput)")
            }
        }
    }
}
