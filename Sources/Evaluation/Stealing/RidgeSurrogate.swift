import NumericKernels

/// The thief's stolen encoder: a linear map from the thief's own text features
/// (``HashedNGramFeatures``, `F` columns) to the victim API's representations (`d` columns,
/// 384 for multilingual-e5-small), fitted on the answers the thief collected.
///
/// Ridge regression with an unpenalised bias, `min ||X W + 1 b - Y||² + λ ||W||²`, solved as
/// ``LinearMapper`` does (centred normal equations `(Xcᵀ Xc + λ I) W = Xcᵀ Yc` by one GEMM and a
/// Cholesky solve). Ridge rather than plain least squares because the features are sparse
/// and collinear (hash collisions, rare n-grams) and the answers may carry the defense's noise:
/// the penalty is what keeps the copy from fitting that noise.
public struct RidgeSurrogate: Sendable {
    /// The fitted map: `F x d` weights and `d` biases.
    public let mapper: LinearMapper
    /// The ridge penalty `λ` it was fitted with (in squared feature units; features are unit rows).
    public let lambda: Float

    /// `F`, the number of input features.
    public var featureCount: Int { mapper.sourceDimension }
    /// `d`, the dimension of the stolen representations.
    public var representationDimension: Int { mapper.targetDimension }

    /// Fits the stolen encoder on the thief's paired rows.
    /// - Parameters:
    ///   - features: `n x F`, the thief's features of its queried texts.
    ///   - representations: `n x d`, the API's answers to those texts, row-aligned.
    ///   - lambda: the ridge penalty `λ`, finite and `>= 0`.
    /// - Throws: ``LinearMapperError`` (no rows, row-count mismatch, NaN or infinity, invalid
    ///   `λ`); ``LinearAlgebraError`` `.notPositiveDefinite` when `λ = 0` and the features are
    ///   rank-deficient.
    /// - Complexity: O(n F² + n F d + F³).
    public static func fit(features: Matrix, representations: Matrix, lambda: Float) throws -> RidgeSurrogate {
        let mapper = try LinearMapper.fit(source: features, target: representations, method: .ridge(lambda: lambda))
        return RidgeSurrogate(mapper: mapper, lambda: lambda)
    }

    /// A surrogate from an already fitted map.
    public init(mapper: LinearMapper, lambda: Float) {
        self.mapper = mapper
        self.lambda = lambda
    }

    /// The stolen representations of texts with features `features` (`m x F`): `m x d`, one GEMM.
    /// - Precondition: `features.columns == F`.
    public func predict(features: Matrix) -> Matrix {
        precondition(features.columns == featureCount,
                     "RidgeSurrogate.predict: features have \(features.columns) columns, the surrogate expects \(featureCount)")
        return mapper.apply(features)
    }

    /// The thief's own choice of `λ`: it holds out the last `validationFraction` of its
    /// paired rows, fits on the rest for every candidate in `lambdas`, keeps the one with the
    /// smallest squared error on the held-out answers (noisy answers are fine: noise
    /// independent of the texts does not move the minimiser in expectation), and refits on
    /// every row with it. One ``RidgeSurrogateSolver`` fitted once; build the solver yourself
    /// to fit several sets of answers to the same texts.
    /// - Returns: the refitted surrogate and each candidate's validation mean squared error
    ///   (per row, summed over the `d` dimensions), in the order of `lambdas`.
    /// - Throws: as ``RidgeSurrogateSolver/init(features:lambdas:validationFraction:)`` and
    ///   ``RidgeSurrogateSolver/fit(representations:)``.
    public static func fitSelectingLambda(
        features: Matrix, representations: Matrix, lambdas: [Float], validationFraction: Double = 0.1
    ) throws -> (surrogate: RidgeSurrogate, validationError: [Double]) {
        try RidgeSurrogateSolver(features: features, lambdas: lambdas, validationFraction: validationFraction)
            .fit(representations: representations)
    }
}

