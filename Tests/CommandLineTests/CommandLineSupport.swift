import Evaluation
import Foundation
import NumericKernels
import Testing

/// The result of one run of the `b4b` executable.
struct CommandResult {
    let status: Int32
    let standardOutput: String
    let standardError: String
    var succeeded: Bool { status == 0 }
}

/// The `b4b` executable built next to this test bundle (`swift build --build-tests` builds
/// every product into the same directory).
func b4bExecutable() throws -> URL { try builtExecutable("b4b") }

/// The product `name` built next to this test bundle.
func builtExecutable(_ name: String) throws -> URL {
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let candidate = me.deletingLastPathComponent().appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: candidate.path) else {
        throw CommandLineTestError("the \(name) executable is not at \(candidate.path); build every product first (swift build --build-tests)")
    }
    return candidate
}

struct CommandLineTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `b4b arguments...` in `directory` and collects its output.
func runB4B(_ arguments: [String], in directory: URL) throws -> CommandResult {
    try runExecutable(try b4bExecutable(), arguments, in: directory)
}

/// Runs `executable arguments...` in `directory` and collects its output.
func runExecutable(_ executable: URL, _ arguments: [String], in directory: URL) throws -> CommandResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.currentDirectoryURL = directory
    let (out, err) = (Pipe(), Pipe())
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Drain both pipes before waiting so a chatty child never blocks on a full pipe.
    let errData = LockedData()
    let drained = DispatchGroup()
    DispatchQueue.global().async(group: drained) { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    drained.wait()
    return CommandResult(status: process.terminationStatus,
                         standardOutput: String(decoding: outData, as: UTF8.self),
                         standardError: String(decoding: errData.value, as: UTF8.self))
}

/// Data handed from a reader thread.
final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// A fresh directory, removed when `body` returns.
func withWorkDirectory<R>(_ body: (URL) throws -> R) throws -> R {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("b4b-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

/// A small labelled task in `d` dimensions: unit-norm rows around `classes` centres. The
/// centres depend on `task` only, so a train and a test set of one task (same `task`, other
/// `seed`) share them.
func clusteredTask(rows: Int, d: Int, classes: Int, seed: UInt64, task: UInt64 = 0) -> (Matrix, [Int]) {
    var centreGenerator = RandomGenerator(seed: RandomSeed(task, 7, 7, 7))
    let centres = Matrix.gaussian(rows: classes, columns: d, using: &centreGenerator).rowsNormalized()
    var generator = RandomGenerator(seed: RandomSeed(seed, 1, 2, 3))
    let noise = Matrix.gaussian(rows: rows, columns: d, standardDeviation: 0.4 / Float(d).squareRoot(), using: &generator)
    let labels = (0 ..< rows).map { ($0 * 7 + 3) % classes }
    let x = Matrix(rows: rows, columns: d) { i, j in centres[labels[i], j] + noise[i, j] }
    return (x.rowsNormalized(), labels)
}

/// Rows spread over the whole sphere (a broad pool of queries).
func spreadRows(_ rows: Int, d: Int, seed: UInt64) -> Matrix {
    var generator = RandomGenerator(seed: RandomSeed(seed, 9, 9, 9))
    return Matrix.gaussian(rows: rows, columns: d, using: &generator).rowsNormalized()
}

/// Reads a file in `directory` as text.
func text(_ directory: URL, _ name: String) throws -> String {
    try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
}

/// Parses a JSON file in `directory`.
func json(_ directory: URL, _ name: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(name)))
}
