import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

/// `b4b keys` and the refusals of `b4b serve` that come before it listens.
@Suite struct GatewayCommandTests {
    /// Runs `b4b arguments...`, killing it after `limit` seconds (a bound for a command that
    /// would hang; nil status then).
    func run(_ arguments: [String], in directory: URL, limit: Double = 60) throws -> (status: Int32?, output: String) {
        let process = Process()
        process.executableURL = try b4bExecutable()
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        let output = LockedData()
        let drained = DispatchGroup()
        DispatchQueue.global().async(group: drained) { output.set(pipe.fileHandleForReading.readDataToEndOfFile()) }
        let finished = exited.wait(timeout: .now() + limit) == .success
        if !finished {
            process.terminate()
            exited.wait()
        }
        drained.wait()
        return (finished ? process.terminationStatus : nil, String(decoding: output.value, as: UTF8.self))
    }

    func addKey(in directory: URL) throws -> String {
        let added = try runB4B(["keys", "add", "--quiet", "--store", "sqlite:s.sqlite"], in: directory)
        try #require(added.succeeded, "\(added.standardError)")
        return added.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func listingOrRevokingInAMissingStoreFailsAndCreatesNothing() throws {
        try withWorkDirectory { dir in
            for arguments in [["keys", "list"], ["keys", "revoke", "0123456789ab"]] {
                let r = try run(arguments + ["--store", "sqlite:missing.sqlite"], in: dir)
                #expect(r.status != 0 && r.output.contains("no store at 'missing.sqlite'") && r.output.contains("keys add"), "\(r.output)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("missing.sqlite").path))
        }
    }

    @Test func listingOrRevokingRefusesAFileThatIsNotAStoreAndLeavesItAlone() throws {
        try withWorkDirectory { dir in
            let empty = dir.appendingPathComponent("empty.sqlite"), foreign = dir.appendingPathComponent("foreign.sqlite")
            _ = FileManager.default.createFile(atPath: empty.path, contents: Data())
            try runSQLiteShell(foreign.path, "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            for name in ["empty.sqlite", "foreign.sqlite"] {
                let before = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path)
                for arguments in [["keys", "list"], ["keys", "revoke", "0123456789ab"]] {
                    let r = try run(arguments + ["--store", "sqlite:\(name)"], in: dir)
                    #expect(r.status == 1 && r.output.contains("'\(name)' is not a b4b store (no b4b_keys table)")
                            && r.output.contains("'b4b keys add' or 'b4b serve' creates one"), "\(arguments) \(name): \(r.output)")
                }
                #expect(FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) == before, "\(name) was changed")
                #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(name + "-wal").path))
            }
            // A real store is still listed, and revoked in.
            let key = try addKey(in: dir)
            let listed = try run(["keys", "list", "--store", "sqlite:s.sqlite"], in: dir)
            #expect(listed.status == 0 && listed.output.contains(String(key.dropFirst(4).prefix(12))), "\(listed.output)")
        }
    }

