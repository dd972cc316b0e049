import NumericKernels

/// How a ``LinearMapper`` is fitted.
public enum MapperFit: Sendable, Equatable {
    /// `min ||[S 1] [W; b] - T||_F` by Householder QR (`sgels`). Requires `n >= d_s + 1`
    /// and `[S 1]` of full column rank; otherwise throws ``LinearAlgebraError`` (`.rankDeficient`).
    case leastSquares
    /// The minimum-norm least-squares solution of `[S 1] [W; b] ≈ T` by SVD (`sgelsd`),
    /// for any `n` and any rank. The norm minimised is that of the stacked `[W; b]`
    /// (bias included), exactly as `numpy.linalg.lstsq(np.c_[S, ones], T)`.
    case minimumNorm
    /// Ridge regression with an unpenalised bias: with `Sc`, `Tc` the column-centred
    /// source and target, solves `(Scᵀ Sc + λ I) W = Scᵀ Tc` by Cholesky (`sposv`) and sets
    /// `b = mean(T) - mean(S) W`. `lambda` must be finite and `>= 0` (`0` is plain least
    /// squares through the normal equations and may throw `.notPositiveDefinite`).
    case ridge(lambda: Float)
}

/// An input ``LinearMapper/fit(source:target:method:)`` refuses before any solver runs.
public struct LinearMapperError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the input.
    public enum Kind: Sendable, Equatable {
        /// No paired rows (`n == 0`).
        case noRows
        /// Source and target have different row counts.
        case rowCountMismatch(source: Int, target: Int)
        /// The named input (`"source"` or `"target"`) contains NaN or infinity.
        case nonFiniteInput(String)
        /// The ridge penalty is negative or not finite.
        case invalidLambda(Float)
    }

    /// What went wrong.
    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    public var description: String {
        switch kind {
        case .noRows: "LinearMapper: no paired rows to fit on (n == 0)"
        case .rowCountMismatch(let s, let t): "LinearMapper: source has \(s) rows but target has \(t); rows must be paired"
        case .nonFiniteInput(let which): "LinearMapper: \(which) contains NaN or infinity"
        case .invalidLambda(let lambda): "LinearMapper: ridge lambda must be finite and >= 0, got \(lambda)"
        }
    }
}

/// A linear map `x ↦ x W + b` from one account's representations (the source, dimension
/// `d_s`) to another's (the target, dimension `d_t`), fitted on paired rows: the sybil
/// remapping protocol (Figure 13) fits it on the queries both accounts submitted.
public struct LinearMapper: Sendable {
    /// `d_s x d_t`.
    public let weights: Matrix
    /// `d_t` entries.
    public let bias: [Float]
    /// The method that produced this mapper (for ``fitAutomatically(source:target:)``, the
    /// method actually used, after any fallback).
    public let fit: MapperFit

    /// Source dimension `d_s`.
    public var sourceDimension: Int { weights.rows }
    /// Target dimension `d_t`.
    public var targetDimension: Int { weights.columns }

    /// Creates a mapper from explicit parameters.
    /// - Precondition: `bias.count == weights.columns`.
    public init(weights: Matrix, bias: [Float], fit: MapperFit) {
        precondition(bias.count == weights.columns,
                     "LinearMapper: bias has \(bias.count) entries, weights have \(weights.columns) columns")
        self.weights = weights
        self.bias = bias
        self.fit = fit
    }

    /// Fits `T ≈ S W + b` on paired rows (`S: n x d_s` source, `T: n x d_t` target).
    ///
    /// - Throws: ``LinearMapperError`` for `n == 0`, a row-count mismatch, a non-finite
    ///   input or an invalid ridge `lambda`; ``LinearAlgebraError`` from the solver
    ///   (`.rankDeficient` for `.leastSquares` on rank-deficient or too few rows,
    ///   `.notPositiveDefinite` for a singular ridge system, `.noConvergence` for the SVD).
    /// - Complexity: O(n (d_s + 1)² + n (d_s + 1) d_t) for every method.
    public static func fit(source: Matrix, target: Matrix, method: MapperFit) throws -> LinearMapper {
        try validate(source: source, target: target)
        switch method {
        case .leastSquares:
            return try solveAugmented(source: source, target: target, method: .qr, fit: method)
        case .minimumNorm:
            // Singular values below eps·max(n, d_s + 1) of the largest count as zero: numpy's
            // `lstsq` default, which also drops robustly the exact null directions that padded
            // constants (collinear with the bias column) leave at rounding level.
            let cutoff = Float.ulpOfOne * Float(max(source.rows, source.columns + 1))
            return try solveAugmented(source: source, target: target, method: .svd(relativeCondition: cutoff), fit: method)
        case .ridge(let lambda):
            guard lambda.isFinite, lambda >= 0 else { throw LinearMapperError(.invalidLambda(lambda)) }
            return try ridge(source: source, target: target, lambda: lambda)
        }
    }