/// The feature side of the thief's ridge fits with `λ` chosen by validation, computed once and
/// shared by every set of answers to the same texts (the same queries answered under several
/// defenses): the experiments fit one surrogate per defense on identical features, and the
/// `F x F` Gram matrices and their eigen-decomposition are most of the cost.
///
/// The last `validationFraction` of the rows are held out. With `Xt`, `Xv` the training and
/// validation features, `μt` the training mean and `Xct = Xt - μt`: the eigen-decomposition
/// `Xctᵀ Xct = V Λ Vᵀ` prices every candidate at one `m x F x d` GEMM,
/// `W(λ) = V diag(1 / (Λ + λ)) Vᵀ Xctᵀ Yct`, and the refit on every row uses the centred Gram of
/// all rows, assembled from the two parts without another pass over the rows:
/// `Xcᵀ Xc = Xctᵀ Xct + (Xv - μt)ᵀ (Xv - μt) - (m² / n) δ δᵀ` with `δ = μt - μv`.
public struct RidgeSurrogateSolver: Sendable {
    /// Candidate penalties, in the caller's order.
    public let lambdas: [Float]
    /// Rows `n`, of which the last `m` are held out.
    public let rowCount: Int
    public let validationCount: Int
    private let trainCentred: Matrix  // (n - m) x F, centred by the training mean
    private let validationCentred: Matrix  // m x F, centred by the training mean
    private let trainMean: [Float], validationMean: [Float], fullMean: [Float]
    private let eigen: SymmetricEigenDecomposition?  // of the training Gram; nil for one candidate
    private let projected: Matrix  // validationCentred · V
    private let fullGram: Matrix  // centred Gram of all n rows

    /// Factorises the features of the thief's texts.
    /// - Parameters:
    ///   - features: `n x F`, finite.
    ///   - lambdas: candidate penalties, finite and positive; with one candidate nothing is held out
    ///     for choosing and the fit uses it directly.
    ///   - validationFraction: in (0, 1); the held-out rows are `round(n · fraction)`.
    /// - Throws: ``SurrogateError`` for an empty or invalid candidate list, an invalid fraction,
    ///   too few rows to hold some out, or non-finite features; ``LinearAlgebraError`` from the
    ///   eigen-decomposition.
    /// - Complexity: O(n F² + F³).
    public init(features: Matrix, lambdas: [Float], validationFraction: Double = 0.1) throws {
        guard !lambdas.isEmpty else { throw SurrogateError("no candidate lambda to choose from") }
        if let bad = lambdas.first(where: { !($0.isFinite && $0 > 0) }) {
            throw SurrogateError("candidate lambdas must be finite and positive, got \(bad)")
        }
        guard validationFraction > 0, validationFraction < 1 else {
            throw SurrogateError("the validation fraction must be in (0, 1), got \(validationFraction)")
        }
        let n = features.rows
        let m = lambdas.count == 1 ? 0 : Int((Double(n) * validationFraction).rounded())
        guard n >= 2, lambdas.count == 1 || (m >= 1 && n - m >= 2) else {
            throw SurrogateError("\(n) rows are too few to hold out \(validationFraction) of them for choosing lambda")
        }
        guard features.elements.allSatisfy(\.isFinite) else { throw SurrogateError("the features contain NaN or infinity") }
        self.lambdas = lambdas
        rowCount = n
        validationCount = m
        let f = features.columns
        let train = features.rows(0 ..< n - m).copy()
        trainMean = columnMeans(train)
        trainCentred = shifted(train, by: trainMean)
        let trainGram = Matrix.gram(trainCentred)
        guard m > 0 else {
            validationCentred = Matrix(rows: 0, columns: f)
            validationMean = trainMean
            fullMean = trainMean
            eigen = nil
            projected = Matrix(rows: 0, columns: f)
            fullGram = trainGram
            return
        }
        let validation = features.rows(n - m ..< n).copy()
        validationMean = columnMeans(validation)
        validationCentred = shifted(validation, by: trainMean)
        let decomposition = try SymmetricEigenDecomposition(trainGram)
        eigen = decomposition
        projected = Matrix.product(validationCentred, decomposition.vectors)
        var gram = Matrix.gram(validationCentred, adding: trainGram)
        let delta = zip(trainMean, validationMean).map { $0 - $1 }
        let w = Float(Double(m) * Double(m) / Double(n))
        for i in 0 ..< f where delta[i] != 0 {
            for j in 0 ..< f { gram[i, j] -= w * delta[i] * delta[j] }
        }
        fullGram = gram
        let (nt, mv) = (Float(n - m), Float(m))
        fullMean = zip(trainMean, validationMean).map { ($0 * nt + $1 * mv) / Float(n) }
    }

