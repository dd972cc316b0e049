import ArgumentParser
import Defense
import Evaluation
import Foundation
import NumericKernels

/// Where a subcommand writes its results; created if missing.
struct OutputOptions: ParsableArguments {
    @Option(name: .customLong("output-dir"), help: ArgumentHelp(
        "Directory the results are written into (created if missing; existing files of the same name are replaced atomically).",
        valueName: "dir"))
    var outputDirectory: String

    /// Creates the directory.
    func prepare() throws -> OutputDirectory {
        do {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("cannot create --output-dir '\(outputDirectory)': \(error.localizedDescription)")
        }
        return OutputDirectory(path: outputDirectory)
    }
}

/// An output directory; every file is written atomically (temporary file, then rename).
struct OutputDirectory {
    let path: String

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func write(_ text: String, to name: String) throws {
        try write(Data(text.utf8), to: name)
    }

    func write(_ data: Data, to name: String) throws {
        let target = file(name)
        do {
            try data.write(to: URL(fileURLWithPath: target), options: .atomic)
        } catch {
            throw CommandError("cannot write '\(target)': \(error.localizedDescription)")
        }
    }

    /// Pretty-printed JSON with sorted keys (stable for diffs and scripts).
    func writeJSON(_ value: some Encodable, to name: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try write(try encoder.encode(value), to: name)
    }
}

/// A failure of a subcommand that is not a usage error; its message names the problem.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Loading a defense configuration file, defaulting what it leaves out.
enum ConfigurationFile {
    /// Reads `path` (a partial JSON ``DefenseConfiguration``); when the file does not set
    /// `dimension`, it is taken from the data (`dimension`).
    static func load(_ path: String?, dimension: Int) throws -> DefenseConfiguration {
        guard let path else {
            var configuration = DefenseConfiguration()
            configuration.dimension = dimension
            return configuration
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CommandError("cannot read configuration '\(path)': \(error.localizedDescription)")
        }
        // A file that does not state the dimension gets the data's before validation (a
        // fitted hasher or calibration of that dimension must validate against it).
        var document = data
        if var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], object["dimension"] == nil {
            object["dimension"] = dimension
            document = (try? JSONSerialization.data(withJSONObject: object)) ?? data
        }
        let configuration: DefenseConfiguration
        do {
            configuration = try DefenseConfiguration.decode(from: document)
        } catch {
            throw CommandError("configuration '\(path)': \(error)")
        }
        guard configuration.dimension == dimension else {
            throw CommandError("configuration '\(path)' sets dimension \(configuration.dimension) but the data has \(dimension) columns")
        }
        return configuration
    }
}

/// The server secret file: read if present, created (32 random bytes, mode 0600) if not.
enum SecretFile {
    static func loadOrCreate(_ path: String) throws -> ServerSecret {
        if FileManager.default.fileExists(atPath: path) {
            let bytes: [UInt8]
            do {
                bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw CommandError("cannot read secret '\(path)': \(error.localizedDescription)")
            }
            do {
                return try ServerSecret(bytes: bytes)
            } catch {
                throw CommandError("secret '\(path)': \(error)")
            }
        }
        let secret = ServerSecret.generate()
        let created = FileManager.default.createFile(
            atPath: path, contents: Data(secret.rawBytes), attributes: [.posixPermissions: 0o600])
        guard created else { throw CommandError("cannot create secret file '\(path)'") }
        note("created a new server secret in '\(path)' (keep it: it fixes every account's transform)")
        return secret
    }

    /// A secret derived from a seed, for reproducible experiments (never for serving).
    static func experiment(seed: UInt64) -> ServerSecret {
        var generator = RandomGenerator(seed: RandomSeed(seed, 0xB4B, 0x5EC, 0x2E7))
        let bytes = (0..<32).map { _ in UInt8.random(in: 0 ... .max, using: &generator) }
        return try! ServerSecret(bytes: bytes)  // 32 bytes always satisfy the length check
    }
}

/// Reads a float matrix, turning the library's error into a command error naming the option.
func readMatrix(_ path: String, option: String) throws -> Matrix {
    do { return try NPY.readMatrix(path) } catch { throw CommandError("\(option): \(error)") }
}

/// Reads integer labels, checking their count against the matching matrix.
func readLabels(_ path: String, option: String, rows: Int) throws -> [Int] {
    let labels: [Int]
    do { labels = try NPY.readLabels(path) } catch { throw CommandError("\(option): \(error)") }
    guard labels.count == rows else {
        throw CommandError("\(option): \(labels.count) labels for \(rows) rows")
    }
    guard labels.allSatisfy({ $0 >= 0 }) else { throw CommandError("\(option): labels must be non-negative class indices") }
    return labels
}

/// Parses a comma-separated list of positive integers (`100,250,500`).
func parseCounts(_ text: String, option: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    let values = parts.map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
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
    return LabelledTask(name: named.name,
                        train: train, trainLabels: try readLabels(file("train_labels.npy"), option: option, rows: train.rows),
                        test: test, testLabels: try readLabels(file("test_labels.npy"), option: option, rows: test.rows))
}
