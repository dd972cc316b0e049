import ArgumentParser
import CommandFiles
import Defense
import Evaluation
import Foundation
import NumericKernels

/// Where a subcommand writes its results; created if missing.
struct OutputOptions: ParsableArguments {
    @Option(name: .customLong("output-dir"), help: ArgumentHelp(
        "Directory the results are written into (created if missing; existing files of the same name are replaced, all together at the end of a successful run).",
        valueName: "dir"))
    var outputDirectory: String

    /// Checks, before any computation and creating nothing, that the directory exists or can
    /// be created and that none of `files` (the results' names) is a directory or a special
    /// file; the results are then staged and written together by ``OutputDirectory/commit()``.
    func prepare(files: [String] = []) throws -> OutputDirectory {
        try Files.checkDirectory(outputDirectory, option: "--output-dir")
        let directory = OutputDirectory(path: outputDirectory, files: Set(files))
        for name in files { try directory.checkFile(name) }
        return directory
    }
}

/// An output directory whose files are staged (each written in full beside its destination)
/// and renamed into place together by ``commit()``: a failed run leaves every earlier result
/// as it was, and creates no directory.
final class OutputDirectory {
    let path: String
    /// The run's staged files; the --state and --secret files of `protect` join them.
    let staged = StagedFiles()
    /// The names of the results, checked by ``OutputOptions/prepare(files:)`` before the
    /// run; writing any other name is a programming error (it would be checked only late).
    let files: Set<String>

    init(path: String, files: Set<String>) {
        self.path = path
        self.files = files
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Refuses a result name that a directory or a special file occupies.
    func checkFile(_ name: String) throws {
        switch Files.kind(file(name)) {
        case .directory: throw CommandError("--output-dir: '\(file(name))' is a directory, not a file")
        case .other: throw CommandError("--output-dir: '\(file(name))' is not a regular file")
        case .regularFile:
            // A result made read-only is not replaced behind its owner's back.
            guard Files.isWritable(file(name)) else { throw CommandError("--output-dir: '\(file(name))' is not writable") }
        case .missing: break
        }
    }

    func write(_ text: String, to name: String) throws {
        try write(Data(text.utf8), to: name)
    }

    func write(_ data: Data, to name: String) throws {
        precondition(files.contains(name), "result '\(name)' was not declared to OutputOptions.prepare(files:)")
        try checkFile(name)
        try staged.createDirectory(path, option: "--output-dir")
        try staged.stage(data, to: file(name), option: "--output-dir")
    }

    /// A temporary path for the result `name`, written by the caller while it is computed and
    /// renamed into place by ``commit()``.
    func streamingPath(for name: String) throws -> String {
        precondition(files.contains(name), "result '\(name)' was not declared to OutputOptions.prepare(files:)")
        try checkFile(name)
        try staged.createDirectory(path, option: "--output-dir")
        return staged.temporaryPath(for: file(name), option: "--output-dir")
    }

    /// Pretty-printed JSON with sorted keys (stable for diffs and scripts).
    func writeJSON(_ value: some Encodable, to name: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try write(try encoder.encode(value), to: name)
    }

    /// Moves every staged file into place.
    func commit() throws { try staged.commit() }
}

/// A failure of a subcommand that is not a usage error; its message names the problem.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Refuses work whose largest arrays would not fit in this machine's memory: a failed
/// allocation stops a Swift program with a crash report instead of an error, so the need is
/// estimated from the inputs' shapes before any of it is allocated.
/// - Parameters:
///   - bytes: what the run holds at its peak (an estimate of its largest arrays).
///   - what: names the options (and files) that set the size, e.g. `"--train 'x.npy' (d = 100000)"`.
/// - Throws: ``CommandError`` (or `ValidationError` when `validating`) when `bytes` exceeds 80 %
///   of the physical memory.
func requireMemory(_ bytes: Double, for what: String, validating: Bool = false) throws {
    let memory = Double(ProcessInfo.processInfo.physicalMemory)
    guard bytes > 0.8 * memory else { return }
    let message = String(format: "%@ needs about %.1f GiB, more than this machine's %.1f GiB of memory allows",
                         what, bytes / 1_073_741_824, memory / 1_073_741_824)
    if validating { throw ValidationError(message) }
    throw CommandError(message)
}

/// Bytes a `d x d` system takes while it is solved: three `d x d` float matrices (a ridge fit's
/// Gram matrix, its factor and right-hand sides; a covariance, its eigenvectors and LAPACK's
/// workspace).
func squareSystemBytes(_ d: Int) -> Double { 3 * Double(d) * Double(d) * Double(MemoryLayout<Float>.stride) }

/// Loading a defense configuration file, defaulting what it leaves out.
enum ConfigurationFile {
    /// Reads `path` (a partial JSON ``DefenseConfiguration``, given as `option`); when the
    /// file does not set `dimension`, it is taken from the data (`dimension`).
    static func load(_ path: String?, dimension: Int, option: String = "--config") throws -> DefenseConfiguration {
        guard let path else {
            var configuration = DefenseConfiguration()
            configuration.dimension = dimension
            return configuration
        }
        let data = try Files.read(path, what: "\(option) '\(path)'")
        let configuration: DefenseConfiguration
        do {
            configuration = try DefenseConfiguration.decode(from: data, dimension: dimension)
        } catch {
            throw CommandError("\(option) '\(path)': \(error)")
        }
        guard configuration.dimension == dimension else {
            throw CommandError("\(option) '\(path)' sets dimension \(configuration.dimension) but the data has \(dimension) columns")
        }
        return configuration
    }
}

/// The server secret file: read if present, created (32 random bytes, mode 0600) if not.
enum SecretFile {
    /// Reads the secret at `path`, or, when there is none, checks that one can be created
    /// there and generates it without writing it: `isNew` tells the caller to save it (with
    /// ``save(_:to:staged:)``) once the run has succeeded.
    static func load(_ path: String, option: String = "--secret") throws -> (secret: ServerSecret, isNew: Bool) {
        if Files.kind(path) == .missing, !path.isEmpty {
            try Files.checkWritableFile(path, option: option)
            return (ServerSecret.generate(), true)
        }
        guard !path.isEmpty else { throw CommandError("\(option) must not be empty") }
        let bytes = Array(try Files.read(path, what: "\(option) '\(path)'"))
        do {
            return (try ServerSecret(bytes: bytes), false)
        } catch {
            throw CommandError("\(option) '\(path)': \(error)")
        }
    }

