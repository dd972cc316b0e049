import Evaluation
import Foundation
import NumericKernels
import Testing
import TestSupport

/// Fixtures written by `Tests/Fixtures/make_probe_fixtures.py`: a 600-row train and 300-row
/// test slice of the e5 debian-sections10 task (first 32 columns, 10 classes) with
/// scikit-learn's and NumPy's answers on it.
@Suite("Probe")
struct ProbeTests {
    struct Data {
        let train: Matrix, trainLabels: [Int], test: Matrix, testLabels: [Int]
    }

    private func load(_ name: String) throws -> Fixture.Array { try Fixture.load(name) }

    private func data() throws -> Data {
        Data(train: try load("probe_train.npy").matrix, trainLabels: try load("probe_train_labels.npy").ints,
             test: try load("probe_test.npy").matrix, testLabels: try load("probe_test_labels.npy").ints)
    }

    /// Checks that `body` throws a ``ProbeError`` of exactly `kind`.
    private func expectError(
        _ kind: ProbeError.Kind, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("expected ProbeError \(kind), nothing was thrown", sourceLocation: sourceLocation)
        } catch let error as ProbeError {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected ProbeError \(kind), got \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Three well-separated clusters in the plane (`perClass` points each, labels 0, 1, 2).
    private func clusters(perClass: Int = 20) -> (Matrix, [Int]) {
        let centres: [(Float, Float)] = [(-5, 0), (5, 0), (0, 8)]
        var elements: [Float] = []
        var labels: [Int] = []
        for (label, centre) in centres.enumerated() {
            for i in 0 ..< perClass {
                let angle = Float(i) * 2.399963  // golden angle: points spread on a disc
                let radius = Float(i + 1) / Float(perClass)
                elements += [centre.0 + radius * cos(angle), centre.1 + radius * sin(angle)]
                labels.append(label)
            }
        }
        return (Matrix(rows: labels.count, columns: 2, elements: elements), labels)
    }

    // MARK: - Against scikit-learn and NumPy

    @Test func standardizerMatchesStandardScaler() throws {
        let d = try data()
        let expected = try load("probe_scaler.npy")
        let standardizer = try FeatureStandardizer.fit(d.train)
        #expect(standardizer.featureCount == 32)
        for j in 0 ..< 32 {
            // Both in Double from the same Float inputs: agreement to Double rounding.
            #expect(abs(standardizer.means[j] - expected.values[j]) <= 1e-12 * max(1, abs(expected.values[j])), "mean \(j)")
            #expect(abs(standardizer.scales[j] / expected.values[32 + j] - 1) <= 1e-10, "scale \(j)")
        }
        // Applied: zero mean, unit population variance, in Float.
        let z = try standardizer.apply(d.train)
        for j in 0 ..< 32 {
            let column = (0 ..< z.rows).map { Double(z[$0, j]) }
            let mean = column.reduce(0, +) / Double(z.rows)
            let variance = column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(z.rows)
            #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-5, "column \(j): mean \(mean), variance \(variance)")
        }
    }

    /// Tolerances: scikit-learn ran to `tol = 1e-8` (its optimum, to double precision); we stop
    /// at a scaled gradient max-norm of 1e-7, well above where our Float GEMMs make the gradient
    /// unreliable (~5e-9, where the line search stalls on this data). The distance to the
    /// optimum is at most `|g| / μ` per direction, `μ >= 1 / (C n) = 1/600` being the penalty's
    /// curvature of the scaled loss: at most 6e-5 in the flattest direction, far less in the
    /// others. Hence 1e-4 relative Frobenius error on coefficients and intercepts (observed
    /// 4e-6 and 9e-6) and 1e-4 absolute on probabilities (observed 1.1e-5); at `tol = 1e-8` the
    /// observed errors fall to ~5e-7, the Float rounding floor.
    @Test func logisticProbeMatchesScikitLearn() throws {
        let d = try data()
        let probe = try LogisticProbe.fit(features: d.train, labels: d.trainLabels,
                                          options: .init(inverseRegularization: 1, tolerance: 1e-7))
        #expect(probe.converged, "termination \(probe.termination), gradient \(probe.gradientMaxNorm)")
        #expect(probe.classes == Array(0 ..< 10) && probe.classCount == 10)
        #expect(probe.weights.rows == 32 && probe.weights.columns == 10 && probe.bias.count == 10)

        let coefficients = try load("probe_coef.npy")
        let intercept = try load("probe_intercept.npy")
        #expect(coefficients.shape == [32, 10] && intercept.shape == [10])
        let weightError = relativeFrobeniusError(probe.weights, coefficients.values)
        #expect(weightError < 1e-4, "weights: \(compare(probe.weights, coefficients.values, columns: 10, floor: 1e-2))")
        let biasError = relativeFrobeniusError(Matrix(rows: 1, columns: 10, elements: probe.bias), intercept.values)
        #expect(biasError < 1e-4)

        let probabilities = try probe.probabilities(d.test)
        let expected = try load("probe_proba.npy").values
        let worst = zip(probabilities.elements, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
        #expect(worst < 1e-4, "largest probability difference \(worst)")

        let accuracy = try probe.accuracy(d.test, labels: d.testLabels)
        #expect(accuracy == (try load("probe_accuracy.npy").values[0]))
        #expect(try probe.predict(d.test) == (try load("probe_predictions.npy").ints))
    }

    /// With two classes the softmax probe with C equals scikit-learn's binary logistic
    /// regression with 2C, through `coef_ = w₁ − w₀`, `intercept_ = b₁ − b₀`.
    @Test func binaryProbeMatchesScikitLearnWithDoubledC() throws {
        let d = try data()
        let rows = d.trainLabels.indices.filter { d.trainLabels[$0] <= 1 }
        let features = Matrix(rows: rows.count, columns: 32) { i, j in d.train[rows[i], j] }
        let labels = rows.map { d.trainLabels[$0] }
        let probe = try LogisticProbe.fit(features: features, labels: labels,
                                          options: .init(inverseRegularization: 1, tolerance: 1e-7))
        #expect(probe.converged)
        let difference = Matrix(rows: 1, columns: 33) { _, j in
            j < 32 ? probe.weights[j, 1] - probe.weights[j, 0] : probe.bias[1] - probe.bias[0]
        }
        let expected = try load("probe_binary_coef.npy").values
        #expect(relativeFrobeniusError(difference, expected) < 1e-4,
                "\(compare(difference, expected, columns: 33, floor: 1e-2))")
        // The L2 optimum splits the logit difference symmetrically.
        for j in 0 ..< 32 { #expect(abs(probe.weights[j, 0] + probe.weights[j, 1]) < 1e-4) }
    }

    @Test func ridgeClassifierMatchesNumPy() throws {
        let d = try data()
        let ridge = try RidgeClassifier.fit(features: d.train, labels: d.trainLabels, options: .init(lambda: 10))
        let expected = try load("probe_ridge.npy")
        #expect(expected.shape == [33, 10])
        let stacked = Matrix(rows: 33, columns: 10, elements: ridge.weights.elements + ridge.bias)
        // A Float Cholesky of a well-conditioned 32 x 32 system (standardised features, λ = 10).
        #expect(relativeFrobeniusError(stacked, expected.values) < 1e-4,
                "\(compare(stacked, expected.values, columns: 10, floor: 1e-2))")
        #expect(try ridge.predict(d.test) == (try load("probe_ridge_predictions.npy").ints))
        let scores = try ridge.scores(d.test)
        #expect(scores.rows == 300 && scores.columns == 10)
    }

    // MARK: - Invariants

    @Test func lossDecreasesMonotonically() throws {
        let d = try data()
        let probe = try LogisticProbe.fit(features: d.train, labels: d.trainLabels)
        #expect(probe.lossHistory.count == probe.iterations + 1)
        #expect(abs(probe.lossHistory[0] - log(10.0)) < 1e-6, "the zero model's loss is log K")
        for i in 1 ..< probe.lossHistory.count {
            #expect(probe.lossHistory[i] < probe.lossHistory[i - 1], "iteration \(i)")
        }
        #expect(probe.loss == probe.lossHistory.last)
        #expect(probe.lineSearchEvaluations >= probe.iterations)
    }

    /// The gradient at the returned weights, recomputed here in Double from the Float weights,
    /// is below the tolerance (plus the effect of rounding the weights to Float).
    @Test func gradientAtTheSolutionIsBelowTolerance() throws {
        let d = try data()
        let tolerance = 1e-4
        let probe = try LogisticProbe.fit(features: d.train, labels: d.trainLabels,
                                          options: .init(inverseRegularization: 0.5, tolerance: tolerance))
        #expect(probe.converged && probe.gradientMaxNorm <= tolerance)

        let x = try probe.standardizer!.apply(d.train)
        let (n, dim, k) = (x.rows, x.columns, 10)
        let c = 0.5
        var gradient = [Double](repeating: 0, count: (dim + 1) * k)
        for i in 0 ..< n {
            var logits = (0 ..< k).map { j in
                Double(probe.bias[j]) + (0 ..< dim).reduce(0.0) { $0 + Double(x[i, $1]) * Double(probe.weights[$1, j]) }
            }
            let m = logits.max()!
            let total = logits.reduce(0) { $0 + exp($1 - m) }
            logits = logits.map { exp($0 - m) / total }
            for j in 0 ..< k {
                let residual = logits[j] - (d.trainLabels[i] == j ? 1 : 0)
                for f in 0 ..< dim { gradient[f * k + j] += residual * Double(x[i, f]) / Double(n) }
                gradient[dim * k + j] += residual / Double(n)
            }
        }
        for f in 0 ..< dim {
            for j in 0 ..< k { gradient[f * k + j] += Double(probe.weights[f, j]) / (c * Double(n)) }
        }
        let maxNorm = gradient.map(abs).max()!
        #expect(maxNorm <= 1.1 * tolerance, "recomputed gradient max-norm \(maxNorm)")
    }

    @Test func interceptsSumToZero() throws {
        let d = try data()
        let probe = try LogisticProbe.fit(features: d.train, labels: d.trainLabels)
        #expect(abs(probe.bias.reduce(0, +)) < 1e-5)
    }

    @Test func separableDataGetsFullTrainingAccuracy() throws {
        let (x, labels) = clusters()
        let probe = try LogisticProbe.fit(features: x, labels: labels)
        #expect(try probe.accuracy(x, labels: labels) == 1)
        #expect(probe.converged)
        let unstandardised = try LogisticProbe.fit(features: x, labels: labels, options: .init(standardize: false))
        #expect(unstandardised.standardizer == nil)
        #expect(try unstandardised.accuracy(x, labels: labels) == 1)
        let ridge = try RidgeClassifier.fit(features: x, labels: labels)
        #expect(try ridge.accuracy(x, labels: labels) == 1)
        // Probabilities are a distribution per row, confident on this data.
        let p = try probe.probabilities(x)
        for i in 0 ..< p.rows {
            let row = (0 ..< 3).map { Double(p[i, $0]) }
            #expect(abs(row.reduce(0, +) - 1) < 1e-6)
            #expect(row[labels[i]] > 0.9)
        }
    }

    /// Renaming the classes by a permutation renames the predictions and leaves accuracy unchanged.
    @Test func accuracyIsInvariantToLabelPermutation() throws {
        let d = try data()
        let permutation = [3, 7, 0, 9, 1, 8, 2, 6, 4, 5]
        let permutedTrain = d.trainLabels.map { permutation[$0] }
        let permutedTest = d.testLabels.map { permutation[$0] }
        // Converged tightly, so that the two fits differ only by rounding (the GEMMs see the
        // classes in another column order), far below any test row's margin.
        let options = LogisticProbe.Options(tolerance: 1e-7)
        let original = try LogisticProbe.fit(features: d.train, labels: d.trainLabels, options: options)
        let permuted = try LogisticProbe.fit(features: d.train, labels: permutedTrain, options: options)
        #expect(try original.accuracy(d.test, labels: d.testLabels) == permuted.accuracy(d.test, labels: permutedTest))
        #expect(try original.predict(d.test).map { permutation[$0] } == permuted.predict(d.test))

        let ridge = try RidgeClassifier.fit(features: d.train, labels: d.trainLabels)
        let permutedRidge = try RidgeClassifier.fit(features: d.train, labels: permutedTrain)
        #expect(try ridge.accuracy(d.test, labels: d.testLabels) == permutedRidge.accuracy(d.test, labels: permutedTest))
    }

    /// A declared class that no training row carries is not fitted and never predicted.
    @Test func classAbsentFromTrainingIsNeverPredicted() throws {
        let (x, labels) = clusters()
        let relabelled = labels.map { $0 == 2 ? 3 : $0 }  // classes 0, 1, 3 of 0..<5
        let probe = try LogisticProbe.fit(features: x, labels: relabelled, classCount: 5)
        #expect(probe.classes == [0, 1, 3] && probe.classCount == 5)
        #expect(probe.weights.columns == 3 && probe.bias.count == 3)
        #expect(try probe.probabilities(x).columns == 3)
        #expect(Set(try probe.predict(x)) == [0, 1, 3])
        #expect(try probe.accuracy(x, labels: relabelled) == 1)
        // Labels of the absent classes count as wrong, but are valid.
        #expect(try probe.accuracy(x, labels: [Int](repeating: 4, count: x.rows)) == 0)
        let ridge = try RidgeClassifier.fit(features: x, labels: relabelled, classCount: 5)
        #expect(ridge.classes == [0, 1, 3])
        #expect(try ridge.accuracy(x, labels: relabelled) == 1)
        // Without a declared count, it is the largest label + 1.
        #expect(try LogisticProbe.fit(features: x, labels: relabelled).classCount == 4)
    }

    @Test func constantFeatureGetsScaleOne() throws {
        let x = Matrix([[1, 7], [2, 7], [3, 7], [6, 7]])
        let standardizer = try FeatureStandardizer.fit(x)
        #expect(standardizer.means == [3, 7])
        #expect(abs(standardizer.scales[0] - 3.5.squareRoot()) < 1e-12)
        #expect(standardizer.scales[1] == 1)
        let z = try standardizer.apply(Matrix([[3, 7], [3, 9]]))
        #expect(z.elements == [0, 0, 0, 2])
        // A probe on data with a constant feature fits without dividing by zero.
        let probe = try LogisticProbe.fit(features: x, labels: [0, 0, 1, 1])
        #expect(probe.weights.elements.allSatisfy { $0.isFinite })
        #expect(try probe.accuracy(x, labels: [0, 0, 1, 1]) == 1)
    }

    @Test func iterationLimitStopsUnconverged() throws {
        let d = try data()
        let probe = try LogisticProbe.fit(features: d.train, labels: d.trainLabels, options: .init(maxIterations: 3))
        #expect(probe.termination == .iterationLimit && !probe.converged)
        #expect(probe.iterations == 3 && probe.lossHistory.count == 4)
        let none = try LogisticProbe.fit(features: d.train, labels: d.trainLabels, options: .init(maxIterations: 0))
        #expect(none.iterations == 0 && none.weights.elements.allSatisfy { $0 == 0 })
    }

    /// A zero tolerance cannot be met: the fit ends when no step decreases the loss any more,
    /// unconverged, with a usable model.
    @Test func zeroToleranceEndsInAStalledLineSearch() throws {
        let (x, labels) = clusters()
        let probe = try LogisticProbe.fit(features: x, labels: labels, options: .init(tolerance: 0))
        #expect(probe.termination == .lineSearchStalled && !probe.converged)
        #expect(probe.iterations < 1000 && probe.gradientMaxNorm < 1e-7)
        #expect(probe.weights.elements.allSatisfy { $0.isFinite })
        #expect(try probe.accuracy(x, labels: labels) == 1)
    }

    // MARK: - Errors

    @Test func emptyTrainingSetIsRejected() {
        let empty = Matrix(rows: 0, columns: 4)
        expectError(.emptyTrainingSet) { _ = try LogisticProbe.fit(features: empty, labels: []) }
        expectError(.emptyTrainingSet) { _ = try RidgeClassifier.fit(features: empty, labels: []) }
        expectError(.emptyTrainingSet) { _ = try FeatureStandardizer.fit(empty) }
    }

    @Test func noFeatureColumnsAreRejected() {
        let none = Matrix(rows: 4, columns: 0)
        expectError(.noFeatureColumns) { _ = try LogisticProbe.fit(features: none, labels: [0, 1, 0, 1]) }
        expectError(.noFeatureColumns) { _ = try RidgeClassifier.fit(features: none, labels: [0, 1, 0, 1]) }
    }

    @Test func labelCountMismatchIsRejected() {
        let (x, labels) = clusters()
        expectError(.labelCountMismatch(rows: 60, labels: 59)) {
            _ = try LogisticProbe.fit(features: x, labels: Array(labels.dropLast()))
        }
        expectError(.labelCountMismatch(rows: 60, labels: 59)) {
            _ = try RidgeClassifier.fit(features: x, labels: Array(labels.dropLast()))
        }
        expectError(.labelCountMismatch(rows: 0, labels: 2)) {
            _ = try LogisticProbe.fit(features: Matrix(rows: 0, columns: 2), labels: [0, 1])
        }
    }

    @Test func negativeLabelIsRejected() {
        let (x, labels) = clusters()
        var bad = labels
        bad[5] = -1
        expectError(.labelOutOfRange(index: 5, label: -1, classCount: nil)) {
            _ = try LogisticProbe.fit(features: x, labels: bad)
        }
        expectError(.labelOutOfRange(index: 5, label: -1, classCount: 3)) {
            _ = try RidgeClassifier.fit(features: x, labels: bad, classCount: 3)
        }
        // The other extreme: a label whose implied class count (label + 1) overflows.
        bad[5] = Int.max
        expectError(.labelOutOfRange(index: 5, label: Int.max, classCount: Int.max)) {
            _ = try LogisticProbe.fit(features: x, labels: bad)
        }
    }

    @Test func labelAtOrAboveClassCountIsRejected() {
        let (x, labels) = clusters()
        expectError(.labelOutOfRange(index: 40, label: 2, classCount: 2)) {
            _ = try LogisticProbe.fit(features: x, labels: labels, classCount: 2)
        }
        expectError(.labelOutOfRange(index: 40, label: 2, classCount: 2)) {
            _ = try RidgeClassifier.fit(features: x, labels: labels, classCount: 2)
        }
        expectError(.invalidOption(name: "classCount", value: "1", requirement: ">= 2")) {
            _ = try LogisticProbe.fit(features: x, labels: labels, classCount: 1)
        }
    }

    @Test func nonFiniteFeaturesAreRejected() throws {
        let (x, labels) = clusters()
        for bad in [Float.nan, .infinity, -.infinity] {
            var corrupted = x
            corrupted[7, 1] = bad
            expectError(.nonFiniteFeature(row: 7, column: 1)) { _ = try LogisticProbe.fit(features: corrupted, labels: labels) }
            expectError(.nonFiniteFeature(row: 7, column: 1)) { _ = try RidgeClassifier.fit(features: corrupted, labels: labels) }
            expectError(.nonFiniteFeature(row: 7, column: 1)) { _ = try FeatureStandardizer.fit(corrupted) }
        }
        // Also when predicting.
        let probe = try LogisticProbe.fit(features: x, labels: labels)
        var corrupted = x
        corrupted[2, 0] = .nan
        expectError(.nonFiniteFeature(row: 2, column: 0)) { _ = try probe.predict(corrupted) }
        expectError(.nonFiniteFeature(row: 2, column: 0)) { _ = try probe.probabilities(corrupted) }
        expectError(.nonFiniteFeature(row: 2, column: 0)) { _ = try probe.accuracy(corrupted, labels: labels) }
    }

    @Test func fewerThanTwoClassesAreRejected() {
        let (x, _) = clusters()
        let one = [Int](repeating: 4, count: x.rows)
        expectError(.tooFewClasses(found: 1)) { _ = try LogisticProbe.fit(features: x, labels: one) }
        expectError(.tooFewClasses(found: 1)) { _ = try RidgeClassifier.fit(features: x, labels: one, classCount: 5) }
    }

    @Test func invalidRegularizationIsRejected() {
        let (x, labels) = clusters()
        /// Matches by name and value, NaN included (NaN is not equal to itself).
        func expectInvalid(_ name: String, _ value: Double, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("\(name) = \(value) accepted")
            } catch let error as ProbeError {
                guard case .invalidRegularization(name, let reported) = error.kind,
                      reported == value || (reported.isNaN && value.isNaN) else {
                    Issue.record("unexpected \(error)")
                    return
                }
            } catch { Issue.record("unexpected \(error)") }
        }
        for c in [0, -1, Double.nan, .infinity] {
            expectInvalid("C", c) {
                _ = try LogisticProbe.fit(features: x, labels: labels, options: .init(inverseRegularization: c))
            }
        }
        for lambda in [-1, Float.nan, .infinity] {
            expectInvalid("lambda", Double(lambda)) {
                _ = try RidgeClassifier.fit(features: x, labels: labels, options: .init(lambda: lambda))
            }
        }
    }

