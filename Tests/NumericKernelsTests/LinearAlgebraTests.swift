import NumericKernels
import Testing
import TestSupport

@Suite("GEMM and LAPACK wrappers")
struct LinearAlgebraTests {
    @Test("GEMM matches a double-precision reference for every transpose, alpha and beta",
          arguments: [(Transpose.none, Transpose.none), (.transpose, .none), (.none, .transpose), (.transpose, .transpose)])
    func gemmAllTransposes(_ ta: Transpose, _ tb: Transpose) {
        let (m, n, k) = (37, 23, 41)
        let a = ta == .none ? gaussianMatrix(rows: m, columns: k, seed: 1) : gaussianMatrix(rows: k, columns: m, seed: 1)
        let b = tb == .none ? gaussianMatrix(rows: k, columns: n, seed: 2) : gaussianMatrix(rows: n, columns: k, seed: 2)
        let c0 = gaussianMatrix(rows: m, columns: n, seed: 3)
        let ab = referenceProduct(a, transposeA: ta == .transpose, b, transposeB: tb == .transpose)
        let expected = zip(ab, c0.elements).map { 0.5 * $0 + 2 * Double($1) }
        var c = c0
        a.withView { av in b.withView { bv in c.withMutableView { gemm(av, ta, bv, tb, into: $0, alpha: 0.5, beta: 2) } } }
        let err = relativeFrobeniusError(c, expected)
        #expect(err < 1e-5, "relative error \(err)")
    }

