import NumericKernels

/// Where two matrices differ most, for assertions that say where and by how much.
public struct MatrixDifference: CustomStringConvertible, Sendable {
    /// Largest |a - b| / max(|b|, floor) over all elements.
    public let maxRelativeError: Double
    /// Row and column of that element.
    public let row: Int, column: Int
    /// The two values there.
    public let actual: Double, expected: Double

    public var description: String {
        "max relative error \(maxRelativeError) at (\(row), \(column)): got \(actual), expected \(expected)"
    }
}

/// Compares `actual` with `expected` (same shape, both row-major). `floor` keeps relative
/// error meaningful near zero: the denominator is `max(|expected|, floor)`.
public func compare(_ actual: Matrix, _ expected: [Double], columns: Int, floor: Double = 1e-6) -> MatrixDifference {
    precondition(actual.elements.count == expected.count && actual.columns == columns,
                 "shape mismatch: \(actual.rows) x \(actual.columns) vs \(expected.count / max(columns, 1)) x \(columns)")
    var worst = (err: -1.0, index: 0)
    for i in expected.indices {
        let a = Double(actual.elements[i])
        let err = a.isNaN ? .infinity : abs(a - expected[i]) / max(abs(expected[i]), floor)
        if err > worst.err { worst = (err, i) }
    }
    let i = max(worst.index, 0)
    return MatrixDifference(maxRelativeError: max(worst.err, 0), row: i / max(columns, 1), column: i % max(columns, 1),
                            actual: expected.isEmpty ? 0 : Double(actual.elements[i]), expected: expected.isEmpty ? 0 : expected[i])
}

/// Relative Frobenius-norm error ||a - b|| / ||b||.
public func relativeFrobeniusError(_ actual: Matrix, _ expected: [Double]) -> Double {
    precondition(actual.elements.count == expected.count, "element counts differ: \(actual.elements.count) vs \(expected.count)")
    var (num, den) = (0.0, 0.0)
    for i in expected.indices {
        let diff = Double(actual.elements[i]) - expected[i]
        num += diff * diff
        den += expected[i] * expected[i]
    }
    return (num / max(den, .leastNormalMagnitude)).squareRoot()
}

/// A naive triple-loop product in double precision: the independent reference for GEMM tests.
public func referenceProduct(_ a: Matrix, transposeA: Bool, _ b: Matrix, transposeB: Bool) -> [Double] {
    let (m, k) = transposeA ? (a.columns, a.rows) : (a.rows, a.columns)
    let n = transposeB ? b.rows : b.columns
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let x = transposeA ? a[p, i] : a[i, p]
                let y = transposeB ? b[j, p] : b[p, j]
                s += Double(x) * Double(y)
            }
            c[i * n + j] = s
        }
    }
    return c
}
