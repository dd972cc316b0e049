import NumericKernels

/// The fast alternative to ``LogisticProbe``: a linear probe fitted in closed form by ridge
/// regression onto one-hot targets, predicting the class of the largest score
/// (scikit-learn's `RidgeClassifier(alpha=lambda)`).
///
/// Targets are **−1/+1** (scikit-learn's encoding): row `i` has +1 in the column of its class
/// and −1 elsewhere. The weights solve `min ||X W + 1 bᵀ − T||²_F + λ ||W||²_F` with the bias
/// not penalised, by centring and a Cholesky solve of the `d x d` normal equations
/// (``LinearMapper/fit(source:target:method:)`` with ``MapperFit/ridge(lambda:)``).
/// Classes, standardisation and absent classes are handled as in ``LogisticProbe``.
///
/// - Complexity: O(n d² + d³ + n d K), one pass of GEMMs and one factorisation; no iterations.
public struct RidgeClassifier: Sendable {
    /// How the classifier is fitted.
    public struct Options: Sendable, Equatable {
        /// The ridge penalty λ on `||W||²_F` (scikit-learn's `alpha`), finite and `>= 0`, in
        /// squared target units per squared weight unit. 0 is plain least squares and may throw
        /// ``LinearAlgebraError`` `.notPositiveDefinite` on collinear features. Default 1.
        public var lambda: Float
        /// Whether to standardise features with their training mean and standard deviation
        /// first. Default true (scikit-learn's `RidgeClassifier` does not standardise; set false
        /// to match it on raw features).
        public var standardize: Bool

        /// Options with the documented defaults.
        public init(lambda: Float = 1, standardize: Bool = true) {
            self.lambda = lambda
            self.standardize = standardize
        }
    }

    /// The options the classifier was fitted with.
    public let options: Options
    private let decision: LinearDecision

    /// The fitted classes (distinct training labels), ascending.
    public var classes: [Int] { decision.classes }
    /// Labels are class indices in `0 ..< classCount`: the declared count, or the largest
    /// training label + 1.
    public var classCount: Int { decision.classCount }
    /// The standardiser fitted on the training features, when ``Options/standardize`` is set.
    public var standardizer: FeatureStandardizer? { decision.standardizer }
    /// `d x K` weights (`K = classes.count`), acting on standardised features when the classifier standardises.
    public var weights: Matrix { decision.weights }
    /// `K` intercepts.
    public var bias: [Float] { decision.bias }
    /// Number of features `d`.
    public var featureCount: Int { decision.featureCount }

    /// Fits the classifier on `features` (`n x d`) and `labels` (`n` class indices).
    ///
    /// - Parameters:
    ///   - classCount: the number of classes labels are drawn from, `>= 2`, when known; nil
    ///     takes the largest label + 1.
    /// - Throws: ``ProbeError``: `.invalidRegularization` (λ not finite and `>= 0`),
    ///   `.invalidOption` (`classCount < 2`), `.labelCountMismatch`, `.emptyTrainingSet`, `.noFeatureColumns`,
    ///   `.labelOutOfRange`, `.tooFewClasses`, `.nonFiniteFeature`; ``LinearAlgebraError``
    ///   `.notPositiveDefinite` when the normal equations are singular (only possible for λ = 0).
    public static func fit(
        features: Matrix, labels: [Int], classCount: Int? = nil, options: Options = Options()
    ) throws -> RidgeClassifier {
        let operation = "RidgeClassifier.fit"
        guard options.lambda.isFinite, options.lambda >= 0 else {
            throw ProbeError(.invalidRegularization(name: "lambda", value: Double(options.lambda)), operation: operation)
        }
        let encoding = try ProbeLabels(features: features, labels: labels, classCount: classCount, operation: operation)
        let standardizer = options.standardize ? try FeatureStandardizer.fit(features) : nil
        let input = try standardizer?.apply(features) ?? features

        let k = encoding.classes.count
        var targets = Matrix(rows: input.rows, columns: k, repeating: -1)
        for (i, position) in encoding.encoded.enumerated() { targets[i, position] = 1 }
        let mapper = try LinearMapper.fit(source: input, target: targets, method: .ridge(lambda: options.lambda))
        return RidgeClassifier(
            options: options,
            decision: LinearDecision(standardizer: standardizer, weights: mapper.weights, bias: mapper.bias,
                                     classes: encoding.classes, classCount: encoding.classCount,
                                     owner: "RidgeClassifier"))
    }

    private init(options: Options, decision: LinearDecision) {
        self.options = options
        self.decision = decision
    }

    /// The decision scores `x W + b`, `m x K` for `features: m x d` (raw, standardised here
    /// when the classifier standardises); column `j` scores ``classes``[j], in target units
    /// (about +1 for the predicted class, −1 for the others).
    /// - Throws: ``ProbeError`` `.featureCountMismatch`, `.nonFiniteFeature`.
    public func scores(_ features: Matrix) throws -> Matrix {
        try decision.scores(features, operation: "scores")
    }

    /// The label of the largest score of each row of `features` (`m x d`): `m` labels from
    /// ``classes`` (the first one on an exact tie).
    /// - Throws: ``ProbeError`` `.featureCountMismatch`, `.nonFiniteFeature`.
    public func predict(_ features: Matrix) throws -> [Int] {
        try decision.predict(features)
    }

    /// The probe accuracy: the fraction of rows whose predicted label equals `labels`, in `[0, 1]`.
    /// - Throws: ``ProbeError`` `.labelCountMismatch`, `.emptyEvaluationSet`, `.labelOutOfRange`,
    ///   `.featureCountMismatch`, `.nonFiniteFeature`.
    public func accuracy(_ features: Matrix, labels: [Int]) throws -> Double {
        try decision.accuracy(features, labels: labels)
    }
}
