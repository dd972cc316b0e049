import Numerics

/// Gaussian test matrices from a fixed seed (tests are deterministic).
public func gaussianMatrix(rows: Int, columns: Int, seed: UInt64, scale: Float = 1) -> Matrix {
    var generator = RandomGenerator(seed: RandomSeed(seed, 0x5EED, 0, 1))
    var m = Matrix(rows: rows, columns: columns)
    m.withUnsafeMutableBufferPointer { generator.fillGaussian($0, mean: 0, standardDeviation: scale) }
    return m
}
