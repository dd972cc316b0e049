extension Matrix {
    /// A `rows x columns` matrix of i.i.d. Gaussian entries N(0, standardDeviation²) drawn from `generator`.
    public static func gaussian(rows: Int, columns: Int, standardDeviation: Float = 1, using generator: inout RandomGenerator) -> Matrix {
        var m = Matrix(uninitializedRows: rows, columns: columns)
        m.withUnsafeMutableBufferPointer { generator.fillGaussian($0, mean: 0, standardDeviation: standardDeviation) }
        return m
    }

    /// The matrix with every row scaled to unit Euclidean norm (zero rows stay zero).
    /// - Complexity: O(rows * columns).
    public func rowsNormalized() -> Matrix {
        var m = self
        let (r, d) = (rows, columns)
        m.withUnsafeMutableBufferPointer { x in
            for i in 0..<r {
                let row = UnsafeMutableBufferPointer(rebasing: x[i * d ..< (i + 1) * d])
                let norm = Double(sumOfSquares(UnsafeBufferPointer(row))).squareRoot()
                guard norm > 0 else { continue }
                let inverse = Float(1 / norm)
                for j in 0..<d { row[j] *= inverse }
            }
        }
        return m
    }
}
