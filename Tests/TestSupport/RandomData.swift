import NumericKernels

/// Gaussian test matrices from a fixed seed (tests are deterministic).
public func gaussianMatrix(rows: Int, columns: Int, seed: UInt64, scale: Float = 1) -> Matrix {
    var generator = RandomGenerator(seed: RandomSeed(seed, 0x5EED, 0, 1))
    return Matrix.gaussian(rows: rows, columns: columns, standardDeviation: scale, using: &generator)
}
