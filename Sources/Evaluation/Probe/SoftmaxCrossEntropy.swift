import Foundation
import NumericKernels

/// The L2-regularised multinomial logistic objective of ``LogisticProbe``, per training sample:
///
///     f(W, b) = (1/n) Σᵢ CEᵢ + ||W||²_F / (2 C n),     CEᵢ = log Σₖ exp(zᵢₖ) − zᵢ,yᵢ,   Z = X W + 1 bᵀ
///
/// which is `C n` times less than scikit-learn's `0.5 ||W||² + C Σᵢ CEᵢ` and has the same
/// minimiser; this scaling is scikit-learn's too, so a gradient tolerance means the same in
/// both. The intercept `b` is not penalised. Parameters `θ` are Double: `W` row-major `d x K`,
/// then `b`.
///
/// Precision: `X` and the GEMMs are Float, everything else Double. The logits `Z` of the
/// current point are kept in Double; a line search along `D` computes the direction's logits
/// `X D` once (one GEMM) and evaluates every trial step from `Z + α X D` in Double, so the
/// loss along the line is smooth in `α` instead of carrying the ~1e-7 rounding noise of a
/// fresh Float GEMM per trial, which would stall the line search near the optimum. The
/// accepted step's logits become the new `Z`; the gradient `∇W = Xᵀ (P − Y) / n + W / (C n)`
/// is one GEMM on the Float residual `P − Y`, `∇b = Σᵢ (P − Y)ᵢ / n` is summed in Double.
/// Softmax subtracts the row maximum (no overflow).
///
/// Owns its scratch matrices, allocated once per fit; not for concurrent use.
final class SoftmaxCrossEntropy: LineSearchObjective {
    /// `n x d` training features (already standardised if the probe standardises).
    private let features: Matrix
    /// Each row's class position in `0 ..< K`.
    private let targets: [Int]
    private let classCount: Int
    /// `1 / (C n)`: the penalty's weight in the scaled objective.
    private let penaltyScale: Double

    /// The current parameters `θ` and `||W||²`.
    private var current: [Double]
    private var weightNormSquared = 0.0
    /// `n x K` logits of the current point (Double).
    private var logits: [Double]
    /// The prepared line: direction, its logits `X D_W + 1 d_bᵀ` (`n x K`), `W·D_W` and `||D_W||²`.
    private var direction: [Double] = []
    private var directionLogits: [Double]
    private var weightDotDirection = 0.0
    private var directionNormSquared = 0.0

    /// Float scratch: `d x K` weights or direction, `n x K` GEMM output or `P − Y`, `d x K` gradient.
    private var floatWeights: Matrix
    private var floatRows: Matrix
    private var floatGradient: Matrix
    /// One row of exponentials.
    private var rowScratch: [Double]

    private var n: Int { features.rows }
    private var d: Int { features.columns }
    /// Length of the parameter vector, `(d + 1) K`.
    var parameterCount: Int { (features.columns + 1) * classCount }

    /// - Precondition: `targets.count == features.rows > 0`, every target in `0 ..< classCount`, `C > 0`.
    init(features: Matrix, targets: [Int], classCount: Int, inverseRegularization c: Double) {
        precondition(targets.count == features.rows && features.rows > 0,
                     "SoftmaxCrossEntropy: \(targets.count) targets for \(features.rows) rows")
        precondition(c > 0, "SoftmaxCrossEntropy: C must be > 0, got \(c)")
        let (n, d, k) = (features.rows, features.columns, classCount)
        self.features = features
        self.targets = targets
        self.classCount = k
        self.penaltyScale = 1 / (c * Double(n))
        self.current = [Double](repeating: 0, count: (d + 1) * k)
        self.logits = [Double](repeating: 0, count: n * k)
        self.directionLogits = [Double](repeating: 0, count: n * k)
        self.floatWeights = Matrix(rows: d, columns: k)
        self.floatRows = Matrix(rows: n, columns: k)
        self.floatGradient = Matrix(rows: d, columns: k)
        self.rowScratch = [Double](repeating: 0, count: k)
    }

    // MARK: LineSearchObjective

    func start(at x: [Double]) -> (value: Double, gradient: [Double]) {
        precondition(x.count == parameterCount, "SoftmaxCrossEntropy: \(x.count) parameters, expected \(parameterCount)")
        current = x
        weightNormSquared = sumOfSquares(x, count: d * classCount)
        linearLogits(of: x, into: &logits)
        return valueAndGradient()
    }

    func beginLine(direction newDirection: [Double]) -> Double {
        precondition(newDirection.count == parameterCount, "SoftmaxCrossEntropy: direction has \(newDirection.count) entries")
        direction = newDirection
        linearLogits(of: newDirection, into: &directionLogits)
        let weightCount = d * classCount
        var (wd, dd) = (0.0, 0.0)
        for i in 0 ..< weightCount {
            wd += current[i] * newDirection[i]
            dd += newDirection[i] * newDirection[i]
        }
        (weightDotDirection, directionNormSquared) = (wd, dd)
        return line(at: 0).slope
    }

