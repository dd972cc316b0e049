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
                             "--threads", "1", "--repetitions", "2", "--sweep-only", "--no-bare",
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
            #expect(plan["users"] as? [Int] == [1, 1000])
        }
    }

    @Test("a result destination that cannot be written is reported before the run, naming the option")
    func unwritableDestinations() throws {
        try withWorkDirectory { dir in
            let cases: [([String], String)] = [
                (["--json", "missing/r.json"], "--json 'missing/r.json': directory 'missing' does not exist"),
                (["--json", "."], "--json '.' is a directory"),
                (["--svg", "missing/fig"], "--svg 'missing/fig': directory 'missing' does not exist"),
            ]
            for (arguments, message) in cases {
                // Without the check, --quick would measure for half a minute before failing.
                let r = try runBench(["--quick"] + arguments, in: dir)
                #expect(!r.succeeded)
                #expect(r.standardError.contains(message), "\(r.standardError)")
                #expect(!r.standardOutput.contains("emb/s"), "a point was measured: \(r.standardOutput)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
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
                (["--quick", "--min-seconds", "0.2"], "--min-seconds must be between 0 and --max-seconds (0.1), got 0.2"),
                (["--max-seconds=-1"], "--max-seconds must be a positive number"),
                (["--memory-users=-5"], "--memory-users must be non-negative, got -5"),
            ]
            for (arguments, message) in cases {
                let r = try runBench(arguments + ["--json", "r.json"], in: dir)
                #expect(!r.succeeded)
                #expect(r.standardError.contains(message), "\(arguments): \(r.standardError)")
                #expect(try Data(contentsOf: file) == earlier)
            }
        }
    }
}
