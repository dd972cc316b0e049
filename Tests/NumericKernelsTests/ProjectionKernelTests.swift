import NumericKernels
import Testing
import TestSupport

/// `ProjectionDirections` on both paths (the AVX2 + FMA kernel of CProjectionKernels and the
/// sum-of-squares pass plus BLAS) against dot products computed here in double precision.
///
/// Neither path promises a summation order, so the check is the rigorous one that the hashing
/// relies on: every value within `γ_n Σ|x_k p_k|` of the exact dot product, with the `n` the
/// path reports (`d` for BLAS, `ceil(d / 8) + 3` for the kernel). On a CPU without AVX2 and FMA
/// the kernel comparisons are skipped, visibly, with the reason.
@Suite("Projection kernel")
struct ProjectionKernelTests {
    static let hasKernel = ProjectionPath.kernel.isAvailable
    static let noKernel = "this CPU lacks AVX2 or FMA: only the BLAS path can run here, the kernel is untested"

    /// Dimensions around the kernel's block (8) and slice (256) sizes and the representation sizes.
    static let dimensions = [1, 7, 8, 9, 255, 256, 257, 384, 2047, 2048, 2051]
    /// Direction counts around the kernel's group (6) and pass (48) sizes.
    static let directionCounts = [1, 6, 7, 12, 13, 48, 49, 60]
    /// Row counts around the kernel's pairs and groups of four.
    static let rowCounts = [1, 2, 3, 4, 5, 9, 130]

    /// `γ_n = n u / (1 - n u)`, single precision.
    static func gamma(_ n: Int) -> Double {
        let nu = Double(n) * Double(Float.ulpOfOne) / 2
        return nu / (1 - nu)
    }

