import Defense
import NumericKernels

/// The evaluator's inverse of a per-user transform that is affine (`y = x A + c`, every
/// pipeline built from affine, scale+shift, pad, add-constants and shuffle stages), used
/// to measure remapping error in the encoder's own space: a large translation `c` makes
/// cosine distances in the transformed space look small whatever the remapping's quality.
///
/// The map is recovered from the transform itself, by applying it to the zero vector
/// (giving `c`) and to the unit vectors (giving the rows of `A`); it is then checked on
/// random rows, so a non-affine transform (binary) is refused rather than mis-inverted.
/// Inversion solves `x A = y - c` in the least-squares sense (`A` is `d x d'` with
/// `d' >= d` and full row rank for every affine stage the engine has).
public struct AffineInverse: Sendable {
    /// `A` (`d x d'`).
    public let linear: Matrix
    /// `c` (`d'` entries).
    public let offset: [Float]

    /// Recovers the affine map of `transform`.
    /// - Throws: ``AffineInverseError`` if the transform is not affine within float
    ///   rounding (a binary transform) or `A` is rank-deficient.
    public init(of transform: some RepresentationTransform, seed: RandomSeed = RandomSeed(7, 11, 13, 17)) throws {
        let (d, e) = (transform.inputDimension, transform.outputDimension)
        guard e >= d else { throw AffineInverseError("the transform reduces dimension \(d) to \(e); it cannot be inverted") }
        // Row 0: the zero vector; rows 1...d: the unit vectors.
        let probes = Matrix(rows: d + 1, columns: d) { i, j in i == j + 1 ? 1 : 0 }
        let images = transform.apply(probes)
        let offset = Array(images.row(0))
        let linear = Matrix(rows: d, columns: e) { i, j in images[i + 1, j] - offset[j] }

        // Check on random rows that the transform is the affine map just read off.
        var generator = RandomGenerator(seed: seed)
        let check = Matrix.gaussian(rows: 4, columns: d, using: &generator)
        // x A + c by the mapper's GEMM (the `fit` tag is unused here: nothing is fitted).
        let expected = LinearMapper(weights: linear, bias: offset, fit: .leastSquares).apply(check)
        let actual = transform.apply(check)
        let scale = max(1, expected.elements.reduce(0) { max($0, abs($1)) })
        let worst = zip(expected.elements, actual.elements).reduce(0) { max($0, abs($1.0 - $1.1)) }
        guard worst <= 1e-3 * scale else {
            throw AffineInverseError("the transform is not affine (a check row differs by \(worst)); only affine transforms can be undone")
        }
        self.linear = linear
        self.offset = offset
    }

    /// `x` from `y = x A + c` (rows of `y` are `d'`-dimensional), by least squares on `Aᵀ`.
    /// - Throws: ``LinearAlgebraError`` if `A` is rank-deficient.
    public func undo(_ y: Matrix) throws -> Matrix {
        precondition(y.columns == linear.columns,
                     "AffineInverse.undo: input has \(y.columns) columns, the transform outputs \(linear.columns)")
        let shiftedTransposed = Matrix(rows: y.columns, columns: y.rows) { j, i in y[i, j] - offset[j] }
        let solution = try leastSquares(linear.transposed(), shiftedTransposed, method: .qr).solution
        return solution.transposed()
    }
}

/// Why a transform cannot be undone by ``AffineInverse``.
public struct AffineInverseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "cannot invert transform: \(message)" }
}