    func line(at step: Double) -> (value: Double, slope: Double) {
        let pass = rowPass(step: step, writeResidual: false)
        return (value(crossEntropySum: pass.crossEntropy, step: step),
                pass.slope / Double(n) + (weightDotDirection + step * directionNormSquared) * penaltyScale)
    }

    func move(step: Double) -> (value: Double, gradient: [Double]) {
        // The value with exactly the arithmetic `line(at: step)` used, so the accepted trial's
        // value and the new point's agree to the bit.
        let value = value(crossEntropySum: rowPass(step: step, writeResidual: false).crossEntropy, step: step)
        for i in logits.indices { logits[i] += step * directionLogits[i] }
        for i in current.indices { current[i] += step * direction[i] }
        weightNormSquared = sumOfSquares(current, count: d * classCount)
        return (value, valueAndGradient().gradient)
    }

    // MARK: Passes

    /// `f` on the prepared line: the penalty expanded in `step` so that it is exact in Double.
    private func value(crossEntropySum: Double, step: Double) -> Double {
        let normSquared = weightNormSquared + step * (2 * weightDotDirection + step * directionNormSquared)
        return crossEntropySum / Double(n) + 0.5 * normSquared * penaltyScale
    }

    /// `f` and `∇f` at the current point (logits `Z`, parameters `current`).
    private func valueAndGradient() -> (value: Double, gradient: [Double]) {
        let k = classCount
        let pass = rowPass(step: 0, writeResidual: true)
        features.withView { x in
            floatRows.withView { r in
                floatGradient.withMutableView { gemm(x, .transpose, r, .none, into: $0) }
            }
        }
        let inverseN = 1 / Double(n)
        var gradient = [Double](repeating: 0, count: parameterCount)
        floatGradient.withUnsafeBufferPointer { g in
            for i in 0 ..< d * k { gradient[i] = Double(g[i]) * inverseN + current[i] * penaltyScale }
        }
        for j in 0 ..< k { gradient[d * k + j] = pass.biasGradient[j] * inverseN }
        return (currentValue(crossEntropySum: pass.crossEntropy), gradient)
    }

    /// `f` at the current point.
    private func currentValue(crossEntropySum sum: Double) -> Double {
        sum / Double(n) + 0.5 * weightNormSquared * penaltyScale
    }

    /// One pass over the rows at logits `Z + step · Z_D`: the summed cross-entropy, the summed
    /// directional derivative `Σᵢ (pᵢ − yᵢ)·(Z_D)ᵢ`, and, when `writeResidual` is set (only
    /// with `step == 0`), `P − Y` into `floatRows` with its column sums.
    private func rowPass(step: Double, writeResidual: Bool) -> (crossEntropy: Double, slope: Double, biasGradient: [Double]) {
        let k = classCount
        var crossEntropy = 0.0
        var slope = 0.0
        var biasGradient = [Double](repeating: 0, count: writeResidual ? k : 0)
        let usesDirection = step != 0 || !writeResidual
        rowScratch.withUnsafeMutableBufferPointer { e in
            floatRows.withUnsafeMutableBufferPointer { residual in
                for i in 0 ..< n {
                    let row = i * k
                    var maximum = -Double.infinity
                    for j in 0 ..< k {
                        let z = usesDirection ? logits[row + j] + step * directionLogits[row + j] : logits[row + j]
                        e[j] = z
                        maximum = max(maximum, z)
                    }
                    let target = targets[i]
                    let targetLogit = e[target]
                    var sum = 0.0
                    for j in 0 ..< k {
                        e[j] = Foundation.exp(e[j] - maximum)
                        sum += e[j]
                    }
                    crossEntropy += maximum + Foundation.log(sum) - targetLogit
                    let inverseSum = 1 / sum
                    if usesDirection {
                        var s = -directionLogits[row + target]
                        for j in 0 ..< k { s += e[j] * inverseSum * directionLogits[row + j] }
                        slope += s
                    }
                    if writeResidual {
                        for j in 0 ..< k {
                            let r = e[j] * inverseSum - (j == target ? 1 : 0)
                            biasGradient[j] += r
                            residual[row + j] = Float(r)
                        }
                    }
                }
            }
        }
        return (crossEntropy, slope, biasGradient)
    }

    /// `X V_W + 1 v_bᵀ` for a parameter vector `v`, in Double (`V_W` rounded to Float for the GEMM).
    private func linearLogits(of v: [Double], into target: inout [Double]) {
        let k = classCount
        floatWeights.withUnsafeMutableBufferPointer { w in
            for i in 0 ..< d * k { w[i] = Float(v[i]) }
        }
        features.withView { x in
            floatWeights.withView { w in
                floatRows.withMutableView { gemm(x, .none, w, .none, into: $0) }
            }
        }
        floatRows.withUnsafeBufferPointer { z in
            for i in 0 ..< n {
                for j in 0 ..< k { target[i * k + j] = Double(z[i * k + j]) + v[d * k + j] }
            }
        }
    }

    private func sumOfSquares(_ v: [Double], count: Int) -> Double {
        var s = 0.0
        for i in 0 ..< count { s += v[i] * v[i] }
        return s
    }
}