    @Test func invalidOptionsAreRejected() {
        let (x, labels) = clusters()
        expectError(.invalidOption(name: "maxIterations", value: "-1", requirement: ">= 0")) {
            _ = try LogisticProbe.fit(features: x, labels: labels, options: .init(maxIterations: -1))
        }
        expectError(.invalidOption(name: "tolerance", value: "-1.0", requirement: "finite and >= 0")) {
            _ = try LogisticProbe.fit(features: x, labels: labels, options: .init(tolerance: -1))
        }
        expectError(.invalidOption(name: "historySize", value: "0", requirement: ">= 1")) {
            _ = try LogisticProbe.fit(features: x, labels: labels, options: .init(historySize: 0))
        }
    }

    @Test func predictionInputsAreValidated() throws {
        let (x, labels) = clusters()
        let probe = try LogisticProbe.fit(features: x, labels: labels)
        let ridge = try RidgeClassifier.fit(features: x, labels: labels)
        let wide = Matrix(rows: 4, columns: 3)
        expectError(.featureCountMismatch(expected: 2, found: 3)) { _ = try probe.predict(wide) }
        expectError(.featureCountMismatch(expected: 2, found: 3)) { _ = try probe.probabilities(wide) }
        expectError(.featureCountMismatch(expected: 2, found: 3)) { _ = try ridge.scores(wide) }
        expectError(.featureCountMismatch(expected: 2, found: 3)) { _ = try probe.standardizer!.apply(wide) }
        expectError(.labelCountMismatch(rows: 60, labels: 3)) { _ = try probe.accuracy(x, labels: [0, 1, 2]) }
        expectError(.emptyEvaluationSet) { _ = try ridge.accuracy(Matrix(rows: 0, columns: 2), labels: []) }
        expectError(.labelOutOfRange(index: 0, label: -2, classCount: 3)) {
            _ = try probe.accuracy(x, labels: [-2] + labels.dropFirst())
        }
        expectError(.labelOutOfRange(index: 1, label: 3, classCount: 3)) {
            _ = try ridge.accuracy(x, labels: [0, 3] + labels.dropFirst(2))
        }
        // Zero rows predict nothing, without error.
        #expect(try probe.predict(Matrix(rows: 0, columns: 2)).isEmpty)
    }

