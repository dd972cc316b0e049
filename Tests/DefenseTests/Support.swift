import Defense
import NumericKernels
import TestSupport

let testSecret = try! ServerSecret(bytes: Array(0..<32))

/// A small configuration for tests that do not need the paper's dimension.
func smallConfiguration(dimension: Int = 64, transforms: [TransformKind] = [.affine()], cost: CostFunction = .exponential(ExponentialCost())) -> DefenseConfiguration {
    var c = DefenseConfiguration()
    c.dimension = dimension
    c.transforms = transforms
    c.cost = cost
    return c
}

/// Unit-norm rows spread uniformly over the sphere: a stealing-like query set.
func spreadQueries(count: Int, dimension: Int, seed: UInt64) -> Matrix {
    gaussianMatrix(rows: count, columns: dimension, seed: seed).rowsNormalized()
}

/// Unit-norm rows from `clusters` tight clusters: a legitimate-like query set (one task).
func clusteredQueries(count: Int, dimension: Int, clusters: Int, spread: Float = 0.1, seed: UInt64) -> (Matrix, [Int]) {
    let centres = gaussianMatrix(rows: clusters, columns: dimension, seed: seed).rowsNormalized()
    var rows = gaussianMatrix(rows: count, columns: dimension, seed: seed &+ 1, scale: spread / Float(dimension).squareRoot())
    var labels = [Int]()
    for i in 0..<count {
        let c = i % clusters
        labels.append(c)
        for j in 0..<dimension { rows[i, j] += centres[c, j] }
    }
    return (rows.rowsNormalized(), labels)
}