    /// Fits the surrogate on one set of answers: chooses `λ` by validation and refits on every row.
    /// - Parameter representations: `n x d`, row-aligned with the features, finite.
    /// - Returns: the surrogate and each candidate's validation mean squared error (per row,
    ///   summed over the `d` dimensions; `[nan]` with one candidate).
    /// - Throws: ``SurrogateError`` for a row mismatch or non-finite answers;
    ///   ``LinearAlgebraError`` from the Cholesky solve.
    public func fit(representations y: Matrix) throws -> (surrogate: RidgeSurrogate, validationError: [Double]) {
        let n = rowCount, m = validationCount
        guard y.rows == n else { throw SurrogateError("\(n) feature rows but \(y.rows) representation rows") }
        guard y.elements.allSatisfy(\.isFinite) else { throw SurrogateError("the representations contain NaN or infinity") }
        let (f, d) = (trainCentred.columns, y.columns)
        let trainY = y.rows(0 ..< n - m).copy()
        let trainYMean = columnMeans(trainY)
        let cross = Matrix.product(trainCentred, .transpose, shifted(trainY, by: trainYMean), .none)  // F x d
        var errors: [Double] = [.nan]
        var chosen = lambdas[0]
        var fullCross = cross
        if let eigen {
            let validationY = y.rows(n - m ..< n).copy()
            let b = Matrix.product(eigen.vectors, .transpose, cross, .none)
            errors = []
            for lambda in lambdas {
                let scaled = Matrix(rows: f, columns: d) { i, j in b[i, j] / (max(eigen.values[i], 0) + lambda) }
                let prediction = Matrix.product(projected, scaled)
                var total = 0.0
                for i in 0 ..< m {
                    for j in 0 ..< d {
                        let e = Double(prediction[i, j] + trainYMean[j] - validationY[i, j])
                        total += e * e
                    }
                }
                errors.append(total / Double(m))
            }
            chosen = lambdas[errors.indices.min { errors[$0] < errors[$1] }!]
            // Cross products of all rows, centred by the overall means, from the two parts.
            let validationYMean = columnMeans(validationY)
            addTransposedProduct(validationCentred, shifted(validationY, by: validationYMean), to: &fullCross)
            let w = Float(Double(n - m) * Double(m) / Double(n))
            for i in 0 ..< f {
                let dx = w * (trainMean[i] - validationMean[i])
                guard dx != 0 else { continue }
                for j in 0 ..< d { fullCross[i, j] += dx * (trainYMean[j] - validationYMean[j]) }
            }
        }
        var system = fullGram
        for i in 0 ..< f { system[i, i] += chosen }
        let weights = try solvePositiveDefinite(system, fullCross)
        let yMean = columnMeans(y)
        let projectedMean = Matrix.product(Matrix(rows: 1, columns: f, elements: fullMean), weights)
        let bias = (0 ..< d).map { yMean[$0] - projectedMean[0, $0] }
        return (RidgeSurrogate(mapper: LinearMapper(weights: weights, bias: bias, fit: .ridge(lambda: chosen)), lambda: chosen), errors)
    }
}

/// `c += aᵀ b` (one GEMM accumulating onto `c`).
private func addTransposedProduct(_ a: Matrix, _ b: Matrix, to c: inout Matrix) {
    a.withView { av in
        b.withView { bv in c.withMutableView { gemm(av, .transpose, bv, .none, into: $0, alpha: 1, beta: 1) } }
    }
}

/// Why the thief's surrogate cannot be fitted as asked.
public struct SurrogateError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "surrogate: \(message)" }
}
