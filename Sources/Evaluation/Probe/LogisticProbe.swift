import NumericKernels

/// The linear probe: multinomial (softmax) logistic regression on frozen representations,
/// fitted full-batch by L-BFGS. The paper measures a legitimate user's utility as the test
/// accuracy of such a probe trained on the representations the API returned (Tables 1, 8).
///
/// The objective is scikit-learn's `LogisticRegression(C=C, solver="lbfgs")` for `K >= 3`
/// classes, exactly:
///
///     minimise over W (d x K), b (K):   0.5 ||W||²_F + C Σᵢ CEᵢ,    CEᵢ = −log softmax(xᵢ W + b)_{yᵢ}
///
/// summed over the `n` training samples, with the intercept `b` not penalised. The minimiser
/// is unique in `W`; `b` is unique up to a common shift, and starting from zero the optimiser
/// keeps `Σₖ bₖ = 0` (the intercept gradient always sums to zero over classes), as scikit-learn's
/// does. With `K = 2` the softmax objective above equals half of scikit-learn's *binary* one
/// with `2C`: this probe with `C` reproduces `LogisticRegression(C=2C)` with `coef_ = w₁ − w₀`,
/// `intercept_ = b₁ − b₀`.
///
/// Classes are the distinct labels present in the training set (scikit-learn's `classes_`),
/// ascending; ``weights`` columns, ``bias`` entries and ``probabilities(_:)`` columns follow
/// ``classes``. A class index below ``classCount`` that no training row carries is not
/// fitted (its unpenalised intercept would diverge to `−∞`): it gets probability 0 and is
/// never predicted.
///
/// By default the probe standardises its input with a ``FeatureStandardizer`` fitted on the
/// training features, then ``weights`` act on standardised features; ``predict(_:)``,
/// ``probabilities(_:)`` and ``accuracy(_:labels:)`` take raw features and standardise them
/// the same way.
///
/// - Complexity: per L-BFGS iteration, two GEMMs of `2 n d K` flops (the search direction's
///   logits and the gradient) plus O(n K) exponentials per line-search trial.
public struct LogisticProbe: Sendable {
    /// How a probe is fitted. The defaults are scikit-learn's, except `maxIterations`
    /// (scikit-learn stops at 100, often before converging on representations).
    public struct Options: Sendable, Equatable {
        /// scikit-learn's `C`: the inverse regularisation strength, finite and `> 0`. The
        /// objective is `0.5 ||W||² + C Σᵢ CEᵢ`; a larger `C` regularises less. Default 1.
        public var inverseRegularization: Double
        /// Whether to standardise features with their training mean and standard deviation
        /// first (recommended: the penalty and the tolerance then mean the same for every
        /// feature scale). Default true.
        public var standardize: Bool
        /// The largest number of L-BFGS iterations (accepted steps), `>= 0`. Default 1000.
        public var maxIterations: Int
        /// Convergence threshold on the max-norm of the gradient of the objective **divided
        /// by `C n`** (mean cross-entropy plus `||W||² / (2 C n)`), in nats per sample per unit
        /// of weight: scikit-learn's `tol` for lbfgs, which it passes to scipy as `gtol` on that
        /// same scaled objective. Finite and `>= 0`. Default 1e-4.
        ///
        /// The GEMMs are Float: the gradient carries an absolute error of roughly 1e-9 to 1e-8
        /// on this scale, so tolerances below ~1e-7 may end in ``Termination/lineSearchStalled``.
        public var tolerance: Double
        /// The L-BFGS memory: how many recent correction pairs approximate the inverse
        /// Hessian, `>= 1`. Default 10 (scipy's).
        public var historySize: Int

        /// Options with the documented defaults.
        public init(
            inverseRegularization: Double = 1,
            standardize: Bool = true,
            maxIterations: Int = 1000,
            tolerance: Double = 1e-4,
            historySize: Int = 10
        ) {
            self.inverseRegularization = inverseRegularization
            self.standardize = standardize
            self.maxIterations = maxIterations
            self.tolerance = tolerance
            self.historySize = historySize
        }
    }

