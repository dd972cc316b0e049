import NumericKernels

/// The definition of a random-projection bucket id, for the tests' references: bit `j` of table
/// `t`'s id is set when `x · p > threshold`, where `x` is row `row` of `data`, `p` column
/// `t k + j` of `normals` (`d x (k T)`) and the dot product is taken in double, left to right.
public func referenceBucketID(_ data: Matrix, row: Int, normals: Matrix, thresholds: [Float], table t: Int, hashBits k: Int) -> UInt32 {
    var id: UInt32 = 0
    for j in 0..<k {
        let c = t * k + j
        var dot = 0.0
        for i in 0..<data.columns { dot += Double(data[row, i]) * Double(normals[i, c]) }
        if dot > Double(thresholds[c]) { id |= 1 << UInt32(j) }
    }
    return id
}
