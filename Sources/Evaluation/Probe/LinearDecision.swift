import Foundation
import NumericKernels

/// The part every fitted linear probe shares: optional standardisation, then scores
/// `S = x W + b` (`m x K`), prediction by argmax over the fitted classes, and accuracy.
struct LinearDecision: Sendable {
    /// Applied to the input before the weights, when the probe standardises.
    let standardizer: FeatureStandardizer?
    /// `d x K`.
    let weights: Matrix
    /// `K` entries.
    let bias: [Float]
    /// The class label of each score column, ascending.
    let classes: [Int]
    /// Labels are valid in `0 ..< classCount`.
    let classCount: Int
    /// The owning type's name, for error messages.
    let owner: String

    var featureCount: Int { weights.rows }

    /// `x W + b` on the (standardised) input, after validating the input.
    /// - Throws: ``ProbeError`` `.featureCountMismatch`, `.nonFiniteFeature`.
    func scores(_ x: Matrix, operation: String) throws -> Matrix {
        let operation = "\(owner).\(operation)"
        guard x.columns == featureCount else {
            throw ProbeError(.featureCountMismatch(expected: featureCount, found: x.columns), operation: operation)
        }
        try checkFinite(x, operation: operation)
        let input = try standardizer?.apply(x) ?? x
        var result = Matrix(rows: x.rows, columns: weights.columns) { _, j in bias[j] }
        input.withView { xv in
            weights.withView { wv in
                result.withMutableView { gemm(xv, .none, wv, .none, into: $0, alpha: 1, beta: 1) }
            }
        }
        return result
    }

    /// The label of each row's largest score (the first one on a tie).
    func predict(_ x: Matrix) throws -> [Int] {
        let s = try scores(x, operation: "predict")
        let k = s.columns
        return s.withUnsafeBufferPointer { z in
            (0 ..< s.rows).map { i in
                var best = 0
                for j in 1 ..< k where z[i * k + j] > z[i * k + best] { best = j }
                return classes[best]
            }
        }
    }

    /// Fraction of rows whose predicted label equals the given one, in `[0, 1]`.
    /// - Throws: ``ProbeError`` `.emptyEvaluationSet`, `.labelCountMismatch`,
    ///   `.labelOutOfRange` (negative or `>= classCount`), and as ``scores(_:operation:)``.
    func accuracy(_ x: Matrix, labels: [Int]) throws -> Double {
        let operation = "\(owner).accuracy"
        guard x.rows == labels.count else {
            throw ProbeError(.labelCountMismatch(rows: x.rows, labels: labels.count), operation: operation)
        }
        guard x.rows > 0 else { throw ProbeError(.emptyEvaluationSet, operation: operation) }
        try ProbeLabels.checkRange(labels, classCount: classCount, operation: operation)
        let predictions = try predict(x)
        let correct = zip(predictions, labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
        return Double(correct) / Double(labels.count)
    }

    /// Row-wise softmax of the scores, computed in Double with the row maximum subtracted.
    func probabilities(_ x: Matrix) throws -> Matrix {
        var s = try scores(x, operation: "probabilities")
        let k = s.columns
        s.withUnsafeMutableBufferPointer { z in
            for i in 0 ..< x.rows {
                let row = i * k
                var maximum = -Double.infinity
                for j in 0 ..< k { maximum = max(maximum, Double(z[row + j])) }
                var sum = 0.0
                for j in 0 ..< k { sum += Foundation.exp(Double(z[row + j]) - maximum) }
                let logSumExp = maximum + Foundation.log(sum)
                for j in 0 ..< k { z[row + j] = Float(Foundation.exp(Double(z[row + j]) - logSumExp)) }
            }
        }
        return s
    }
}