    /// Why the fit stopped.
    public enum Termination: Sendable, Equatable {
        /// The scaled gradient's max-norm reached ``Options/tolerance``: converged.
        case converged
        /// ``Options/maxIterations`` iterations ran without reaching the tolerance.
        case iterationLimit
        /// No step along the search direction, nor along steepest descent, decreased the
        /// loss: the loss is flat at its evaluation precision short of the tolerance.
        case lineSearchStalled
    }

    /// The fitted classes (distinct training labels), ascending.
    public var classes: [Int] { decision.classes }
    /// Labels are class indices in `0 ..< classCount`: the declared count, or the largest
    /// training label + 1.
    public var classCount: Int { decision.classCount }
    /// The standardiser fitted on the training features, when ``Options/standardize`` is set.
    public var standardizer: FeatureStandardizer? { decision.standardizer }
    /// `d x K` weights (`K = classes.count`), acting on standardised features when the probe standardises.
    public var weights: Matrix { decision.weights }
    /// `K` intercepts (summing to zero, see the type's discussion).
    public var bias: [Float] { decision.bias }
    /// Number of features `d`.
    public var featureCount: Int { decision.featureCount }

    /// The options the probe was fitted with.
    public let options: Options
    /// L-BFGS iterations run (accepted steps).
    public let iterations: Int
    /// Loss evaluations by the line searches, `>= iterations`. Each costs O(n K) (the logits
    /// along a search line are precomputed), while each iteration costs two GEMMs of `2 n d K` flops.
    public let lineSearchEvaluations: Int
    /// Why the fit stopped.
    public let termination: Termination
    /// Whether the fit converged to ``Options/tolerance``.
    public var converged: Bool { termination == .converged }
    /// The final loss: mean training cross-entropy plus `||W||² / (2 C n)`, in nats per
    /// sample (scikit-learn's objective divided by `C n`).
    public let loss: Double
    /// The loss at the start (all zero parameters: `log K`) and after each iteration;
    /// `iterations + 1` entries, strictly decreasing.
    public let lossHistory: [Double]
    /// Max-norm of the gradient of ``loss`` at the returned parameters (the quantity compared
    /// with ``Options/tolerance``).
    public let gradientMaxNorm: Double

    private let decision: LinearDecision

    /// Fits the probe on `features` (`n x d`, one representation per row) and `labels`
    /// (`n` class indices).
    ///
    /// - Parameters:
    ///   - classCount: the number of classes labels are drawn from, `>= 2`, when known (every
    ///     label must then be `< classCount`); nil takes the largest label + 1.
    /// - Throws: ``ProbeError``: `.invalidRegularization` (C not finite and `> 0`),
    ///   `.invalidOption` (a negative `maxIterations`, a negative or non-finite `tolerance`,
    ///   `historySize < 1`, `classCount < 2`), `.labelCountMismatch`, `.emptyTrainingSet`, `.noFeatureColumns`,
    ///   `.labelOutOfRange`, `.tooFewClasses` (fewer than 2 distinct labels), `.nonFiniteFeature`.
    ///   Not converging is not an error: see ``termination``.
    public static func fit(
        features: Matrix, labels: [Int], classCount: Int? = nil, options: Options = Options()
    ) throws -> LogisticProbe {
        let operation = "LogisticProbe.fit"
        try options.validate(operation: operation)
        let encoding = try ProbeLabels(features: features, labels: labels, classCount: classCount, operation: operation)
        let standardizer = options.standardize ? try FeatureStandardizer.fit(features) : nil
        let input = try standardizer?.apply(features) ?? features

        let k = encoding.classes.count
        let objective = SoftmaxCrossEntropy(features: input, targets: encoding.encoded, classCount: k,
                                            inverseRegularization: options.inverseRegularization)
        let optimizer = LBFGS(historySize: options.historySize, maxIterations: options.maxIterations,
                              tolerance: options.tolerance)
        let outcome = optimizer.minimize(from: [Double](repeating: 0, count: objective.parameterCount), objective)

        let d = input.columns
        let weights = Matrix(rows: d, columns: k, elements: outcome.x[0 ..< d * k].map { Float($0) })
        let bias = outcome.x[d * k ..< (d + 1) * k].map { Float($0) }
        let termination: Termination = switch outcome.stop {
        case .gradientTolerance: .converged
        case .iterationLimit: .iterationLimit
        case .lineSearchStalled: .lineSearchStalled
        }
        return LogisticProbe(
            options: options, iterations: outcome.iterations, lineSearchEvaluations: outcome.lineEvaluations,
            termination: termination, loss: outcome.value, lossHistory: outcome.history,
            gradientMaxNorm: outcome.gradientMaxNorm,
            decision: LinearDecision(standardizer: standardizer, weights: weights, bias: bias,
                                     classes: encoding.classes, classCount: encoding.classCount,
                                     owner: "LogisticProbe"))
    }

