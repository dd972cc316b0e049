import ArgumentParser
import CommandFiles
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
            (NaN, infinity, wrong dimension), or if any destination cannot be written: every \
            destination is checked before the run, and the results, a new --secret and --state \
            are moved into place together at its end.
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

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Rows per request sent to the defense; at most the configuration's maxBatchRows (default: 256, or maxBatchRows when smaller).",
        valueName: "rows"))
    var batch: Int?

    func validate() throws {
        try refuseRepeatedOptions()
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard !user.isEmpty else { throw ValidationError("--user must not be empty") }
        // It is printed and written into --state and protect.json as given.
        try refuseUnprintable(user, option: "--user")
        guard user.utf8.count <= B4BDefense.maxUserIDBytes else {
            throw ValidationError("--user is \(user.utf8.count) bytes of UTF-8, the limit is \(B4BDefense.maxUserIDBytes)")
        }
    }

    func run() throws {
        useBLAS(threads: 1)
        // Every destination is checked before anything is computed; the results, the new
        // secret and the state are staged and moved into place together at the end.
        let results = ["protected.npy", "protect.csv", "protect.json"]
        let directory = try output.prepare(files: results)
        // No file may play two parts (the state over the secret or a result, a result over
        // the input): each would silently replace the other.
        var parts: [(option: String, path: String)] = [("--input", input)]
        if let secret { parts.append(("--secret", secret)) }
        if let state { parts.append(("--state", state)) }
        parts += results.map { ("--output-dir", directory.file($0)) }
        try Files.checkDistinct(parts)
        // The state is read now and replaced at the end: another run on the same file meanwhile
        // would have one of the two runs' accounts silently dropped. An existing state is
        // locked for the run; a new one is created only if no other run created it first.
        var stateLock: ReplacementLock?
        if let state {
            try Files.checkWritableFile(state, option: "--state")
            stateLock = try ReplacementLock.lock(state, option: "--state")
        }
        let header: NPYHeader
        do { header = try NPY.header(input) } catch { throw CommandError("--input: \(error)") }
        guard header.shape.count == 2 else {
            throw CommandError("--input '\(input)': expected a 2-D array (rows x d), found shape \(header.shape)")
        }
        // Checked before the state is read, whose snapshots would otherwise be blamed.
        guard NPY.holdsFloats(header) else {
            throw CommandError("--input '\(input)' has dtype '\(header.descr)'; representations are float32 or float64 ('<f4' or '<f8')")
        }
        let (rows, dimension) = (header.shape[0], header.shape[1])
        guard rows > 0 else { throw CommandError("--input '\(input)' has no rows") }
        // Named here as the input's fault, not the configuration's (which takes its dimension).
        guard (1...DefenseConfiguration.largestDimension).contains(dimension) else {
            throw CommandError("--input '\(input)' has \(dimension) columns; a representation has 1...\(DefenseConfiguration.largestDimension)")
        }
        let configuration = try ConfigurationFile.load(config, dimension: dimension)
        if let batch, batch > configuration.maxBatchRows {
            throw CommandError("--batch \(batch) is above the configuration's maxBatchRows \(configuration.maxBatchRows)")
        }
        let requestRows = batch ?? min(256, configuration.maxBatchRows)
        let serverSecret: ServerSecret
        var newSecret = false
        if let secret {
            (serverSecret, newSecret) = try SecretFile.load(secret)
        } else {
            note("no --secret given: using a fresh secret that is not saved (transforms will differ on the next run)")
            serverSecret = ServerSecret.generate()
        }
        let defense: B4BDefense
        do { defense = try B4BDefense(configuration: configuration, secret: serverSecret) } catch {
            throw CommandError("configuration: \(error)")
        }
        var snapshots = try loadState(defense: defense)
        try stateLock?.checkUnchanged()

        let largestValue = configuration.largestInputMagnitude
        let progress = ProgressReporter("protect", total: rows)
        var requests = CSVTable(columns: ["first_row", "rows", "coverage", "sigma"])
        let protectedPath = try directory.streamingPath(for: "protected.npy")
        try NPY.writeMatrix(to: protectedPath, rows: rows, columns: configuration.outputDimension, creatingNew: true) { append in
            do {
                try NPY.forEachRowBlock(input, blockRows: requestRows) { first, block in
                // Values the transforms could overflow into infinite answers (finite ones only:
                // a NaN or an infinity is the defense's to report).
                if let k = block.withUnsafeBufferPointer({ $0.firstIndex { $0.isFinite && abs($0) > largestValue } }) {
                    let (row, column) = (k / block.columns, k % block.columns)
                    throw CommandError("--input '\(input)' has \(block[row, column]) at row \(first + row), column \(column); the defense takes values of magnitude at most \(largestValue) (larger ones could overflow its transforms)")
                }
                let answer: ProtectedBatch
                do { answer = try defense.protect(block, user: user) } catch let error as ProtectError {
                    throw CommandError("--input '\(input)': \(describe(error, block: block, firstRow: first, storedAs: header.descr))")
                }
                try answer.representations.withView { try append($0) }
                requests.append([.integer(first), .integer(block.rows), .number(answer.coverage.last ?? 0),
                                 .number(Double(answer.sigma.last ?? 0))])
                progress.advance(by: block.rows, String(format: "coverage %.4f", answer.coverage.last ?? 0))
                }
            } catch let error as NPYError {
                // Reading the input or writing the protected rows (a full disk, say).
                throw CommandError("\(error.path == input ? "--input" : "--output-dir"): \(error)")
            }
        }
        snapshots[user] = defense.exportOccupancy(of: user)
        try directory.write(requests.text, to: "protect.csv")
        let summary = ProtectSummary(
            user: user, rows: rows, inputDimension: dimension, outputDimension: configuration.outputDimension,
            requests: requests.rows.count, coverage: defense.coverage(of: user),
            sigma: Double(defense.currentSigma(of: user)), transforms: configuration.transforms.map(\.name))
        try directory.writeJSON(summary, to: "protect.json")
        if let secret, newSecret { try SecretFile.save(serverSecret, to: secret, staged: directory.staged) }
        if let state { try stageState(snapshots, to: state, createOnly: stateLock == nil, staged: directory.staged) }
        try stateLock?.checkUnchanged()
        try directory.commit()
        stateLock?.release()  // only now: the lock covers the commit
        if let secret, newSecret {
            note("created a new server secret in '\(secret)' (keep it: it fixes every account's transform)")
        }
        print(String(format: "protected %d rows for user '%@': coverage %.4f, sigma %.4g; wrote %@",
                     rows, user, summary.coverage, summary.sigma, directory.file("protected.npy")))
    }

    /// A rejected request in terms of the input file: rows are the file's, a non-finite value
    /// is located in the file, and a float64 value beyond Float32's range is called so.
    private func describe(_ error: ProtectError, block: Matrix, firstRow: Int, storedAs descr: String) -> String {
        if error.code == .nonFinite {
            let located = block.withUnsafeBufferPointer { $0.firstIndex { !$0.isFinite } }
            if let located {
                let (row, column) = (located / max(block.columns, 1), located % max(block.columns, 1))
                let value = block[row, column]
                let what = value.isNaN ? "NaN" : (descr.hasSuffix("f8") ? "infinite or beyond the range of float32 (±3.4e38)" : "infinite")
                return "row \(firstRow + row), column \(column) is \(what); every value must be a finite number"
            }
        }
        return "rows \(firstRow)..<\(firstRow + block.rows): \(error.message)"
    }

    private func loadState(defense: B4BDefense) throws -> [String: OccupancySnapshot] {
        guard let state, Files.kind(state) != .missing else { return [:] }
        let data = try Files.read(state, what: "--state '\(state)'")
        let snapshots: [String: OccupancySnapshot]
        let valid = (try? JSONSerialization.jsonObject(with: data)) != nil
        if valid {
            // A reader keeps one of two equal keys without a word: an account given twice
            // (or a field of one) would silently lose the other.
            do { try ConfigurationJSON.checkDuplicateKeys(data) } catch let error as ConfigurationError {
                throw CommandError("--state '\(state)': not a valid occupancy state file: '\(error.field)' \(error.message)")
            }
        }
        do {
            snapshots = try JSONDecoder().decode([String: OccupancySnapshot].self, from: data)
        } catch let error as DecodingError {
            if valid, case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                // Foundation's decoder reports a number that does not fit its field as invalid JSON.
                throw CommandError("--state '\(state)': not a valid occupancy state file: a number does not fit its field (negative, fractional or too large where a count or a word of bucket bits is expected)")
            }
            throw CommandError("--state '\(state)': not a valid occupancy state file: \(error.locatedDescription)")
        }
        if let snapshot = snapshots[user] {
            do { try defense.importOccupancy(snapshot, for: user, mode: .replace) } catch {
                throw CommandError("--state '\(state)': the snapshot of '\(user)' does not fit this configuration (dimension \(defense.configuration.dimension), the columns of --input): \(error)")
            }
        }
        return snapshots
    }

    /// Stages the state file (an existing file's permissions are kept by the commit).
    private func stageState(_ snapshots: [String: OccupancySnapshot], to path: String, createOnly: Bool, staged: StagedFiles) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try staged.stage(try encoder.encode(snapshots), to: path, option: "--state", createOnly: createOnly)
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