    /// Projects `x` (rows with a padded stride) onto `p` on `path` into a padded output, and
    /// checks every value and sum of squares against double precision. Returns false when the
    /// path cannot run.
    static func check(rows b: Int, dimension d: Int, directions m: Int, path: ProjectionPath, seed: UInt64) -> Bool {
        let data = gaussianMatrix(rows: b, columns: d + 3, seed: seed, scale: 0.5)   // 3 columns of padding
        let p = gaussianMatrix(rows: m, columns: d, seed: seed &+ 1)
        let directions = ProjectionDirections(p)
        var out = [Float](repeating: .nan, count: b * (m + 2))                        // 2 columns of padding
        var squares = [Float](repeating: .nan, count: b)
        let ran = data.withView { whole in
            let x = whole.columns(0 ..< d)
            return out.withUnsafeMutableBufferPointer { o in
                squares.withUnsafeMutableBufferPointer { s in
                    directions.project(x, into: MutableMatrixView(start: o.baseAddress, rows: b, columns: m, rowStride: m + 2),
                                       sumsOfSquares: s, path: path)
                }
            }
        }
        guard let n = ran else { return false }
        #expect(n == (path == .kernel ? (d + 7) / 8 + 3 : d))
        let g = gamma(n)
        var worst = 0.0
        for i in 0..<b {
            var exactSquares = 0.0
            for k in 0..<d { exactSquares += Double(data[i, k]) * Double(data[i, k]) }
            #expect(abs(Double(squares[i]) - exactSquares) <= g * exactSquares + 1e-30,
                    "\(path) b=\(b) d=\(d) m=\(m): row \(i) sum of squares \(squares[i]) vs \(exactSquares)")
            for c in 0..<m {
                var (exact, magnitude) = (0.0, 0.0)
                for k in 0..<d {
                    let t = Double(data[i, k]) * Double(p[c, k])
                    exact += t
                    magnitude += abs(t)
                }
                let error = abs(Double(out[i * (m + 2) + c]) - exact)
                worst = max(worst, error / (g * magnitude))
                #expect(error <= g * magnitude * (1 + 1e-9) + 1e-30,
                        "\(path) b=\(b) d=\(d) m=\(m): [\(i), \(c)] = \(out[i * (m + 2) + c]), exact \(exact), bound \(g * magnitude)")
            }
            // The output's padding is untouched.
            #expect(out[i * (m + 2) + m].isNaN && out[i * (m + 2) + m + 1].isNaN)
        }
        return true
    }

    @Test("BLAS path: every dot product and sum of squares within the rounding bound", arguments: [1, 5, 130])
    func blasPath(rows: Int) {
        for d in Self.dimensions {
            for m in [1, 7, 12, 49] {
                #expect(Self.check(rows: rows, dimension: d, directions: m, path: .blas, seed: UInt64(d * 100 + m)))
            }
        }
    }

    @Test("Kernel: every dot product and sum of squares within the rounding bound, all shapes and strides",
          .enabled(if: ProjectionKernelTests.hasKernel, Comment(rawValue: ProjectionKernelTests.noKernel)),
          arguments: ProjectionKernelTests.rowCounts)
    func kernel(rows: Int) {
        for d in Self.dimensions {
            for m in Self.directionCounts {
                #expect(Self.check(rows: rows, dimension: d, directions: m, path: .kernel, seed: UInt64(rows * 10_000 + d * 100 + m)))
            }
        }
    }

    @Test("Kernel: a NaN or infinity makes that row's sum of squares non-finite, and only that row's",
          .enabled(if: ProjectionKernelTests.hasKernel, Comment(rawValue: ProjectionKernelTests.noKernel)))
    func nonFiniteRows() {
        let (b, d, m) = (9, 300, 12)
        let directions = ProjectionDirections(gaussianMatrix(rows: m, columns: d, seed: 5))
        for (row, column, value) in [(0, 0, Float.nan), (4, 299, Float.infinity), (8, 137, -Float.infinity), (3, 256, Float.nan)] {
            var x = gaussianMatrix(rows: b, columns: d, seed: 6)
            x[row, column] = value
            var out = [Float](repeating: 0, count: b * m)
            var squares = [Float](repeating: 0, count: b)
            x.withView { v in
                out.withUnsafeMutableBufferPointer { o in
                    squares.withUnsafeMutableBufferPointer { s in
                        _ = directions.project(v, into: MutableMatrixView(o, rows: b, columns: m), sumsOfSquares: s, path: .kernel)
                    }
                }
            }
            for i in 0..<b { #expect(squares[i].isFinite == (i != row), "value \(value) at (\(row), \(column)): row \(i) sum \(squares[i])") }
        }
    }

    @Test("The BLAS path runs everywhere; an unavailable kernel reports it and writes nothing")
    func availability() {
        #expect(ProjectionPath.blas.isAvailable)
        let directions = ProjectionDirections(gaussianMatrix(rows: 12, columns: 64, seed: 1))
        let x = gaussianMatrix(rows: 3, columns: 64, seed: 2)
        var out = [Float](repeating: 7, count: 36)
        var squares = [Float](repeating: 7, count: 3)
        let ran = x.withView { v in
            out.withUnsafeMutableBufferPointer { o in
                squares.withUnsafeMutableBufferPointer { s in
                    directions.project(v, into: MutableMatrixView(o, rows: 3, columns: 12), sumsOfSquares: s, path: .kernel)
                }
            }
        }
        #expect((ran != nil) == Self.hasKernel)
        if ran == nil {
            #expect(out == [Float](repeating: 7, count: 36) && squares == [7, 7, 7])
        }
    }

    @Test("Empty shapes: no rows, no directions, zero-length rows")
    func emptyShapes() {
        for path in ProjectionPath.allCases where path.isAvailable {
            let none = ProjectionDirections(Matrix(rows: 0, columns: 16))
            let x = gaussianMatrix(rows: 2, columns: 16, seed: 3)
            var squares = [Float](repeating: -1, count: 2)
            x.withView { v in
                squares.withUnsafeMutableBufferPointer { s in
                    var nothing = [Float]()
                    nothing.withUnsafeMutableBufferPointer { o in
                        #expect(none.project(v, into: MutableMatrixView(start: o.baseAddress, rows: 2, columns: 0, rowStride: 1), sumsOfSquares: s, path: path) != nil)
                    }
                }
            }
            let expected = (0..<2).map { i in x.row(i).reduce(Float(0)) { $0 + $1 * $1 } }
            for i in 0..<2 { #expect(abs(squares[i] - expected[i]) <= 1e-5 * expected[i], "\(path)") }

            let flat = ProjectionDirections(Matrix(rows: 3, columns: 0))
            var out = [Float](repeating: 9, count: 6)
            var zeros = [Float](repeating: 9, count: 2)
            Matrix(rows: 2, columns: 0).withView { v in
                out.withUnsafeMutableBufferPointer { o in
                    zeros.withUnsafeMutableBufferPointer { s in
                        #expect(flat.project(v, into: MutableMatrixView(o, rows: 2, columns: 3), sumsOfSquares: s, path: path) != nil)
                    }
                }
            }
            #expect(out == [Float](repeating: 0, count: 6) && zeros == [0, 0], "\(path)")
        }
    }
}
