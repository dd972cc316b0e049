/// An input that a probe (``LogisticProbe``, ``RidgeClassifier``) or a
/// ``FeatureStandardizer`` refuses: bad data or bad options, reported as a thrown error
/// before any solver runs, never trapped.
public struct ProbeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public enum Kind: Sendable, Equatable {
        /// The training set has no rows.
        case emptyTrainingSet
        /// The feature matrix has no columns (nothing to probe).
        case noFeatureColumns
        /// An accuracy was asked for on a set with no rows (an accuracy of nothing is undefined).
        case emptyEvaluationSet
        /// The feature matrix has `rows` rows but `labels` labels were given.
        case labelCountMismatch(rows: Int, labels: Int)
        /// The label at position `index` is negative or `>= classCount`; labels are class
        /// indices `0 ..< classCount`.
        case labelOutOfRange(index: Int, label: Int, classCount: Int?)
        /// The training labels contain fewer than two distinct classes (`found` of them).
        case tooFewClasses(found: Int)
        /// The element at (`row`, `column`) is NaN or infinite.
        case nonFiniteFeature(row: Int, column: Int)
        /// A matrix has `found` columns where the fitted model expects `expected`.
        case featureCountMismatch(expected: Int, found: Int)
        /// A regularisation parameter is out of range: `name` is `"C"` (the logistic probe's
        /// inverse regularisation, must be finite and `> 0`) or `"lambda"` (the ridge penalty,
        /// must be finite and `>= 0`).
        case invalidRegularization(name: String, value: Double)
        /// Another option is out of range: its name, its value and what it must satisfy.
        case invalidOption(name: String, value: String, requirement: String)
    }

    /// What is wrong.
    public let kind: Kind
    /// The operation that refused the input, e.g. `"LogisticProbe.fit"`.
    public let operation: String

    /// Creates an error of `kind` raised by `operation`.
    public init(_ kind: Kind, operation: String) {
        self.kind = kind
        self.operation = operation
    }

    /// One line naming the operation and the problem, e.g.
    /// `"LogisticProbe.fit: the training set is empty (0 rows)"`.
    public var description: String { "\(operation): \(message)" }

    /// The problem without the operation's name, e.g. `"the training set is empty (0 rows)"`.
    public var message: String {
        switch kind {
        case .emptyTrainingSet:
            "the training set is empty (0 rows)"
        case .noFeatureColumns:
            "the features have 0 columns; a probe needs at least one feature"
        case .emptyEvaluationSet:
            "the evaluation set is empty (0 rows); accuracy is undefined"
        case .labelCountMismatch(let rows, let labels):
            "the features have \(rows) rows but \(labels) labels were given; there must be one label per row"
        case .labelOutOfRange(let index, let label, let classCount?):
            "label \(label) at index \(index) is outside 0..<\(classCount); labels are class indices"
        case .labelOutOfRange(let index, let label, nil):
            "label \(label) at index \(index) is negative; labels are class indices 0, 1, 2, ..."
        case .tooFewClasses(let found):
            "the training labels contain \(found) distinct class\(found == 1 ? "" : "es"); a probe needs at least 2"
        case .nonFiniteFeature(let row, let column):
            "feature (\(row), \(column)) is NaN or infinite"
        case .featureCountMismatch(let expected, let found):
            "the features have \(found) columns but the model was fitted on \(expected)"
        case .invalidRegularization(let name, let value):
            name == "C"
                ? "C (inverse regularisation) must be finite and > 0, got \(value)"
                : "\(name) (ridge penalty) must be finite and >= 0, got \(value)"
        case .invalidOption(let name, let value, let requirement):
            "option \(name) must be \(requirement), got \(value)"
        }
    }
}
