import ArgumentParser
import Defense
import Evaluation
import Foundation
import NumericKernels

/// `b4b protect`: streams an `.npy` of representations through the defense for one account
/// and writes what the API would answer.
struct ProtectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "protect",
        abstract: "Stream an .npy of representations through the defense for one user and write the protected .npy.",
        discussion: """
            The input is read in requests of --batch rows (memory-mapped, never loaded whole) and \
            each request is priced by the user's coverage at that point, exactly as an API would \
            serve it. Writes into --output-dir: protected.npy (rows x output dimension, float32), \
            protect.csv (one line per request: first_row, rows, coverage, sigma) and protect.json \
            (a summary). Nothing is written, and --state is left as it was, if any row is rejected \
            (NaN, infinity, wrong dimension).
            """)

    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("Representations to protect: a 2-D float32/float64 .npy (rows x d).", valueName: "npy"))
    var input: String

    @Option(help: "The account id whose coverage prices the queries and whose transform is applied.")
    var user: String

    @Option(help: ArgumentHelp(
        "Defense configuration (JSON; partial files keep the defaults for what they omit; a missing \"dimension\" is taken from the input). Default: the paper's defaults.",
        valueName: "json"))
    var config: String?

    @Option(help: ArgumentHelp(
        "Server secret file (at least 32 bytes), created with 32 random bytes if missing. Default: a fresh secret that is not saved, so transforms differ on every run.",
        valueName: "file"))
    var secret: String?

    @Option(help: ArgumentHelp(
        "Occupancy state file (JSON, one snapshot per user): read before the run if it exists, written back atomically after a successful run, so coverage accumulates across runs. Default: none (the user starts with no coverage).",
        valueName: "json"))
    var state: String?

    @Option(help: "Rows per request sent to the defense.")
    var batch: Int = 256

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard !user.isEmpty else { throw ValidationError("--user must not be empty") }
    }

    func run() throws {
        useBLAS(threads: 1)
        let header: NPYHeader
        do { header = try NPY.header(input) } catch { throw CommandError("--input: \(error)") }
        guard header.shape.count == 2 else {
            throw CommandError("--input '\(input)': expected a 2-D array (rows x d), found shape \(header.shape)")
        }
        let (rows, dimension) = (header.shape[0], header.shape[1])
        var configuration = try ConfigurationFile.load(config, dimension: dimension)
        configuration.maxBatchRows = max(configuration.maxBatchRows, batch)
        let serverSecret: ServerSecret
        if let secret {
            serverSecret = try SecretFile.loadOrCreate(secret)
        } else {
            note("no --secret given: using a fresh secret that is not saved (transforms will differ on the next run)")
            serverSecret = ServerSecret.generate()
        }
        let defense: B4BDefense
        do { defense = try B4BDefense(configuration: configuration, secret: serverSecret) } catch {
            throw CommandError("configuration: \(error)")
        }
        var snapshots = try loadState(defense: defense)

        let directory = try output.prepare()
        let progress = ProgressReporter("protect", total: rows)
        var requests = CSVTable(columns: ["first_row", "rows", "coverage", "sigma"])
        try NPY.writeMatrix(to: directory.file("protected.npy"), rows: rows, columns: configuration.outputDimension) { append in
            try NPY.forEachRowBlock(input, blockRows: batch) { first, block in
                let answer: ProtectedBatch
                do { answer = try defense.protect(block, user: user) } catch {
                    throw CommandError("--input: request of rows \(first)..<\(first + block.rows): \(error)")
                }
                try answer.representations.withView { try append($0) }
                requests.append([.integer(first), .integer(block.rows), .number(answer.coverage.last ?? 0),
                                 .number(Double(answer.sigma.last ?? 0))])
                progress.advance(by: block.rows, String(format: "coverage %.4f", answer.coverage.last ?? 0))
            }
        }
        snapshots[user] = defense.exportOccupancy(of: user)
        try directory.write(requests.text, to: "protect.csv")
        let summary = ProtectSummary(
            user: user, rows: rows, inputDimension: dimension, outputDimension: configuration.outputDimension,
            requests: requests.rows.count, coverage: defense.coverage(of: user),
            sigma: Double(defense.currentSigma(of: user)), transforms: configuration.transforms.map(\.name))
        try directory.writeJSON(summary, to: "protect.json")
        if let state { try saveState(snapshots, to: state) }
        print(String(format: "protected %d rows for user '%@': coverage %.4f, sigma %.4g; wrote %@",
                     rows, user, summary.coverage, summary.sigma, directory.file("protected.npy")))
    }

    private func loadState(defense: B4BDefense) throws -> [String: OccupancySnapshot] {
        guard let state, FileManager.default.fileExists(atPath: state) else { return [:] }
        let snapshots: [String: OccupancySnapshot]
        do {
            snapshots = try JSONDecoder().decode([String: OccupancySnapshot].self, from: Data(contentsOf: URL(fileURLWithPath: state)))
        } catch let error as DecodingError {
            throw CommandError("--state '\(state)': not a valid occupancy state file: \(error.locatedDescription)")
        } catch {
            throw CommandError("--state '\(state)': cannot be read: \(error.localizedDescription)")
        }
        if let snapshot = snapshots[user] {
            do { try defense.importOccupancy(snapshot, for: user, mode: .replace) } catch {
                throw CommandError("--state '\(state)': the snapshot of '\(user)' does not fit this configuration: \(error)")
            }
        }
        return snapshots
    }

    private func saveState(_ snapshots: [String: OccupancySnapshot], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            try encoder.encode(snapshots).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CommandError("cannot write --state '\(path)': \(error.localizedDescription)")
        }
    }
}

/// The summary `b4b protect` writes to `protect.json`.
struct ProtectSummary: Codable {
    var user: String
    var rows: Int
    var inputDimension: Int
    var outputDimension: Int
    var requests: Int
    /// Fraction of buckets the user occupies after the run.
    var coverage: Double
    /// Noise standard deviation the user's next query would get.
    var sigma: Double
    var transforms: [String]
}
