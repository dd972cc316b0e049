import NumericKernels

/// The classes of a training set and each row's position among them: the validation and
/// encoding shared by ``LogisticProbe`` and ``RidgeClassifier``.
///
/// The fitted classes are the distinct labels present in the training set, in ascending
/// order (scikit-learn's `classes_`). A class index in `0 ..< classCount` that no training
/// row carries is not a class of the fitted model: it gets no weights, no probability
/// column and is never predicted (its optimal unpenalised intercept would be `-∞`).
struct ProbeLabels {
    /// The distinct training labels, ascending.
    let classes: [Int]
    /// The declared number of classes, or the largest training label + 1 when none was declared.
    let classCount: Int
    /// For each training row, the position of its label in ``classes``.
    let encoded: [Int]

    /// Validates the training data and encodes the labels.
    /// - Throws: ``ProbeError`` for `classCount < 2`, a label/row count mismatch, an empty
    ///   training set, no feature columns, a label out of range, fewer than two distinct
    ///   classes or a non-finite feature (in that order).
    init(features: Matrix, labels: [Int], classCount declared: Int?, operation: String) throws {
        if let declared, declared < 2 {
            throw ProbeError(.invalidOption(name: "classCount", value: "\(declared)", requirement: ">= 2"),
                             operation: operation)
        }
        guard features.rows == labels.count else {
            throw ProbeError(.labelCountMismatch(rows: features.rows, labels: labels.count), operation: operation)
        }
        guard features.rows > 0 else { throw ProbeError(.emptyTrainingSet, operation: operation) }
        guard features.columns > 0 else { throw ProbeError(.noFeatureColumns, operation: operation) }
        try Self.checkRange(labels, classCount: declared, operation: operation)
        let classes = Array(Set(labels)).sorted()
        guard classes.count >= 2 else { throw ProbeError(.tooFewClasses(found: classes.count), operation: operation) }
        try checkFinite(features, operation: operation)
        var position = [Int: Int](minimumCapacity: classes.count)
        for (k, label) in classes.enumerated() { position[label] = k }
        self.classes = classes
        self.classCount = declared ?? classes[classes.count - 1] + 1  // < Int.max, checked above
        self.encoded = labels.map { position[$0]! }
    }

    /// Throws ``ProbeError/Kind/labelOutOfRange(index:label:classCount:)`` for the first label
    /// that is negative or `>= classCount`. Without a declared `classCount` the limit is
    /// `Int.max` (so that the implied count, largest label + 1, is representable) and a
    /// negative label is reported with a nil count.
    static func checkRange(_ labels: [Int], classCount: Int?, operation: String) throws {
        let limit = classCount ?? Int.max
        if let index = labels.firstIndex(where: { $0 < 0 || $0 >= limit }) {
            let label = labels[index]
            throw ProbeError(.labelOutOfRange(index: index, label: label, classCount: label < 0 ? classCount : limit),
                             operation: operation)
        }
    }
}

/// Throws ``ProbeError/Kind/nonFiniteFeature(row:column:)`` naming the first NaN or infinite element.
/// - Complexity: O(rows * columns).
func checkFinite(_ features: Matrix, operation: String) throws {
    let index = features.withUnsafeBufferPointer { buffer in buffer.firstIndex { !$0.isFinite } }
    if let index {
        let columns = max(features.columns, 1)
        throw ProbeError(.nonFiniteFeature(row: index / columns, column: index % columns), operation: operation)
    }
}
