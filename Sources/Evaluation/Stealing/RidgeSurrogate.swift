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
}