    @Test func errorMessagesNameTheProblem() {
        let cases: [(ProbeError, String)] = [
            (ProbeError(.emptyTrainingSet, operation: "LogisticProbe.fit"), "LogisticProbe.fit: the training set is empty"),
            (ProbeError(.labelCountMismatch(rows: 5, labels: 4), operation: "op"), "5 rows but 4 labels"),
            (ProbeError(.labelOutOfRange(index: 2, label: 9, classCount: 3), operation: "op"), "label 9 at index 2 is outside 0..<3"),
            (ProbeError(.labelOutOfRange(index: 0, label: -1, classCount: nil), operation: "op"), "label -1 at index 0 is negative"),
            (ProbeError(.tooFewClasses(found: 1), operation: "op"), "1 distinct class;"),
            (ProbeError(.nonFiniteFeature(row: 3, column: 4), operation: "op"), "feature (3, 4) is NaN or infinite"),
            (ProbeError(.invalidRegularization(name: "C", value: 0), operation: "op"), "C (inverse regularisation) must be finite and > 0"),
            (ProbeError(.invalidRegularization(name: "lambda", value: -1), operation: "op"), "lambda (ridge penalty) must be finite and >= 0"),
            (ProbeError(.featureCountMismatch(expected: 2, found: 3), operation: "op"), "3 columns but the model was fitted on 2"),
            (ProbeError(.emptyEvaluationSet, operation: "op"), "evaluation set is empty"),
            (ProbeError(.noFeatureColumns, operation: "op"), "0 columns"),
            (ProbeError(.invalidOption(name: "historySize", value: "0", requirement: ">= 1"), operation: "op"),
             "option historySize must be >= 1, got 0"),
        ]
        for (error, fragment) in cases { #expect(error.description.contains(fragment), "\(error)") }
    }
}
