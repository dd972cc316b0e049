import ArgumentParser
import Evaluation
import Foundation
import NumericKernels

/// `b4b probe`: the paper's utility measure, a linear probe trained on representations.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Train a linear probe on representations and report its test accuracy.",
        discussion: """
            logistic: multinomial logistic regression fitted to convergence by L-BFGS on the \
            full batch, the objective of scikit-learn's LogisticRegression(C) (L2 on the \
            weights, intercepts free), on features standardised with the training mean and \
            standard deviation. ridge: least-squares classifier on one-hot targets (fast). \
            Writes probe.csv and probe.json into --output-dir, one row per classifier.
            """)

    @OptionGroup var output: OutputOptions

    @OptionGroup var task: TaskFileOptions

    @Option(help: "Which probe to train: logistic, ridge, or both.")
    var classifier: ProbeChoice = .both

    @Option(name: .customLong("C"), parsing: .unconditional, help: "Inverse L2 regularisation strength C of the logistic probe (larger: less regularised; 1e-8...1e8).")
    var inverseRegularization: Double = 1

    @Option(parsing: .unconditional, help: "Ridge penalty lambda of the ridge classifier (positive, within float32's range: 1.2e-38...3.4e38).")
    var lambda: Double = 1

    @Option(parsing: .unconditional, help: "Largest number of L-BFGS iterations of the logistic probe.")
    var maxIterations: Int = 1000

    @Option(parsing: .unconditional, help: "Convergence tolerance of the logistic probe: max-norm of the gradient of the mean loss.")
    var tolerance: Double = 1e-4

    @Flag(help: "Fit on the raw features instead of standardising them with the training mean and standard deviation.")
    var noStandardize = false

    enum ProbeChoice: String, ExpressibleByArgument, CaseIterable {
        case logistic, ridge, both
    }

    func validate() throws {
        try refuseRepeatedOptions()
        // Beyond these the objective is all penalty (or none) in double precision, and L-BFGS
        // stops at once without converging.
        guard inverseRegularization.isFinite, (1e-8...1e8).contains(inverseRegularization) else {
            throw ValidationError("--C must be in 1e-8...1e8, got \(inverseRegularization)")
        }
        // Parsed as a double so that the message repeats the value given (a float would have
        // turned 1e308 into inf and 1e-50 into 0).
        guard lambda.isFinite, lambda >= Double(Float.leastNormalMagnitude), lambda <= Double(Float.greatestFiniteMagnitude) else {
            throw ValidationError("--lambda must be a positive number within float32's range (1.2e-38...3.4e38), got \(lambda)")
        }
        guard maxIterations >= 1 else { throw ValidationError("--max-iterations must be at least 1, got \(maxIterations)") }
        guard tolerance.isFinite, tolerance >= 0 else { throw ValidationError("--tolerance must be a non-negative number, got \(tolerance)") }
    }

    func run() throws {
        useBLAS(threads: BLASThreads.processorCount)
        let directory = try output.prepare(files: ["probe.csv", "probe.json"])
        let (x, y, xt, yt) = try task.load()
        // Labels are at most `largestLabel` (checked on reading), so this cannot overflow; a
        // class count beyond the rows is a damaged labels file, not a task.
        let classCount = max(y.max() ?? 0, yt.max() ?? 0) + 1
        guard classCount <= x.rows + xt.rows else {
            let (option, file, label) = (y.max() ?? 0) >= (yt.max() ?? 0)
                ? ("--train-labels", task.trainLabels, y.max() ?? 0) : ("--test-labels", task.testLabels, yt.max() ?? 0)
            throw CommandError("\(option) '\(file)': label \(label) implies \(classCount) classes, more than the task's \(x.rows + xt.rows) rows")
        }
        if classifier != .logistic {
            try requireMemory(squareSystemBytes(x.columns), for: "the ridge classifier on --train '\(task.train)' (\(x.columns) features)")
        }
        var results: [ProbeResult] = []
        let clock = ContinuousClock()
        if classifier != .ridge {
            let started = clock.now
            let options = LogisticProbe.Options(inverseRegularization: inverseRegularization, standardize: !noStandardize,
                                                maxIterations: maxIterations, tolerance: tolerance)
            let probe = try fit { try LogisticProbe.fit(features: x, labels: y, classCount: classCount, options: options) }
            let seconds = (clock.now - started) / .seconds(1)
            results.append(ProbeResult(
                classifier: "logistic", trainRows: x.rows, testRows: xt.rows, features: x.columns, classes: classCount,
                trainAccuracy: try probe.accuracy(x, labels: y), testAccuracy: try probe.accuracy(xt, labels: yt),
                iterations: probe.iterations, converged: probe.converged, seconds: seconds))
        }
        if classifier != .logistic {
            let started = clock.now
            let options = RidgeClassifier.Options(lambda: Float(lambda), standardize: !noStandardize)
            let ridge = try fit { try RidgeClassifier.fit(features: x, labels: y, classCount: classCount, options: options) }
            let seconds = (clock.now - started) / .seconds(1)
            results.append(ProbeResult(
                classifier: "ridge", trainRows: x.rows, testRows: xt.rows, features: x.columns, classes: classCount,
                trainAccuracy: accuracy(try ridge.predict(x), y), testAccuracy: accuracy(try ridge.predict(xt), yt),
                iterations: nil, converged: nil, seconds: seconds))
        }

        var table = CSVTable(columns: ["classifier", "train_rows", "test_rows", "features", "classes",
                                       "train_accuracy", "test_accuracy", "iterations", "converged", "seconds"])
        for r in results {
            table.append([.text(r.classifier), .integer(r.trainRows), .integer(r.testRows), .integer(r.features),
                          .integer(r.classes), .number(r.trainAccuracy), .number(r.testAccuracy),
                          r.iterations.map(CSVTable.Cell.integer) ?? .missing,
                          r.converged.map { .text($0 ? "true" : "false") } ?? .missing, .number(r.seconds)])
            print(String(format: "%@: test accuracy %.2f %% (train %.2f %%)%@, %.2f s", r.classifier, 100 * r.testAccuracy,
                         100 * r.trainAccuracy,
                         r.iterations.map { ", \($0) iterations" + (r.converged == true ? ", converged" : ", NOT converged") } ?? "",
                         r.seconds))
        }
        try directory.write(table.text, to: "probe.csv")
        try directory.writeJSON(results, to: "probe.json")
        try directory.commit()
    }

    /// Runs a fit, naming the problem when the data are unsuitable.
    private func fit<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as ProbeError { throw CommandError("probe: \(error.message)") }
    }
}

/// One probe's result, as written to `probe.json`.
struct ProbeResult: Codable {
    var classifier: String
    var trainRows: Int
    var testRows: Int
    var features: Int
    var classes: Int
    /// Fractions in [0, 1].
    var trainAccuracy: Double
    var testAccuracy: Double
    /// L-BFGS iterations (logistic only).
    var iterations: Int?
    var converged: Bool?
    /// Wall time of the fit.
    var seconds: Double
}