    @Test("keys add refuses another application's database and a file that is not SQLite, changing neither")
    func addingRefusesAForeignDatabase() throws {
        try withWorkDirectory { dir in
            let foreign = dir.appendingPathComponent("foreign.sqlite"), text = dir.appendingPathComponent("text.sqlite")
            try runSQLiteShell(foreign.path, "CREATE TABLE foo(x); INSERT INTO foo VALUES (1);")
            _ = FileManager.default.createFile(atPath: text.path, contents: Data("hello\n".utf8))
            for (name, expected) in [("foreign.sqlite", "'foreign.sqlite' is another application's SQLite database (tables: foo)"),
                                     ("text.sqlite", "'text.sqlite' is not a b4b store (not a SQLite database)")] {
                let before = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path)
                let r = try run(["keys", "add", "--store", "sqlite:\(name)"], in: dir)
                #expect(r.status == 1 && r.output.contains(expected), "\(name): \(r.output)")
                #expect(FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) == before, "\(name) was changed")
                #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(name + "-wal").path))
            }
            // An empty file is a new database: the store is created in it.
            _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("s.sqlite").path, contents: Data())
            _ = try addKey(in: dir)
        }
    }

    @Test func aFailedStartLeavesNoNewStoreBehind() throws {
        try withWorkDirectory { dir in
            // Takes a port, so that the gateway cannot listen on it.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            try #require(fd >= 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(bound == 0 && listen(fd, 1) == 0)
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            let port = Int(UInt16(bigEndian: address.sin_port))
            let r = try run(["serve", "--store", "sqlite:new.sqlite", "--port", "\(port)", "--dimension", "8"], in: dir)
            #expect(r.status == 1 && r.output.contains("Error: cannot listen on 127.0.0.1:\(port): address already in use\n")
                    && !r.output.contains("configuration"), "\(r.output)")
            for suffix in ["", "-wal", "-shm"] {
                #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("new.sqlite" + suffix).path), "new.sqlite\(suffix) left behind")
            }
            // A store that existed before is kept, with its keys.
            let key = try addKey(in: dir)
            let again = try run(["serve", "--store", "sqlite:s.sqlite", "--port", "\(port)", "--dimension", "8"], in: dir)
            #expect(again.status == 1, "\(again.output)")
            let listed = try run(["keys", "list", "--store", "sqlite:s.sqlite"], in: dir)
            #expect(listed.status == 0 && listed.output.contains(String(key.dropFirst(4).prefix(12))), "\(listed.output)")
        }
    }

    @Test(arguments: ["--config", "--defense-config"])
    func unreadableConfigurationFilesAreNamedPlainly(_ option: String) throws {
        try withWorkDirectory { dir in
            for (path, expected) in [("/nonexist", "\(option) '/nonexist' does not exist"), ("/tmp", "\(option) '/tmp' is a directory"),
                                     ("/dev/null", "\(option) '/dev/null' is not a regular file")] {
                let r = try run(["serve", "--store", "sqlite:s.sqlite", "--dimension", "8", "--port", "0", option, path], in: dir)
                #expect(r.status == 1 && r.output.contains(expected) && !r.output.contains("operation could not be completed"), "\(r.output)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("s.sqlite").path))
        }
    }

    /// `--lambda`, `--alpha` and `--beta` set the exponential cost's parameters: with a constant
    /// or no cost configured they are refused by name (they used to replace that cost with an
    /// exponential one without a word), and nothing is created.
    @Test(arguments: [("{\"cost\": {\"constant\": {\"sigma\": 0.1}}}", "--alpha", "a constant cost (sigma 0.1)"),
                      ("{\"cost\": \"none\"}", "--lambda", "no cost"), ("{\"cost\": \"none\"}", "--beta", "no cost")])
    func costFlagsNeedTheExponentialCost(_ defense: String, _ flag: String, _ kind: String) throws {
        try withWorkDirectory { dir in
            try Data(defense.utf8).write(to: dir.appendingPathComponent("defense.json"))
            let r = try run(["serve", "--store", "sqlite:s.sqlite", "--dimension", "8", "--port", "0",
                             "--defense-config", "defense.json", flag, "0.5"], in: dir)
            #expect(r.status == 1 && r.output.contains("\(flag) sets a parameter of the exponential cost") && r.output.contains(kind), "\(r.output)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("s.sqlite").path))
        }
    }

    @Test func unknownStoreSchemesAreNamed() throws {
        try withWorkDirectory { dir in
            for arguments in [["keys", "list", "--store", "mysql://x"], ["keys", "add", "--store", "mysql://x"],
                              ["serve", "--store", "mysql://x", "--dimension", "8"]] {
                let r = try run(arguments, in: dir)
                #expect(r.status != 0 && r.output.contains("'mysql'") && r.output.contains("postgres://") && !r.output.contains("SQLite error"),
                        "\(arguments): \(r.output)")
            }
        }
    }

    @Test func revokingNeverEchoesASecretAndTellsUnknownFromRevoked() throws {
        try withWorkDirectory { dir in
            let key = try addKey(in: dir)
            let id = String(key.dropFirst(4).prefix(12))
            let secret = String(key.suffix(64))
            let pasted = try run(["keys", "revoke", "--store", "sqlite:s.sqlite", key], in: dir)
            #expect(pasted.status != 0 && !pasted.output.contains(secret.prefix(8)) && pasted.output.contains(id), "\(pasted.output)")
            let unknown = try run(["keys", "revoke", "--store", "sqlite:s.sqlite", "0123456789ab"], in: dir)
            #expect(unknown.status != 0 && unknown.output.contains("no account with id '0123456789ab'"), "\(unknown.output)")
            let first = try run(["keys", "revoke", "--store", "sqlite:s.sqlite", id], in: dir)
            #expect(first.status == 0, "\(first.output)")
            let again = try run(["keys", "revoke", "--store", "sqlite:s.sqlite", id], in: dir)
            #expect(again.status != 0 && again.output.contains("already revoked"), "\(again.output)")
        }
    }

    @Test(arguments: ["alice\nb4b-forged  active", "tab\there", "esc\u{1B}[2J", "rtl\u{202E}evitca", "line\u{2028}break"])
    func namesWithControlCharactersAreRefused(_ name: String) throws {
        try withWorkDirectory { dir in
            let r = try run(["keys", "add", "--store", "sqlite:s.sqlite", "--name", name], in: dir)
            #expect(r.status != 0 && r.output.contains("control characters"), "\(r.output)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("s.sqlite").path))
        }
    }

    @Test func corruptRowsAreReportedNotFatal() throws {
        try withWorkDirectory { dir in
            _ = try addKey(in: dir)
            try runSQLiteShell(dir.appendingPathComponent("s.sqlite").path, "UPDATE b4b_keys SET revoked_at = 'yesterday'")
            let r = try run(["keys", "list", "--store", "sqlite:s.sqlite"], in: dir)
            #expect(r.status == 1 && r.output.contains("column revoked_at") && r.output.contains("'yesterday'"), "\(r.output)")
        }
    }

    @Test("a name with control characters written into the store by hand is listed escaped, never as raw lines")
    func handEditedNamesCannotForgeListLines() throws {
        try withWorkDirectory { dir in
            _ = try addKey(in: dir)
            try runSQLiteShell(dir.appendingPathComponent("s.sqlite").path,
                        "UPDATE b4b_keys SET name = 'eve' || char(10) || '000000000000  active   1.00000' || char(27) || '[2K'")
            let r = try run(["keys", "list", "--store", "sqlite:s.sqlite"], in: dir)
            #expect(r.status == 0, "\(r.output)")
            #expect(r.output.contains("eve\\u{a}000000000000  active   1.00000\\u{1b}[2K"), "\(r.output)")
            #expect(!r.output.contains("\u{1b}") && !r.output.contains("\n000000000000"), "\(r.output)")
        }
    }

    @Test(arguments: [
        (["--max-body-bytes", "-5"], "--max-body-bytes must be in 1024...1073741824, got -5"),
        (["--key-cache-seconds", "-1"], "keyCacheSeconds"),
        (["--key-cache-seconds", "1e10"], "keyCacheSeconds"),
        (["--upstream-timeout", "-1"], "upstreamTimeoutSeconds"),
        (["--idle-timeout", "0"], "idleTimeoutSeconds"),
        (["--max-inputs", "-3"], "max-inputs"),
        (["--max-connections", "0"], "--max-connections must be in 1...1000000, got 0"),
        (["--min-body-rate", "-1"], "--min-body-rate must be in 0...1073741824, got -1"),
        (["--port", "-1"], "port"),
        (["--transforms", ""], "is empty"),
        (["--transforms", "affine,,pad"], "item 2"),
        (["--transforms", "affine,none"], "'none' cannot be combined"),
        (["--upstream", "http://127.0.0.1:99999/v1"], "99999"),
        (["--upstream", "http://127.0.0.1:99999999999999999999/v1"], "has port 99999999999999999999, outside 1...65535"),
        (["--upstream", "http://127.0.0.1:18446744073709551617/v1"], "has port 18446744073709551617, outside 1...65535"),
        (["--idle-timeout", "1e-10"], "idleTimeoutSeconds must be in 0.1...86400"),
        (["--idle-timeout", "1e-320"], "idleTimeoutSeconds must be in 0.1...86400"),
        (["--upstream-timeout", "1e-300"], "upstreamTimeoutSeconds must be in 0.001...86400"),
        (["--max-inputs", "9223372036854775807"], "--max-inputs must be in 1...65536, got 9223372036854775807"),
        (["--max-body-bytes", "9223372036854775807"], "--max-body-bytes must be in 1024...1073741824"),
    ])
    func serveRefusesBadSettingsByName(_ arguments: [String], _ expected: String) throws {
        try withWorkDirectory { dir in
            let r = try run(["serve", "--store", "sqlite:s.sqlite", "--dimension", "8", "--port", "0"] + arguments, in: dir)
            #expect(r.status != nil && r.status != 0, "\(arguments) was accepted: \(r.output)")
            #expect(r.output.contains(expected) && !r.output.contains("Missing value"), "\(arguments): \(r.output)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("s.sqlite").path))
        }
    }

    @Test func anUnreachablePostgresFailsFastAndClearly() throws {
        try withWorkDirectory { dir in
            // Port 1 on loopback refuses connections.
            for arguments in [["keys", "list", "--store", "postgres://u@127.0.0.1:1/db"],
                              ["serve", "--store", "postgres://u@127.0.0.1:1/db", "--dimension", "8", "--port", "0"]] {
                let r = try run(arguments, in: dir, limit: 30)
                #expect(r.status != nil, "\(arguments) still ran after 30 s")
                #expect(r.status != 0 && r.output.contains("cannot connect to PostgreSQL at 127.0.0.1:1: connection refused")
                        && !r.output.contains("ConnectionPoolError"), "\(arguments): \(r.output)")
            }
            let noDatabase = try run(["keys", "list", "--store", "postgres://u:pw@127.0.0.1"], in: dir, limit: 30)
            #expect(noDatabase.status == 1 && noDatabase.output.contains("names no database"), "\(noDatabase.output)")
        }
    }
}
