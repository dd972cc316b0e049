import Evaluation
import Foundation
import NumericKernels
import Testing

@Suite("b4b protect")
struct ProtectCommandTests {
    /// A configuration without noise, so outputs depend only on the secret, user and rows.
    private let noiselessConfig = #"{"cost": {"none": {}}, "hashBits": 8}"#

    @Test func writesTheProtectedMatrixReportsAndAccumulatesState() throws {
        try withWorkDirectory { dir in
            let (x, _) = clusteredTask(rows: 300, d: 16, classes: 3, seed: 1)
            try NPY.write(x, to: dir.appendingPathComponent("x.npy").path)
            let first = try runB4B(["protect", "--input", "x.npy", "--user", "alice", "--output-dir", "out",
                                    "--secret", "secret.bin", "--state", "state.json", "--batch", "64"], in: dir)
            #expect(first.succeeded, "\(first.standardError)")
            let out = dir.appendingPathComponent("out")
            let protected = try NPY.readMatrix(out.appendingPathComponent("protected.npy").path)
            #expect(protected.rows == 300 && protected.columns == 16)
            #expect(protected != x)
            let csv = try text(out, "protect.csv").split(separator: "\n")
            #expect(csv.first == "first_row,rows,coverage,sigma")
            #expect(csv.count == 1 + 5)  // 300 rows in requests of 64
            #expect(csv[5].hasPrefix("256,44,"))
            let summary = try #require(try json(out, "protect.json") as? [String: Any])
            #expect(summary["rows"] as? Int == 300 && summary["user"] as? String == "alice")
            let coverage = try #require(summary["coverage"] as? Double)
            #expect(coverage > 0 && coverage <= 1)
            // The secret file was created with owner-only permissions.
            let attributes = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("secret.bin").path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)

            // A second run on other rows starts from the saved occupancy: coverage only grows,
            // and ends above what the new rows reach alone.
            let other = spreadRows(200, d: 16, seed: 5)
            try NPY.write(other, to: dir.appendingPathComponent("y.npy").path)
            let second = try runB4B(["protect", "--input", "y.npy", "--user", "alice", "--output-dir", "out2",
                                     "--secret", "secret.bin", "--state", "state.json"], in: dir)
            #expect(second.succeeded, "\(second.standardError)")
            let alone = try runB4B(["protect", "--input", "y.npy", "--user", "alice", "--output-dir", "out3",
                                    "--secret", "secret.bin"], in: dir)
            #expect(alone.succeeded)
            let accumulated = try #require((try json(dir.appendingPathComponent("out2"), "protect.json") as? [String: Any])?["coverage"] as? Double)
            let fresh = try #require((try json(dir.appendingPathComponent("out3"), "protect.json") as? [String: Any])?["coverage"] as? Double)
            #expect(accumulated > fresh)
            #expect(accumulated >= coverage)
        }
    }

    @Test func sameSecretSameAnswersOtherUserOtherAnswers() throws {
        try withWorkDirectory { dir in
            try noiselessConfig.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
            try NPY.write(spreadRows(50, d: 12, seed: 2), to: dir.appendingPathComponent("x.npy").path)
            func run(_ user: String, _ output: String) throws -> Matrix {
                let r = try runB4B(["protect", "--input", "x.npy", "--user", user, "--output-dir", output,
                                    "--secret", "secret.bin", "--config", "config.json"], in: dir)
                #expect(r.succeeded, "\(r.standardError)")
                return try NPY.readMatrix(dir.appendingPathComponent(output).appendingPathComponent("protected.npy").path)
            }
            let a = try run("alice", "a1")
            #expect(try run("alice", "a2") == a)
            #expect(try run("bob", "b") != a)
        }
    }

    @Test func aRejectedRowWritesNothingAndKeepsTheState() throws {
        try withWorkDirectory { dir in
            var x = spreadRows(100, d: 8, seed: 3)
            try NPY.write(x, to: dir.appendingPathComponent("good.npy").path)
            x[70, 2] = .nan
            try NPY.write(x, to: dir.appendingPathComponent("bad.npy").path)
            let ok = try runB4B(["protect", "--input", "good.npy", "--user", "u", "--output-dir", "out",
                                 "--secret", "s.bin", "--state", "state.json"], in: dir)
            #expect(ok.succeeded, "\(ok.standardError)")
            let stateBefore = try Data(contentsOf: dir.appendingPathComponent("state.json"))
            let bad = try runB4B(["protect", "--input", "bad.npy", "--user", "u", "--output-dir", "out-bad",
                                  "--secret", "s.bin", "--state", "state.json", "--batch", "32"], in: dir)
            #expect(!bad.succeeded)
            // The file's row, not the row within the request of rows 64..<96.
            #expect(bad.standardError.contains("row 70, column 2 is NaN"), "\(bad.standardError)")
            #expect(!bad.standardError.contains("nonFinite"), "\(bad.standardError)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out-bad/protected.npy").path))
            #expect(try Data(contentsOf: dir.appendingPathComponent("state.json")) == stateBefore)
        }
    }

    /// Starts `b4b protect` on `rows` x 128 generated rows, one row per request (about a
    /// second of work), and returns once its output file is being written: the state and the
    /// secret have then been read.
    private func startLongProtect(_ dir: URL, rows: Int, extra: [String]) throws -> Process {
        let input = dir.appendingPathComponent("long.npy").path
        if !FileManager.default.fileExists(atPath: input) {
            try NPY.write(spreadRows(rows, d: 128, seed: 9), to: input)
        }
        let process = Process()
        process.executableURL = try b4bExecutable()
        process.arguments = ["protect", "--input", "long.npy", "--user", "alice", "--batch", "1"] + extra
        process.currentDirectoryURL = dir
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The protected rows stream into a staged file inside the output directory.
        let out = dir.appendingPathComponent("long-out").path
        while process.isRunning {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
            if names.contains(where: { $0.contains(".staged-") }) { break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return process
    }

    @Test("a --state in use by another run is refused at once and left as it was")
    func aLockedStateIsRefused() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(20, d: 16, seed: 3), to: dir.appendingPathComponent("x.npy").path)
            let first = try runB4B(["protect", "--input", "x.npy", "--user", "alice", "--output-dir", "out",
                                    "--secret", "s.bin", "--state", "state.json"], in: dir)
            #expect(first.succeeded, "\(first.standardError)")
            let statePath = dir.appendingPathComponent("state.json").path
            let before = try Data(contentsOf: URL(fileURLWithPath: statePath))
            // Another run holds the state's lock (as a running 'b4b protect' does).
            let fd = open(statePath, O_RDONLY)
            #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
            let second = try runB4B(["protect", "--input", "x.npy", "--user", "bob", "--output-dir", "out2",
                                     "--secret", "s.bin", "--state", "state.json"], in: dir)
            close(fd)
            #expect(second.status == 1)
            #expect(second.standardError.contains("--state 'state.json' is in use by another run"), "\(second.standardError)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: statePath)) == before)
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out2").path))
            // Released, the same run goes through and keeps alice's account beside bob's.
            let third = try runB4B(["protect", "--input", "x.npy", "--user", "bob", "--output-dir", "out2",
                                    "--secret", "s.bin", "--state", "state.json"], in: dir)
            #expect(third.succeeded, "\(third.standardError)")
            let accounts = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: statePath))) as? [String: Any])
            #expect(Set(accounts.keys) == ["alice", "bob"])
        }
    }

    @Test("a state and secret another run created meanwhile are not replaced: the later run writes nothing")
    func aStateCreatedMeanwhileIsNotReplaced() throws {
        try withWorkDirectory { dir in
            let process = try startLongProtect(dir, rows: 100_000, extra: ["--output-dir", "long-out", "--secret", "s.bin", "--state", "state.json"])
            // While it runs, another run creates both files (a short one, to completion).
            try NPY.write(spreadRows(20, d: 128, seed: 4), to: dir.appendingPathComponent("x.npy").path)
            let other = try runB4B(["protect", "--input", "x.npy", "--user", "bob", "--output-dir", "out",
                                    "--secret", "s.bin", "--state", "state.json"], in: dir)
            #expect(other.succeeded, "\(other.standardError)")
            #expect(process.isRunning, "the long run ended before the other run finished: the check below is moot")
            let secret = try Data(contentsOf: dir.appendingPathComponent("s.bin"))
            let state = try Data(contentsOf: dir.appendingPathComponent("state.json"))
            process.waitUntilExit()
            #expect(process.terminationStatus == 1)
            #expect(try Data(contentsOf: dir.appendingPathComponent("s.bin")) == secret)
            #expect(try Data(contentsOf: dir.appendingPathComponent("state.json")) == state)
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("long-out").path))
            let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            #expect(left == ["long.npy", "out", "s.bin", "state.json", "x.npy"], "\(left)")
        }
    }

    @Test("an interrupted run (SIGINT, SIGTERM) leaves no staged file and no directory it created")
    func anInterruptedRunLeavesNothing() throws {
        try withWorkDirectory { dir in
            for (signal, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                let process = try startLongProtect(dir, rows: 60_000, extra: ["--output-dir", "long-out", "--state", "state.json"])
                // (The test runner may start it with these signals blocked, as its spawning
                // thread has them: the run unblocks the signals it handles.)
                #expect(process.isRunning, "\(name): the run ended before it could be interrupted")
                kill(process.processIdentifier, signal)
                process.waitUntilExit()
                // Ended by the signal itself, as without the clean-up.
                #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal, "\(name)")
                let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
                #expect(left == ["long.npy"], "\(name): \(left)")
            }
        }
    }

    @Test func badFilesAndOptionsAreNamed() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(10, d: 8, seed: 4), to: dir.appendingPathComponent("x.npy").path)
            try NPY.write(labels: [1, 2, 3], to: dir.appendingPathComponent("labels.npy").path)
            try "{\"hashBits\": 99}".write(to: dir.appendingPathComponent("bad-config.json"), atomically: true, encoding: .utf8)
            try "{\"dimension\": 9}".write(to: dir.appendingPathComponent("dim-config.json"), atomically: true, encoding: .utf8)
            try Data([1, 2, 3]).write(to: dir.appendingPathComponent("short-secret.bin"))
            try "not json".write(to: dir.appendingPathComponent("bad-state.json"), atomically: true, encoding: .utf8)
            try "{\"hashbits\": 8}".write(to: dir.appendingPathComponent("typo-config.json"), atomically: true, encoding: .utf8)
            try "{\"u\": {\"hashBits\": 12}}".write(to: dir.appendingPathComponent("short-state.json"), atomically: true, encoding: .utf8)
            let cases: [([String], [String])] = [
                (["--input", "missing.npy"], ["missing.npy", "not found"]),
                (["--input", "labels.npy"], ["labels.npy", "2-D"]),
                (["--input", "x.npy", "--batch", "0"], ["--batch"]),
                (["--input", "x.npy", "--config", "bad-config.json"], ["hashBits"]),
                (["--input", "x.npy", "--config", "dim-config.json"], ["dimension 9", "8 columns"]),
                (["--input", "x.npy", "--secret", "short-secret.bin"], ["secret", "32 bytes"]),
                (["--input", "x.npy", "--state", "bad-state.json"], ["bad-state.json", "state"]),
                (["--input", "x.npy", "--config", "typo-config.json"], ["typo-config.json", "unknown key 'hashbits'", "hashBits"]),
                (["--input", "x.npy", "--state", "short-state.json"], ["short-state.json", "missing key .u.hasherFingerprint"]),
            ]
            for (options, keywords) in cases {
                let r = try runB4B(["protect", "--user", "u", "--output-dir", "out"] + options, in: dir)
                #expect(!r.succeeded, "\(options) should fail")
                for keyword in keywords {
                    #expect(r.standardError.contains(keyword), "\(options): '\(r.standardError)' lacks '\(keyword)'")
                }
            }
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/protected.npy").path))
        }
    }
}