    private init(options: Options, iterations: Int, lineSearchEvaluations: Int, termination: Termination, loss: Double,
                 lossHistory: [Double], gradientMaxNorm: Double, decision: LinearDecision) {
        self.options = options
        self.iterations = iterations
        self.lineSearchEvaluations = lineSearchEvaluations
        self.termination = termination
        self.loss = loss
        self.lossHistory = lossHistory
        self.gradientMaxNorm = gradientMaxNorm
        self.decision = decision
    }

    /// Class probabilities, `m x K` for `features: m x d` (raw, standardised here when the
    /// probe standardises); column `j` is the probability of ``classes``[j], rows sum to 1.
    /// - Throws: ``ProbeError`` `.featureCountMismatch`, `.nonFiniteFeature`.
    /// - Complexity: one GEMM of `2 m d K` flops plus O(m K) exponentials.
    public func probabilities(_ features: Matrix) throws -> Matrix {
        try decision.probabilities(features)
    }

    /// The most probable class label of each row of `features` (`m x d`): `m` labels from
    /// ``classes`` (the first one on an exact tie).
    /// - Throws: ``ProbeError`` `.featureCountMismatch`, `.nonFiniteFeature`.
    /// - Complexity: one GEMM of `2 m d K` flops.
    public func predict(_ features: Matrix) throws -> [Int] {
        try decision.predict(features)
    }

    /// The probe accuracy: the fraction of rows of `features` whose predicted label equals
    /// `labels`, in `[0, 1]`. A label of a class absent from training always counts as wrong.
    /// - Throws: ``ProbeError`` `.labelCountMismatch`, `.emptyEvaluationSet`, `.labelOutOfRange`
    ///   (negative or `>= classCount`), `.featureCountMismatch`, `.nonFiniteFeature`.
    public func accuracy(_ features: Matrix, labels: [Int]) throws -> Double {
        try decision.accuracy(features, labels: labels)
    }
}

extension LogisticProbe.Options {
    /// Throws for the first option out of range.
    func validate(operation: String) throws {
        guard inverseRegularization.isFinite, inverseRegularization > 0 else {
            throw ProbeError(.invalidRegularization(name: "C", value: inverseRegularization), operation: operation)
        }
        guard maxIterations >= 0 else {
            throw ProbeError(.invalidOption(name: "maxIterations", value: "\(maxIterations)", requirement: ">= 0"),
                             operation: operation)
        }
        guard tolerance.isFinite, tolerance >= 0 else {
            throw ProbeError(.invalidOption(name: "tolerance", value: "\(tolerance)", requirement: "finite and >= 0"),
                             operation: operation)
        }
        guard historySize >= 1 else {
            throw ProbeError(.invalidOption(name: "historySize", value: "\(historySize)", requirement: ">= 1"),
                             operation: operation)
        }
    }
}
