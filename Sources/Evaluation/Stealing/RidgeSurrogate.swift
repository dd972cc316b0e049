import Numerics

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
    /// every row with it.
    ///
    /// All candidates share one eigen-decomposition `Xcᵀ Xc = V Λ Vᵀ` of the training part
    /// (`ssyevd`), after which each `λ` costs one `m x F x d` GEMM for the validation
    /// predictions: `W(λ) = V diag(1 / (Λ + λ)) Vᵀ Xcᵀ Yc`.
    /// - Returns: the refitted surrogate and each candidate's validation mean squared error
    ///   (per row, summed over the `d` dimensions), in the order of `lambdas`.
    /// - Throws: ``SurrogateError`` for an empty or invalid candidate list, mismatched rows or
    ///   too few rows to hold some out; otherwise as ``fit(features:representations:lambda:)``.
    public static func fitSelectingLambda(
        features: Matrix, representations: Matrix, lambdas: [Float], validationFraction: Double = 0.1
    ) throws -> (surrogate: RidgeSurrogate, validationError: [Double]) {
        guard !lambdas.isEmpty else { throw SurrogateError("no candidate lambda to choose from") }
        if let bad = lambdas.first(where: { !($0.isFinite && $0 > 0) }) {
            throw SurrogateError("candidate lambdas must be finite and positive, got \(bad)")
        }
        return try selectLambda(features: features, representations: representations, lambdas: lambdas,
                                validationFraction: validationFraction)
    }

    private static func selectLambda(
        features: Matrix, representations: Matrix, lambdas: [Float], validationFraction: Double
    ) throws -> (surrogate: RidgeSurrogate, validationError: [Double]) {
        let n = features.rows
        guard representations.rows == n else {
            throw SurrogateError("\(n) feature rows but \(representations.rows) representation rows")
        }
        guard validationFraction > 0, validationFraction < 1 else {
            throw SurrogateError("the validation fraction must be in (0, 1), got \(validationFraction)")
        }
        let m = Int((Double(n) * validationFraction).rounded())
        guard m >= 1, n - m >= 2 else {
            throw SurrogateError("\(n) rows are too few to hold out \(validationFraction) of them for choosing lambda")
        }
        if lambdas.count == 1 {
            return (try fit(features: features, representations: representations, lambda: lambdas[0]), [.nan])
        }
        let (f, d) = (features.columns, representations.columns)
        let trainX = features.rows(0 ..< n - m).copy(), trainY = representations.rows(0 ..< n - m).copy()
        let meanX = columnMeans(trainX), meanY = columnMeans(trainY)
        let xc = shifted(trainX, by: meanX), yc = shifted(trainY, by: meanY)
        let gram = Matrix.product(xc, .transpose, xc, .none)
        let eigen = try SymmetricEigenDecomposition(gram)
        let b = Matrix.product(eigen.vectors, .transpose, Matrix.product(xc, .transpose, yc, .none), .none)  // F x d
        let validationX = shifted(features.rows(n - m ..< n).copy(), by: meanX)
        let projected = Matrix.product(validationX, eigen.vectors)  // m x F
        let validationY = representations.rows(n - m ..< n).copy()
        var errors: [Double] = []
        for lambda in lambdas {
            let scaled = Matrix(rows: f, columns: d) { i, j in b[i, j] / (max(eigen.values[i], 0) + lambda) }
            let prediction = Matrix.product(projected, scaled)
            var total = 0.0
            for i in 0 ..< m {
                for j in 0 ..< d {
                    let e = Double(prediction[i, j] + meanY[j] - validationY[i, j])
                    total += e * e
                }
            }
            errors.append(total / Double(m))
        }
        let best = errors.indices.min { errors[$0] < errors[$1] }!
        return (try fit(features: features, representations: representations, lambda: lambdas[best]), errors)
    }
}

/// Why the thief's surrogate cannot be fitted as asked.
public struct SurrogateError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "surrogate: \(message)" }
}