    /// The automatic choice of the remapping protocol:
    /// - `n > d_s + 1`: ``MapperFit/leastSquares`` (QR); if QR reports rank deficiency
    ///   (``LinearAlgebraError`` `.rankDeficient`), falls back to ``MapperFit/minimumNorm``.
    /// - `n <= d_s + 1` (at or below the dimension of `[S 1]`): ``MapperFit/minimumNorm``.
    ///   When `[S 1]` has full row rank the minimum-norm solution is computed by LQ
    ///   (`sgels` on the underdetermined system, several times faster than the SVD for wide
    ///   sources such as binary transforms), otherwise by the SVD; both give the same solution.
    ///
    /// The returned mapper's ``fit`` records the method actually used.
    /// - Throws: as ``fit(source:target:method:)``.
    public static func fitAutomatically(source: Matrix, target: Matrix) throws -> LinearMapper {
        try validate(source: source, target: target)
        if source.rows > source.columns + 1 {
            do {
                return try fit(source: source, target: target, method: .leastSquares)
            } catch let error as LinearAlgebraError where error.kind == .rankDeficient {
                // Fall through to the minimum-norm solution, which handles any rank.
            }
        } else {
            do {
                return try solveAugmented(source: source, target: target, method: .qr, fit: .minimumNorm)
            } catch let error as LinearAlgebraError where error.kind == .rankDeficient {
                // Rank-deficient rows: the SVD below handles any rank.
            }
        }
        return try fit(source: source, target: target, method: .minimumNorm)
    }

    /// `x W + b` for `x: m x d_s` (one GEMM, accumulating onto the broadcast bias).
    /// - Precondition: `x.columns == d_s`.
    public func apply(_ x: Matrix) -> Matrix {
        precondition(x.columns == weights.rows,
                     "LinearMapper.apply: input has \(x.columns) columns, mapper expects \(weights.rows)")
        let dt = weights.columns
        var result = Matrix(rows: x.rows, columns: dt) { _, j in bias[j] }
        x.withView { xv in
            weights.withView { wv in
                result.withMutableView { gemm(xv, .none, wv, .none, into: $0, alpha: 1, beta: 1) }
            }
        }
        return result
    }

    // MARK: - Fitting

    private static func validate(source: Matrix, target: Matrix) throws {
        guard source.rows == target.rows else {
            throw LinearMapperError(.rowCountMismatch(source: source.rows, target: target.rows))
        }
        guard source.rows > 0 else { throw LinearMapperError(.noRows) }
        guard source.elements.allSatisfy({ $0.isFinite }) else { throw LinearMapperError(.nonFiniteInput("source")) }
        guard target.elements.allSatisfy({ $0.isFinite }) else { throw LinearMapperError(.nonFiniteInput("target")) }
    }

    /// Solves `[S 1] [W; b] ≈ T` and splits the `(d_s + 1) x d_t` solution.
    private static func solveAugmented(
        source: Matrix, target: Matrix, method: LeastSquaresMethod, fit: MapperFit
    ) throws -> LinearMapper {
        let (n, ds, dt) = (source.rows, source.columns, target.columns)
        let augmented = Matrix(rows: n, columns: ds + 1) { i, j in j < ds ? source[i, j] : 1 }
        let solution = try leastSquares(augmented, target, method: method).solution
        let weights = Matrix(rows: ds, columns: dt, elements: Array(solution.elements[0 ..< ds * dt]))
        let bias = Array(solution.elements[ds * dt ..< (ds + 1) * dt])
        return LinearMapper(weights: weights, bias: bias, fit: fit)
    }

    /// Ridge with an unpenalised bias, through centring.
    private static func ridge(source: Matrix, target: Matrix, lambda: Float) throws -> LinearMapper {
        let meanS = columnMeans(source)
        let meanT = columnMeans(target)
        let centredS = shifted(source, by: meanS)
        let centredT = shifted(target, by: meanT)
        var gram = Matrix.gram(centredS)
        for i in 0 ..< gram.rows { gram[i, i] += lambda }
        let rhs = Matrix.product(centredS, .transpose, centredT)
        let weights = try solvePositiveDefinite(gram, rhs)
        let (ds, dt) = (source.columns, target.columns)
        var bias = [Float](repeating: 0, count: dt)
        for j in 0 ..< dt {
            var s = Double(meanT[j])
            for k in 0 ..< ds { s -= Double(meanS[k]) * Double(weights[k, j]) }
            bias[j] = Float(s)
        }
        return LinearMapper(weights: weights, bias: bias, fit: .ridge(lambda: lambda))
    }
}

/// Mean cosine distance `1 - cos(a_i, b_i)` over corresponding rows, in `[0, 2]`.
///
/// A row pair in which either row has zero norm counts as distance 1 (no direction, so
/// orthogonal to everything). Accumulates in Double; `cos` is clamped to `[-1, 1]`.
/// Zero rows (an empty batch) give 0. A non-finite element makes the result NaN.
/// - Precondition: `a` and `b` have the same shape.
public func meanCosineDistance(_ a: Matrix, _ b: Matrix) -> Double {
    precondition(a.rows == b.rows && a.columns == b.columns,
                 "meanCosineDistance: shapes differ, \(a.rows) x \(a.columns) vs \(b.rows) x \(b.columns)")
    guard a.rows > 0 else { return 0 }
    let d = a.columns
    let (x, y) = (a.elements, b.elements)
    var total = 0.0
    for i in 0 ..< a.rows {
        var (dot, nx, ny) = (0.0, 0.0, 0.0)
        for k in i * d ..< (i + 1) * d {
            let (u, v) = (Double(x[k]), Double(y[k]))
            dot += u * v
            nx += u * u
            ny += v * v
        }
        if nx == 0 || ny == 0 {
            total += 1
        } else {
            let cosine = dot / (nx.squareRoot() * ny.squareRoot())
            total += cosine.isNaN ? cosine : 1 - min(1, max(-1, cosine))
        }
    }
    return total / Double(a.rows)
}
