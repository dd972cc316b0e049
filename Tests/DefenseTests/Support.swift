import Defense
import Numerics
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
    normalizedRows(gaussianMatrix(rows: count, columns: dimension, seed: seed))
}

/// Unit-norm rows from `clusters` tight clusters: a legitimate-like query set (one task).
func clusteredQueries(count: Int, dimension: Int, clusters: Int, spread: Float = 0.1, seed: UInt64) -> (Matrix, [Int]) {
    let centres = normalizedRows(gaussianMatrix(rows: clusters, columns: dimension, seed: seed))
    var rows = gaussianMatrix(rows: count, columns: dimension, seed: seed &+ 1, scale: spread / Float(dimension).squareRoot())
    var labels = [Int]()
    for i in 0..<count {
        let c = i % clusters
        labels.append(c)
        for j in 0..<dimension { rows[i, j] += centres[c, j] }
    }
    return (normalizedRows(rows), labels)
}

func normalizedRows(_ m: Matrix) -> Matrix {
    var m = m
    for i in 0..<m.rows {
        let norm = m.row(i).reduce(0) { $0 + $1 * $1 }.squareRoot()
        for j in 0..<m.columns { m[i, j] /= norm }
    }
    return m
}
