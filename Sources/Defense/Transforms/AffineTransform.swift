import Foundation
import NumericKernels

/// The dense affine transform `y = x A + b` with `A = Q diag(s)`: `Q` a uniformly random
/// orthogonal `d x d` matrix and `s` scales drawn log-uniformly from a bounded range, so
/// the condition number of `A` is at most `maxScale / minScale` and no direction of the
/// representation is lost (utility is preserved for any linear downstream model).
///
/// Applied to a batch with one GEMM (the translation is pre-written into the output and
/// the GEMM accumulates onto it with `beta = 1`).
///
/// Deriving one costs a `d x d` Gaussian fill and a Householder QR (`sgeqrf` + `sorgqr`):
/// O(d³); measured with b4b-bench, about 0.6 s for d = 2048 on one core of the project's
/// machine. The façade caches derived transforms.
public struct AffineTransform: RepresentationTransform {
    /// `d x d` matrix `A` (row-vector convention: `y = x A + b`).
    public let matrix: Matrix
    /// Translation `b` (d values, representation units).
    public let translation: [Float]
    /// The per-column scales `s` (kept so the transform can be inverted by an evaluator).
    public let scales: [Float]

    public var inputDimension: Int { matrix.rows }
    public var outputDimension: Int { matrix.columns }
    public var byteCount: Int { matrix.elements.count * 4 + translation.count * 8 }
    public var isRowLocal: Bool { false }

    /// Derives the transform of dimension `d` from `seed`.
    /// - Parameters:
    ///   - scaleRange: bounds of the scales `s` (positive, `lowerBound <= upperBound`).
    ///   - translation: `b` is uniform in `[-translation, translation]` (representation units).
    public init(dimension d: Int, scaleRange: ClosedRange<Float>, translation: Float, seed: RandomSeed) {
        precondition(scaleRange.lowerBound > 0, "scales must be positive")
        var generator = RandomGenerator(seed: seed)
        let q = randomOrthogonal(dimension: d, using: &generator)
        let scales = randomScales(count: d, range: scaleRange, generator: &generator)
        var a = q
        a.withUnsafeMutableBufferPointer { m in
            for i in 0..<d { for j in 0..<d { m[i * d + j] *= scales[j] } }
        }
        self.matrix = a
        self.scales = scales
        self.translation = randomSymmetric(count: d, magnitude: translation, generator: &generator)
    }

    public func apply(_ input: MatrixView, into output: MutableMatrixView) {
        checkShapes(input, output)
        translation.withUnsafeBufferPointer { b in
            for i in 0..<output.rows { output.row(i).baseAddress!.update(from: b.baseAddress!, count: b.count) }
        }
        matrix.withView { a in
            if input.rows < smallBatchRows {
                // y = Aᵀ x: GEMV streams A once without GEMM's packing copy of the whole d x d
                // matrix, which dominates a GEMM of one row.
                for i in 0..<input.rows { gemv(a, .transpose, input.row(i), into: output.row(i), beta: 1) }
            } else {
                gemm(input, .none, a, .none, into: output, beta: 1)
            }
        }
    }
}

/// Below this many rows the dense transforms use one GEMV per row instead of a GEMM: a lone
/// row. Measured with b4b-bench at d = 2048 (dense affine and binary, 1 and 2 threads, against
/// the bare sgemm and sgemv in turns): one GEMV beats a GEMM of one row, whose packing of the
/// whole weight matrix dominates, but a GEMM of two rows already beats two GEMVs (1067 against
/// 722 rows/s on one thread for the affine), each of which streams the whole matrix.
package let smallBatchRows = 2

/// `count` scales, log-uniform in `range`.
func randomScales(count: Int, range: ClosedRange<Float>, generator: inout RandomGenerator) -> [Float] {
    var u = [Float](repeating: 0, count: count)
    u.withUnsafeMutableBufferPointer { generator.fillUniform($0) }
    let (logLo, logHi) = (Float(log(Double(range.lowerBound))), Float(log(Double(range.upperBound))))
    return u.map { Float(exp(Double(logLo + (logHi - logLo) * $0))) }
}

/// `count` values uniform in `[-magnitude, magnitude]`.
func randomSymmetric(count: Int, magnitude: Float, generator: inout RandomGenerator) -> [Float] {
    var u = [Float](repeating: 0, count: count)
    u.withUnsafeMutableBufferPointer { generator.fillUniform($0) }
    return u.map { (2 * $0 - 1) * magnitude }
}
