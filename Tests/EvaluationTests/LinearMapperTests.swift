import Evaluation
import NumericKernels
import Testing
import TestSupport

/// Fixtures written by `Tests/Fixtures/make_mapper_fixtures.py`; expected solutions are
/// float64 `[W; b]` stacks ((d_s + 1) x d_t, bias last).
@Suite("LinearMapper")
struct LinearMapperTests {
    /// `[W; b]` as one matrix, bias as the last row (numpy's `lstsq` layout on `[S 1]`).
    private func stacked(_ mapper: LinearMapper) -> Matrix {
        Matrix(rows: mapper.weights.rows + 1, columns: mapper.weights.columns,
               elements: mapper.weights.elements + mapper.bias)
    }

    private func load(_ name: String) throws -> Fixture.Array { try Fixture.load(name) }

    // MARK: - Against NumPy

    @Test func leastSquaresMatchesNumPy() throws {
        let s = try load("mapper_source.npy").matrix
        let t = try load("mapper_target.npy").matrix
        let expected = try load("mapper_lstsq.npy")
        #expect(s.rows == 300 && s.columns == 20 && t.columns == 7 && expected.shape == [21, 7])
        let mapper = try LinearMapper.fit(source: s, target: t, method: .leastSquares)
        #expect(mapper.fit == .leastSquares)
        #expect(mapper.weights.rows == 20 && mapper.weights.columns == 7 && mapper.bias.count == 7)
        #expect(relativeFrobeniusError(stacked(mapper), expected.values) < 1e-3)
        // Weights and bias separately, too.
        #expect(relativeFrobeniusError(mapper.weights, Array(expected.values[0 ..< 140])) < 1e-3)
        #expect(relativeFrobeniusError(Matrix(rows: 1, columns: 7, elements: mapper.bias),
                                       Array(expected.values[140...])) < 1e-3)
    }

    @Test func fitAutomaticallyChoosesLeastSquaresWhenOverdetermined() throws {
        let s = try load("mapper_source.npy").matrix
        let t = try load("mapper_target.npy").matrix
        let expected = try load("mapper_lstsq.npy")
        let mapper = try LinearMapper.fitAutomatically(source: s, target: t)
        #expect(mapper.fit == .leastSquares)
        #expect(relativeFrobeniusError(stacked(mapper), expected.values) < 1e-3)
    }

    @Test func minimumNormMatchesNumPyBelowTheDimension() throws {
        let s = try load("mapper_under_source.npy").matrix
        let t = try load("mapper_under_target.npy").matrix
        let expected = try load("mapper_minnorm.npy")
        #expect(s.rows == 12 && s.columns == 20 && expected.shape == [21, 7])
        let mapper = try LinearMapper.fit(source: s, target: t, method: .minimumNorm)
        #expect(mapper.fit == .minimumNorm)
        #expect(relativeFrobeniusError(stacked(mapper), expected.values) < 1e-3)
        // Underdetermined: the fit interpolates the training pairs.
        #expect(relativeFrobeniusError(mapper.apply(s), t.elements.map { Double($0) }) < 1e-4)

        let automatic = try LinearMapper.fitAutomatically(source: s, target: t)
        #expect(automatic.fit == .minimumNorm)
        #expect(relativeFrobeniusError(stacked(automatic), expected.values) < 1e-3)
    }

    @Test func ridgeMatchesNumPyCentringFormula() throws {
        let s = try load("mapper_source.npy").matrix
        let t = try load("mapper_target.npy").matrix
        let expected = try load("mapper_ridge.npy")
        let mapper = try LinearMapper.fit(source: s, target: t, method: .ridge(lambda: 3))
        #expect(mapper.fit == .ridge(lambda: 3))
        #expect(relativeFrobeniusError(stacked(mapper), expected.values) < 1e-3)
        #expect(relativeFrobeniusError(Matrix(rows: 1, columns: 7, elements: mapper.bias),
                                       Array(expected.values[140...])) < 1e-3)
    }

    // MARK: - Hand-checked

    @Test func handCheckedOneDimensionalFits() throws {
        // T = 2 S + 1 exactly.
        let s = Matrix([[0], [1], [2]])
        let t = Matrix([[1], [3], [5]])
        for method in [MapperFit.leastSquares, .minimumNorm] {
            let m = try LinearMapper.fit(source: s, target: t, method: method)
            #expect(abs(m.weights[0, 0] - 2) < 1e-5 && abs(m.bias[0] - 1) < 1e-5, "\(method)")
        }
        // Ridge, λ = 2: Sc = [-1, 0, 1], Tc = [-2, 0, 2]; W = 4 / (2 + 2) = 1; b = 3 - 1 · 1 = 2.
        let ridge = try LinearMapper.fit(source: s, target: t, method: .ridge(lambda: 2))
        #expect(abs(ridge.weights[0, 0] - 1) < 1e-6 && abs(ridge.bias[0] - 2) < 1e-6)
        // λ = 0 is the unpenalised fit.
        let plain = try LinearMapper.fit(source: s, target: t, method: .ridge(lambda: 0))
        #expect(abs(plain.weights[0, 0] - 2) < 1e-5 && abs(plain.bias[0] - 1) < 1e-5)
    }

    @Test func applyIsSourceTimesWeightsPlusBias() throws {
        let w = gaussianMatrix(rows: 20, columns: 7, seed: 11)
        let bias = gaussianMatrix(rows: 1, columns: 7, seed: 12).elements
        let mapper = LinearMapper(weights: w, bias: bias, fit: .leastSquares)
        let x = gaussianMatrix(rows: 33, columns: 20, seed: 13)
        var expected = referenceProduct(x, transposeA: false, w, transposeB: false)
        for i in 0 ..< 33 { for j in 0 ..< 7 { expected[i * 7 + j] += Double(bias[j]) } }
        let y = mapper.apply(x)
        #expect(y.rows == 33 && y.columns == 7)
        #expect(relativeFrobeniusError(y, expected) < 1e-5)
        // An empty batch maps to an empty batch.
        #expect(mapper.apply(Matrix(rows: 0, columns: 20)).rows == 0)
    }

    @Test func meanCosineDistanceCases() {
        let a = gaussianMatrix(rows: 10, columns: 6, seed: 21)
        #expect(abs(meanCosineDistance(a, a)) < 1e-6)
        let negated = Matrix(rows: 10, columns: 6, elements: a.elements.map { -$0 })
        #expect(abs(meanCosineDistance(a, negated) - 2) < 1e-6)
        // A zero row counts as distance 1, whichever side it is on.
        let zero = Matrix(rows: 2, columns: 3)
        let ones = Matrix(rows: 2, columns: 3, repeating: 1)
        #expect(meanCosineDistance(zero, ones) == 1)
        #expect(meanCosineDistance(ones, zero) == 1)
        #expect(meanCosineDistance(zero, zero) == 1)
        // Hand-checked: row 0 orthogonal (1), row 1 at 45° (1 - 1/√2); mean = 1 - 1/(2√2).
        let x = Matrix([[1, 0], [1, 1]])
        let y = Matrix([[0, 1], [1, 0]])
        #expect(abs(meanCosineDistance(x, y) - (1 - 1 / (2 * 2.0.squareRoot()))) < 1e-7)
        // Scale-invariant; mixing a zero row with an identical row gives (1 + 0) / 2.
        let scaled = Matrix([[3, 0], [0, 0]])
        let unit = Matrix([[1, 0], [0, 1]])
        #expect(abs(meanCosineDistance(scaled, unit) - 0.5) < 1e-7)
    }

    // MARK: - Errors

    @Test func emptyAndMismatchedInputsThrow() {
        let empty = Matrix(rows: 0, columns: 4)
        let emptyTarget = Matrix(rows: 0, columns: 2)
        for method in [MapperFit.leastSquares, .minimumNorm, .ridge(lambda: 1)] {
            #expect(throws: LinearMapperError(.noRows)) {
                try LinearMapper.fit(source: empty, target: emptyTarget, method: method)
            }
            #expect(throws: LinearMapperError(.rowCountMismatch(source: 5, target: 4))) {
                try LinearMapper.fit(source: Matrix(rows: 5, columns: 3, repeating: 1),
                                     target: Matrix(rows: 4, columns: 2, repeating: 1), method: method)
            }
        }
        #expect(throws: LinearMapperError(.noRows)) {
            try LinearMapper.fitAutomatically(source: empty, target: emptyTarget)
        }
        #expect(throws: LinearMapperError(.rowCountMismatch(source: 3, target: 2))) {
            try LinearMapper.fitAutomatically(source: Matrix(rows: 3, columns: 1), target: Matrix(rows: 2, columns: 1))
        }
    }

    @Test func nonFiniteInputsThrow() {
        let s = gaussianMatrix(rows: 30, columns: 4, seed: 31)
        let t = gaussianMatrix(rows: 30, columns: 2, seed: 32)
        var badS = s.elements
        badS[17] = .nan
        var badT = t.elements
        badT[5] = .infinity
        let nanSource = Matrix(rows: 30, columns: 4, elements: badS)
        let infTarget = Matrix(rows: 30, columns: 2, elements: badT)
        for method in [MapperFit.leastSquares, .minimumNorm, .ridge(lambda: 1)] {
            #expect(throws: LinearMapperError(.nonFiniteInput("source"))) {
                try LinearMapper.fit(source: nanSource, target: t, method: method)
            }
            #expect(throws: LinearMapperError(.nonFiniteInput("target"))) {
                try LinearMapper.fit(source: s, target: infTarget, method: method)
            }
        }
        #expect(throws: LinearMapperError.self) { try LinearMapper.fitAutomatically(source: nanSource, target: t) }
        #expect(throws: LinearMapperError(.invalidLambda(-1))) {
            try LinearMapper.fit(source: s, target: t, method: .ridge(lambda: -1))
        }
        #expect(throws: LinearMapperError.self) {
            try LinearMapper.fit(source: s, target: t, method: .ridge(lambda: .nan))
        }
    }

    @Test func rankDeficientLeastSquaresThrowsButAutomaticFallsBack() throws {
        // Column 3 duplicates column 0; column 4 is all zero. n = 40 > d_s + 1 = 6.
        let base = gaussianMatrix(rows: 40, columns: 3, seed: 41)
        let s = Matrix(rows: 40, columns: 5) { i, j in j < 3 ? base[i, j] : (j == 3 ? base[i, 0] : 0) }
        let w = gaussianMatrix(rows: 5, columns: 3, seed: 42)
        let bias: [Float] = [0.5, -1, 2]
        let t = LinearMapper(weights: w, bias: bias, fit: .leastSquares).apply(s)

        #expect(throws: LinearAlgebraError.self) {
            try LinearMapper.fit(source: s, target: t, method: .leastSquares)
        }
        do {
            _ = try LinearMapper.fit(source: s, target: t, method: .leastSquares)
        } catch let error as LinearAlgebraError {
            #expect(error.kind == .rankDeficient)
        }

        let mapper = try LinearMapper.fitAutomatically(source: s, target: t)
        #expect(mapper.fit == .minimumNorm)
        // Consistent data: the minimum-norm fit reproduces the targets exactly (up to rounding)...
        #expect(relativeFrobeniusError(mapper.apply(s), t.elements.map { Double($0) }) < 1e-4)
        // ...and puts nothing on the zero column, splitting the duplicated pair evenly.
        for j in 0 ..< 3 {
            #expect(abs(mapper.weights[4, j]) < 1e-4)
            #expect(abs(mapper.weights[0, j] - mapper.weights[3, j]) < 1e-3)
        }
    }
}

extension LinearMapperTests {
    /// Underdetermined with a repeated query (rank-deficient rows): the LQ route refuses it
    /// and the SVD gives the minimum-norm solution, the same as asking for it directly.
    @Test func underdeterminedRankDeficientFallsBackToTheSVD() throws {
        var s = gaussianMatrix(rows: 8, columns: 20, seed: 77)
        for j in 0 ..< 20 { s[7, j] = s[0, j] }
        let w = gaussianMatrix(rows: 20, columns: 3, seed: 78)
        let t = Matrix.product(s, w)
        let automatic = try LinearMapper.fitAutomatically(source: s, target: t)
        let direct = try LinearMapper.fit(source: s, target: t, method: .minimumNorm)
        #expect(automatic.fit == .minimumNorm)
        let difference = zip(automatic.weights.elements + automatic.bias, direct.weights.elements + direct.bias).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-4)
    }
}
