import NumericKernels

/// Per-feature standardisation `x ↦ (x - mean) / scale`, fitted on a training set and
/// applied to any matrix with the same number of columns (scikit-learn's `StandardScaler`).
///
/// The mean and the population standard deviation (divisor `n`, not `n - 1`) of every column
/// are computed in Double by two passes. A **constant feature** — one whose variance is zero
/// up to the rounding error of that computation (scikit-learn's bound,
/// `var <= n ε var + (n ε mean)²` with ε the Double epsilon) — gets scale 1, so it is only
/// centred (to 0) instead of divided by zero.
///
/// Units: `means` are in the features' units, `scales` too; the standardised features are
/// dimensionless (training-set standard deviations).
public struct FeatureStandardizer: Sendable, Equatable {
    /// Column means of the training set, one per feature.
    public let means: [Double]
    /// Column standard deviations of the training set (1 for a constant feature), one per feature; all `> 0`.
    public let scales: [Double]

    /// Number of features `d`.
    public var featureCount: Int { means.count }

    /// A standardiser from explicit statistics.
    /// - Precondition: `means.count == scales.count`, every mean finite, every scale finite and `> 0`.
    public init(means: [Double], scales: [Double]) {
        precondition(means.count == scales.count,
                     "FeatureStandardizer: \(means.count) means but \(scales.count) scales")
        precondition(means.allSatisfy(\.isFinite), "FeatureStandardizer: a mean is not finite")
        precondition(scales.allSatisfy { $0.isFinite && $0 > 0 }, "FeatureStandardizer: a scale is not finite and > 0")
        self.means = means
        self.scales = scales
    }

    /// Fits the per-feature means and standard deviations of `features` (`n x d`, one sample per row).
    ///
    /// - Throws: ``ProbeError`` `.emptyTrainingSet` when `n == 0`, `.nonFiniteFeature` naming
    ///   the first NaN or infinite element.
    /// - Complexity: O(n d), two passes.
    public static func fit(_ features: Matrix) throws -> FeatureStandardizer {
        let operation = "FeatureStandardizer.fit"
        guard features.rows > 0 else { throw ProbeError(.emptyTrainingSet, operation: operation) }
        try checkFinite(features, operation: operation)
        let (n, d) = (features.rows, features.columns)
        var means = [Double](repeating: 0, count: d)
        var variances = [Double](repeating: 0, count: d)
        features.withUnsafeBufferPointer { x in
            for i in 0 ..< n {
                for j in 0 ..< d { means[j] += Double(x[i * d + j]) }
            }
            for j in 0 ..< d { means[j] /= Double(n) }
            for i in 0 ..< n {
                for j in 0 ..< d {
                    let centred = Double(x[i * d + j]) - means[j]
                    variances[j] += centred * centred
                }
            }
        }
        let epsilon = Double.ulpOfOne
        let scales = (0 ..< d).map { j -> Double in
            let variance = variances[j] / Double(n)
            let roundingBound = Double(n) * epsilon * variance + (Double(n) * means[j] * epsilon).squared
            return variance <= roundingBound ? 1 : variance.squareRoot()
        }
        return FeatureStandardizer(means: means, scales: scales)
    }

    /// `(x - mean) / scale` column by column, for `x: m x d`; NaN and infinity pass through.
    ///
    /// - Throws: ``ProbeError`` `.featureCountMismatch` when `x` does not have `d` columns.
    /// - Complexity: O(m d).
    public func apply(_ x: Matrix) throws -> Matrix {
        guard x.columns == featureCount else {
            throw ProbeError(.featureCountMismatch(expected: featureCount, found: x.columns),
                             operation: "FeatureStandardizer.apply")
        }
        let d = featureCount
        // Float arithmetic on Float data: the rounding of mean and scale to Float moves a
        // standardised value by about 1e-7 standard deviations, far below the data's own noise.
        let floatMeans = means.map { Float($0) }
        let floatScales = scales.map { Float($0) }
        var result = Matrix(uninitializedRows: x.rows, columns: d)
        x.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for i in 0 ..< x.rows {
                    for j in 0 ..< d { target[i * d + j] = (source[i * d + j] - floatMeans[j]) / floatScales[j] }
                }
            }
        }
        return result
    }
}

extension Double {
    fileprivate var squared: Double { self * self }
}