@Suite("b4b --help")
struct HelpTests {
    /// Every subcommand with the options whose help must state a default.
    static let defaulted: [(String, [String])] = [
        ("protect", ["--batch"]),
        ("remap", ["--counts", "--scenarios", "--binary-dimension", "--noise", "--fit", "--classifier", "--seed", "--batch"]),
        ("probe", ["--classifier", "--C", "--lambda", "--max-iterations", "--tolerance"]),
        ("coverage", ["--hashers", "--hash-bits", "--tables", "--repetitions", "--ablation", "--seed"]),
        ("calibrate", ["--hasher", "--sigmas", "--classifier", "--chance-margin", "--tolerance", "--hash-bits", "--repetitions", "--seed",
                       "--relative-minimum-queries"]),
        ("reproduce", ["--seeds", "--budgets", "--sybil-budgets", "--accounts", "--padding", "--classifier", "--tolerance",
                       "--chance-margin", "--feature-count", "--held-out"]),
    ]

    /// The OPTIONS section split into one block of text per option.
    private func optionBlocks(_ help: String) -> [String: String] {
        guard let section = help.components(separatedBy: "OPTIONS:").last else { return [:] }
        var blocks: [String: String] = [:]
        var current: String?
        for line in section.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("  -"), let name = trimmed.split(separator: " ").first.map(String.init) {
                current = name.hasSuffix(",") ? String(trimmed.split(separator: " ")[1]) : name
                blocks[current!] = trimmed
            } else if let c = current {
                blocks[c, default: ""] += " " + trimmed
            }
        }
        return blocks
    }

    @Test(arguments: defaulted.map(\.0))
    func everyOptionIsExplainedWithItsDefault(_ subcommand: String) throws {
        try withWorkDirectory { dir in
            let r = try runB4B([subcommand, "--help"], in: dir)
            #expect(r.succeeded)
            let blocks = optionBlocks(r.standardOutput)
            #expect(blocks.count >= 4, "\(r.standardOutput)")
            for (name, block) in blocks {
                // The option, its value name, then at least a few words of explanation.
                let words = block.split(separator: " ").filter { !$0.hasPrefix("-") && !$0.hasPrefix("<") }
                #expect(words.count >= 3, "\(subcommand) \(name) is not explained: \(block)")
            }
            let required = Self.defaulted.first { $0.0 == subcommand }!.1
            for name in required {
                #expect(blocks[name]?.contains("default:") == true, "\(subcommand) \(name) does not state its default")
            }
        }
    }
}

@Suite("b4b progress")
struct ProgressTests {
    /// On a terminal the progress is one bar redrawn in place (carriage returns, no line per
    /// step); `script` (util-linux, essential on Debian) gives the run a pseudo-terminal.
    @Test func aTerminalGetsABarRedrawnInPlace() throws {
        try withWorkDirectory { dir in
            try NPY.write(spreadRows(2000, d: 8, seed: 6), to: dir.appendingPathComponent("x.npy").path)
            let command = "\(try b4bExecutable().path) protect --input x.npy --user u --output-dir out --batch 100"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            process.arguments = ["-qec", command, "/dev/null"]
            process.currentDirectoryURL = dir
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(output)")
            #expect(output.contains("\rprotect ["), "no redrawn bar in: \(output.debugDescription)")
            #expect(output.contains("2000/2000"))
            // Twenty requests, yet no plain progress lines.
            #expect(!output.contains("protect: 100/2000"))
        }
    }
}
