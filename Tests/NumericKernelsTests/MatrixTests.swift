import NumericKernels
import Testing
import TestSupport

@Suite("Matrix and views")
struct MatrixTests {
    @Test("Row slices and views share storage and index the right elements")
    func views() {
        let m = Matrix(rows: 5, columns: 4) { i, j in Float(10 * i + j) }
        let slice = m.rows(1..<4)
        #expect(slice.rows == 3 && slice.columns == 4)
        slice.withView { v in
            #expect(v[0, 0] == 10 && v[2, 3] == 33)
            let sub = v.columns(1..<3)
            #expect(sub.rows == 3 && sub.columns == 2 && sub.rowStride == 4)
            #expect(sub[1, 0] == 21 && sub[2, 1] == 32)
            #expect(!sub.isContiguous)
        }
        #expect(Array(m.row(4)) == [40, 41, 42, 43])
        #expect(m.transposed()[3, 2] == 23)
    }

    @Test("Matrices without columns (or rows) give valid empty views, and products through them are zero")
    func emptyDimensionViews() {
        let noColumns = Matrix(rows: 3, columns: 0)
        noColumns.withView { v in #expect(v.rows == 3 && v.columns == 0) }
        let noRows = Matrix(rows: 0, columns: 2)
        noRows.withView { v in #expect(v.rows == 0 && v.columns == 2) }
        // (3 x 0)(0 x 2): an empty sum in every entry.
        #expect(Matrix.product(noColumns, noRows) == Matrix(rows: 3, columns: 2))
    }

    @Test("Normalised rows have unit norm; a zero row stays zero")
    func normalised() {
        var m = gaussianMatrix(rows: 6, columns: 33, seed: 12, scale: 7)
        for j in 0..<33 { m[2, j] = 0 }
        let n = m.rowsNormalized()
        for i in 0..<6 where i != 2 {
            let norm = n.row(i).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - 1) < 1e-5, "row \(i) has norm \(norm)")
            // Same direction as the original row.
            #expect(n[i, 0] * m[i, 0] >= 0)
        }
        #expect(n.row(2).allSatisfy { $0 == 0 })
    }

    @Test("Gaussian matrices are deterministic in the generator's seed and have the requested spread")
    func gaussian() {
        var a = RandomGenerator(seed: RandomSeed(1, 2, 3, 4))
        var b = RandomGenerator(seed: RandomSeed(1, 2, 3, 4))
        let x = Matrix.gaussian(rows: 200, columns: 100, standardDeviation: 3, using: &a)
        #expect(x == Matrix.gaussian(rows: 200, columns: 100, standardDeviation: 3, using: &b))
        let variance = x.elements.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.elements.count)
        #expect(abs(variance.squareRoot() - 3) < 0.05, "standard deviation \(variance.squareRoot())")
    }
}
