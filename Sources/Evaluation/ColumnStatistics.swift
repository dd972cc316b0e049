import NumericKernels

/// Column means of `x`, accumulated in Double (zeros for a matrix without rows).
func columnMeans(_ x: Matrix) -> [Float] {
    var sums = [Double](repeating: 0, count: x.columns)
    x.withUnsafeBufferPointer { p in
        for i in 0 ..< x.rows {
            for j in 0 ..< x.columns { sums[j] += Double(p[i * x.columns + j]) }
        }
    }
    return sums.map { Float($0 / Double(max(x.rows, 1))) }
}

/// `x` with `mean` subtracted from every row (centring).
func shifted(_ x: Matrix, by mean: [Float]) -> Matrix {
    precondition(mean.count == x.columns, "shifted: \(mean.count) means for \(x.columns) columns")
    var out = Matrix(uninitializedRows: x.rows, columns: x.columns)
    x.withUnsafeBufferPointer { source in
        out.withUnsafeMutableBufferPointer { target in
            for i in 0 ..< x.rows {
                for j in 0 ..< x.columns { target[i * x.columns + j] = source[i * x.columns + j] - mean[j] }
            }
        }
    }
    return out
}