    @Test("Gram matrix by SYRK matches a double-precision reference, alone and added onto a symmetric matrix")
    func gramMatchesReference() {
        let x = gaussianMatrix(rows: 53, columns: 19, seed: 6)
        let expected = referenceProduct(x, transposeA: true, x, transposeB: false)
        let g = Matrix.gram(x)
        #expect(relativeFrobeniusError(g, expected) < 1e-5)
        for i in 0 ..< 19 { for j in 0 ..< 19 { #expect(g[i, j] == g[j, i], "not symmetric at (\(i), \(j))") } }
        let y = gaussianMatrix(rows: 7, columns: 19, seed: 7)
        let both = Matrix.gram(y, adding: g)
        let expectedBoth = zip(expected, referenceProduct(y, transposeA: true, y, transposeB: false)).map { $0 + $1 }
        #expect(relativeFrobeniusError(both, expectedBoth) < 1e-5)
        #expect(Matrix.gram(Matrix(rows: 0, columns: 3)) == Matrix(rows: 3, columns: 3))
    }

    @Test("GEMM on strided sub-views touches only the viewed elements")
    func gemmOnViews() {
        let big = gaussianMatrix(rows: 10, columns: 12, seed: 4)
        let b = gaussianMatrix(rows: 5, columns: 3, seed: 5)
        var out = Matrix(rows: 6, columns: 8, repeating: -7)
        big.withView { v in
            b.withView { bv in
                out.withMutableView { o in gemm(v.rows(2..<6).columns(3..<8), .none, bv, .none, into: o.rows(1..<5).columns(2..<5)) }
            }
        }
        let sub = Matrix(rows: 4, columns: 5) { big[$0 + 2, $1 + 3] }
        let expected = referenceProduct(sub, transposeA: false, b, transposeB: false)
        for i in 0..<6 {
            for j in 0..<8 {
                if (1..<5).contains(i) && (2..<5).contains(j) {
                    #expect(abs(Double(out[i, j]) - expected[(i - 1) * 3 + (j - 2)]) < 1e-4, "(\(i), \(j))")
                } else {
                    #expect(out[i, j] == -7, "element (\(i), \(j)) outside the view was written")
                }
            }
        }
    }

    @Test("Least squares (QR and SVD) matches numpy.linalg.lstsq on the committed fixture")
    func leastSquaresOverdetermined() throws {
        let a = try Fixture.load("lstsq_over_a.npy").matrix
        let b = try Fixture.load("lstsq_over_b.npy").matrix
        let x = try Fixture.load("lstsq_over_x.npy")
        for method in [LeastSquaresMethod.qr, .svd()] {
            let solution = try leastSquares(a, b, method: method)
            let err = relativeFrobeniusError(solution.solution, x.values)
            #expect(err < 1e-3, "\(method): relative error \(err)")
            #expect(solution.rank == 30)
        }
    }

    @Test("Underdetermined least squares gives numpy's minimum-norm solution")
    func leastSquaresUnderdetermined() throws {
        let a = try Fixture.load("lstsq_under_a.npy").matrix
        let b = try Fixture.load("lstsq_under_b.npy").matrix
        let x = try Fixture.load("lstsq_under_x.npy")
        for method in [LeastSquaresMethod.qr, .svd()] {
            let err = relativeFrobeniusError(try leastSquares(a, b, method: method).solution, x.values)
            #expect(err < 1e-3, "\(method): relative error \(err)")
        }
    }

    @Test("Rank-deficient QR least squares throws; SVD reports the rank")
    func rankDeficient() throws {
        var a = gaussianMatrix(rows: 50, columns: 6, seed: 6)
        for i in 0..<50 { a[i, 5] = a[i, 0] }  // duplicate column: rank 5
        let b = gaussianMatrix(rows: 50, columns: 1, seed: 7)
        #expect(throws: LinearAlgebraError.self) { try leastSquares(a, b, method: .qr) }
        #expect(try leastSquares(a, b, method: .svd()).rank == 5)
    }

    @Test("Non-finite input is a thrown error, not a crash")
    func nonFinite() {
        var a = gaussianMatrix(rows: 10, columns: 3, seed: 8)
        a[4, 1] = .nan
        let b = gaussianMatrix(rows: 10, columns: 1, seed: 9)
        #expect(throws: LinearAlgebraError(.nonFiniteInput, routine: "sgels")) { try leastSquares(a, b) }
        #expect(throws: LinearAlgebraError.self) { try solvePositiveDefinite(Matrix.identity(3), Matrix(rows: 3, columns: 1, repeating: .infinity)) }
    }

    @Test("Positive-definite solve matches numpy.linalg.solve on the ridge fixture")
    func positiveDefinite() throws {
        let g = try Fixture.load("ridge_gram.npy").matrix
        let r = try Fixture.load("ridge_rhs.npy").matrix
        let w = try Fixture.load("ridge_w.npy")
        let err = relativeFrobeniusError(try solvePositiveDefinite(g, r), w.values)
        #expect(err < 1e-3, "relative error \(err)")
    }

    @Test("A matrix that is not positive definite is reported with its failing minor")
    func notPositiveDefinite() {
        let a = Matrix([[1, 0, 0], [0, -2, 0], [0, 0, 3]])
        #expect(throws: LinearAlgebraError(.notPositiveDefinite, routine: "sposv", info: 2)) {
            try solvePositiveDefinite(a, Matrix(rows: 3, columns: 1, repeating: 1))
        }
    }

    @Test("Symmetric eigen-decomposition satisfies A v = λ v with orthonormal v")
    func eigen() throws {
        let x = gaussianMatrix(rows: 40, columns: 12, seed: 10)
        let a = Matrix.product(x, .transpose, x)
        let e = try SymmetricEigenDecomposition(a)
        #expect(zip(e.values, e.values.dropFirst()).allSatisfy { $0 <= $1 }, "eigenvalues not ascending")
        let av = Matrix.product(a, e.vectors)
        let scale = Double(e.values.last!)
        for j in 0..<12 {
            for i in 0..<12 {
                #expect(abs(Double(av[i, j]) - Double(e.values[j] * e.vectors[i, j])) < 1e-4 * scale, "column \(j) row \(i)")
            }
        }
        let vtv = Matrix.product(e.vectors, .transpose, e.vectors)
        for i in 0..<12 { for j in 0..<12 { #expect(abs(vtv[i, j] - (i == j ? 1 : 0)) < 1e-4) } }
    }

    @Test("Eigen-decomposition works above n = 2900, where a float workspace size would round down")
    func largeEigen() throws {
        // A permuted diagonal: eigenvalues 1...n, each eigenvector a unit vector.
        let n = 3000
        let a = Matrix(rows: n, columns: n) { i, j in i == j ? Float((i * 7) % n + 1) : 0 }
        let e = try SymmetricEigenDecomposition(a)
        #expect(e.values.first == 1 && e.values.last == Float(n))
        #expect(zip(e.values, e.values.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test("The orthonormal factor is orthogonal and spans the input's columns")
    func orthonormal() throws {
        let a = gaussianMatrix(rows: 64, columns: 64, seed: 11)
        let q = try orthonormalFactor(a)
        let qtq = Matrix.product(q, .transpose, q)
        var worst: Float = 0
        for i in 0..<64 { for j in 0..<64 { worst = max(worst, abs(qtq[i, j] - (i == j ? 1 : 0))) } }
        #expect(worst < 1e-4, "max |QᵀQ - I| = \(worst)")
        // R = Qᵀ A must be upper triangular with a non-negative diagonal.
        let r = Matrix.product(q, .transpose, a)
        for i in 0..<64 {
            #expect(r[i, i] >= -1e-4)
            for j in 0..<i { #expect(abs(r[i, j]) < 1e-3, "R(\(i), \(j)) = \(r[i, j])") }
        }
    }
}

@Suite("BLAS threads", .serialized)
struct BLASThreadTests {
    @Test("The OpenBLAS thread count can be set and read back")
    func setAndRead() {
        let before = BLASThreads.count
        defer { BLASThreads.set(before) }
        BLASThreads.set(1)
        #expect(BLASThreads.count == 1)
        if BLASThreads.processorCount >= 2 {
            BLASThreads.set(2)
            #expect(BLASThreads.count == 2)
        }
    }
}

@Suite("Random orthogonal matrices")
struct RandomOrthogonalTests {
    @Test("randomOrthogonal is orthogonal, deterministic in its seed, and not the identity")
    func orthogonal() {
        var g1 = RandomGenerator(seed: RandomSeed(9, 8, 7, 6))
        var g2 = RandomGenerator(seed: RandomSeed(9, 8, 7, 6))
        let q = randomOrthogonal(dimension: 96, using: &g1)
        #expect(q == randomOrthogonal(dimension: 96, using: &g2))
        let qtq = Matrix.product(q, .transpose, q)
        let qqt = Matrix.product(q, .none, q, .transpose)
        var worst: Float = 0
        for i in 0..<96 {
            for j in 0..<96 {
                let e: Float = i == j ? 1 : 0
                worst = max(worst, abs(qtq[i, j] - e), abs(qqt[i, j] - e))
            }
        }
        #expect(worst < 1e-4, "max deviation from orthogonality \(worst)")
        // Haar: entries spread like N(0, 1/n), so the diagonal is far from all ones.
        let trace = (0..<96).reduce(Float(0)) { $0 + q[$1, $1] }
        #expect(abs(trace) < 10, "trace \(trace)")
    }
}