    /// Stages a new secret for writing with owner-only permissions.
    static func save(_ secret: ServerSecret, to path: String, staged: StagedFiles, option: String = "--secret") throws {
        // Only ever a new secret: one that another run created meanwhile is never replaced.
        try staged.stage(Data(secret.rawBytes), to: path, option: option, mode: 0o600, createOnly: true)
    }

    /// A secret derived from a seed, for reproducible experiments (never for serving).
    static func experiment(seed: UInt64) -> ServerSecret {
        var generator = RandomGenerator(seed: RandomSeed(seed, 0xB4B, 0x5EC, 0x2E7))
        let bytes = (0..<32).map { _ in UInt8.random(in: 0 ... .max, using: &generator) }
        return try! ServerSecret(bytes: bytes)  // 32 bytes always satisfy the length check
    }
}

/// Reads a float matrix, turning the library's error into a command error naming the option;
/// an empty matrix (no rows) is refused unless `allowEmpty`.
func readMatrix(_ path: String, option: String, allowEmpty: Bool = false) throws -> Matrix {
    let matrix: Matrix
    do { matrix = try NPY.readMatrix(path) } catch { throw CommandError("\(option): \(error)") }
    guard allowEmpty || matrix.rows > 0 else { throw CommandError("\(option): '\(path)' has no rows") }
    // Checked here, so that a NaN is reported with the option and file it came from rather
    // than by whichever computation meets it first.
    let located = matrix.withUnsafeBufferPointer { $0.firstIndex { !$0.isFinite } }
    if let located {
        let (row, column) = (located / max(matrix.columns, 1), located % max(matrix.columns, 1))
        let value = matrix[row, column]
        throw CommandError("\(option): '\(path)' has \(value.isNaN ? "NaN" : "an infinite value (or one beyond float32's range)") at row \(row), column \(column); every value must be a finite number")
    }
    return matrix
}

/// Refuses a single-valued option given more than once (the parser would keep the last one
/// without a word); `repeatable` lists the options meant to be repeated.
func refuseRepeatedOptions(repeatable: Set<String> = [], arguments: [String] = CommandLine.arguments) throws {
    var seen = Set<String>()
    for argument in arguments.dropFirst() {
        if argument == "--" { break }
        guard argument.hasPrefix("--") else { continue }
        let name = String(argument.split(separator: "=", maxSplits: 1).first ?? "")
        guard !repeatable.contains(name) else { continue }
        guard seen.insert(name).inserted else { throw ValidationError("\(name) is given more than once; give it once") }
    }
}

/// The largest class index a labels file may hold: more classes than this is not a
/// classification task but a damaged file.
let largestLabel = (1 << 20) - 1

/// Reads integer labels, checking their count against the matching matrix and that each is a
/// class index in `0 ... largestLabel`.
func readLabels(_ path: String, option: String, rows: Int) throws -> [Int] {
    let labels: [Int]
    do { labels = try NPY.readLabels(path) } catch { throw CommandError("\(option): \(error)") }
    guard labels.count == rows else {
        throw CommandError("\(option): '\(path)' has \(labels.count) labels for \(rows) rows")
    }
    if let index = labels.firstIndex(where: { $0 < 0 || $0 > largestLabel }) {
        throw CommandError("\(option): '\(path)' has label \(labels[index]) at index \(index); labels must be class indices in 0...\(largestLabel)")
    }
    return labels
}

/// The items of a comma-separated list option: neither empty items nor repeated ones (a
/// repeat would only run the same work twice, an empty item is most likely a typo).
func listItems(_ text: String, option: String) throws -> [String] {
    let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    guard !items.contains(where: \.isEmpty) else {
        throw ValidationError("\(option) has an empty item in '\(text)' (write items separated by single commas)")
    }
    var seen = Set<String>()
    if let repeated = items.first(where: { !seen.insert($0).inserted }) {
        throw ValidationError("\(option) lists '\(repeated)' more than once")
    }
    return items
}

/// Parses a comma-separated list of distinct positive integers (`100,250,500`).
func parseCounts(_ text: String, option: String) throws -> [Int] {
    let values = try listItems(text, option: option).map { Int($0) }
    guard values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
        throw ValidationError("\(option) must be a comma-separated list of positive integers, got '\(text)'")
    }
    return values.map { $0! }
}

/// A labelled task's four files: train and test representations with their labels.
struct TaskFileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Task training representations (.npy, rows x d).", valueName: "npy"))
    var train: String
    @Option(help: ArgumentHelp("Task training labels (.npy, integer class indices).", valueName: "npy"))
    var trainLabels: String
    @Option(help: ArgumentHelp("Task test representations (.npy, rows x d).", valueName: "npy"))
    var test: String
    @Option(help: ArgumentHelp("Task test labels (.npy).", valueName: "npy"))
    var testLabels: String

    /// Reads the four files, checking label counts and that train and test have the same width.
    func load() throws -> (train: Matrix, trainLabels: [Int], test: Matrix, testLabels: [Int]) {
        let x = try readMatrix(train, option: "--train")
        let y = try readLabels(trainLabels, option: "--train-labels", rows: x.rows)
        let xt = try readMatrix(test, option: "--test")
        let yt = try readLabels(testLabels, option: "--test-labels", rows: xt.rows)
        guard xt.columns == x.columns else {
            throw CommandError("dimensions differ: --train has \(x.columns) columns, --test \(xt.columns)")
        }
        return (x, y, xt, yt)
    }
}

/// A task directory given as NAME=DIR, holding train.npy, train_labels.npy, test.npy and
/// test_labels.npy; errors name the option and the file.
func loadLabelledTask(_ named: NamedDataset, option: String = "--task") throws -> LabelledTask {
    func file(_ name: String) -> String { (named.path as NSString).appendingPathComponent(name) }
    let option = "\(option) \(named.name)"
    let train = try readMatrix(file("train.npy"), option: option)
    let test = try readMatrix(file("test.npy"), option: option)
    guard train.columns == test.columns else {
        throw CommandError("\(option): train.npy has \(train.columns) columns but test.npy has \(test.columns)")
    }
    let trainLabels = try readLabels(file("train_labels.npy"), option: option, rows: train.rows)
    // A probe needs two classes to separate; named here rather than by the classifier's fit.
    if let only = trainLabels.first, trainLabels.allSatisfy({ $0 == only }) {
        throw CommandError("\(option): '\(file("train_labels.npy"))' holds one class only (every label is \(only)); a probe needs two classes or more")
    }
    return LabelledTask(name: named.name,
                        train: train, trainLabels: trainLabels,
                        test: test, testLabels: try readLabels(file("test_labels.npy"), option: option, rows: test.rows))
}

extension Unicode.Scalar {
    /// A character that could forge or reorder lines where names and ids are printed: a control
    /// character (a newline, an escape sequence), a line or paragraph separator, or a
    /// bidirectional embedding, override or isolate (U+202A-202E, U+2066-2069). Names and ids
    /// holding one are refused, and one edited into a store is escaped where it is printed.
    /// Other format characters (the zero-width joiner and non-joiner of many scripts' names, a
    /// soft hyphen, emoji tags) are allowed.
    var isUnprintable: Bool {
        switch properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: true
        default: (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
        }
    }
}

/// Refuses `text`, given as `option`, if it holds a control or format character (see
/// `Unicode.Scalar.isUnprintable`), naming the first one.
func refuseUnprintable(_ text: String, option: String) throws {
    if let c = text.unicodeScalars.first(where: \.isUnprintable) {
        throw ValidationError("\(option) must not contain control, line-separator or bidirectional-control characters (found U+\(String(format: "%04X", c.value)))")
    }
}
