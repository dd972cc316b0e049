import NumericKernels
import Testing
import TestSupport

/// The sign kernel (`b4b_sign_row_f32`, ``ProjectionPath/signKernel``): directions whose entries
/// are all ±1, held as bits, projected one row at a time. Checked against double precision with
/// the rigorous bound the hashing relies on (`γ_n Σ|x_k p_k|`, `n` as the path reports), on
/// dimensions around its 16-coordinate chunks and direction counts around its groups of twelve;
/// and it is only ever taken for sign directions. Skipped, visibly, on a CPU without AVX-512.
@Suite("Sign kernel")
struct SignKernelTests {
    static let hasSignKernel = ProjectionPath.signKernel.isAvailable
    static let noSignKernel = "this CPU lacks AVX-512 F or DQ: the sign kernel cannot run here"

    static let dimensions = [1, 15, 16, 17, 31, 100, 384, 2047, 2048]
    static let directionCounts = [1, 5, 11, 12, 13, 24, 25, 36]

    /// `m x d` directions with entries +1 or -1 (a fixed pseudo-random pattern).
    static func signMatrix(rows m: Int, columns d: Int, seed: UInt64) -> Matrix {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var p = Matrix(rows: m, columns: d)
        for c in 0..<m {
            for k in 0..<d {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                p[c, k] = state & 1 == 1 ? 1 : -1
            }
        }
        return p
    }

    @Test("Every projection within γ_n Σ|x_k| of double precision, n = 3 (ceil(d/16) + 4) + 1",
          .enabled(if: hasSignKernel, "\(noSignKernel)"), arguments: dimensions)
    func againstDouble(d: Int) {
        for m in Self.directionCounts {
            let seed = UInt64(d * 1000 + m)
            // Rows of mixed scale, with 3 columns of padding so the kernel reads strided rows.
            var data = gaussianMatrix(rows: 3, columns: d + 3, seed: seed, scale: 0.5)
            for k in stride(from: 0, to: d, by: 5) { data[1, k] *= 1e3 }
            let p = Self.signMatrix(rows: m, columns: d, seed: seed)
            let directions = ProjectionDirections(p)
            #expect(directions.hasSignKernel)
            var out = [Float](repeating: .nan, count: 3 * (m + 1))
            var squares = [Float](repeating: .nan, count: 3)
            let ran = data.withView { whole in
                out.withUnsafeMutableBufferPointer { o in
                    squares.withUnsafeMutableBufferPointer { s in
                        directions.project(whole.columns(0 ..< d), into: MutableMatrixView(start: o.baseAddress, rows: 3, columns: m, rowStride: m + 1),
                                           sumsOfSquares: s, path: .signKernel)
                    }
                }
            }
            let n = 3 * ((d + 15) / 16 + 4) + 1
            #expect(ran == n)
            let g = ProjectionKernelTests.gamma(n)
            for i in 0..<3 {
                var exactSquares = 0.0
                for k in 0..<d { exactSquares += Double(data[i, k]) * Double(data[i, k]) }
                #expect(abs(Double(squares[i]) - exactSquares) <= g * exactSquares,
                        "d=\(d) m=\(m): row \(i) sum of squares \(squares[i]) vs \(exactSquares)")
                for c in 0..<m {
                    let (exact, magnitude) = ProjectionKernelTests.exactDot(Array(data.row(i).prefix(d)), p, direction: c)
                    let value = out[i * (m + 1) + c]
                    #expect(abs(Double(value) - exact) <= g * magnitude * (1 + 1e-9) + 1e-30,
                            "d=\(d) m=\(m): [\(i), \(c)] = \(value), exact \(exact), bound \(g * magnitude)")
                }
                #expect(out[i * (m + 1) + m].isNaN, "the output's padding is untouched")
            }
        }
    }

    @Test("Only sign directions take the sign kernel; the public call takes it for a lone row",
          .enabled(if: hasSignKernel, "\(noSignKernel)"))
    func choice() {
        let d = 300, m = 12
        let signs = Self.signMatrix(rows: m, columns: d, seed: 5)
        var almost = signs
        almost[7, 123] = 0.5
        var scaled = signs
        scaled[0, 0] = 2
        let x = gaussianMatrix(rows: 2, columns: d, seed: 6)
        for (p, isSign) in [(signs, true), (almost, false), (scaled, false), (gaussianMatrix(rows: m, columns: d, seed: 7), false)] {
            let directions = ProjectionDirections(p)
            #expect(directions.hasSignKernel == isSign)
            var out = [Float](repeating: 0, count: m)
            var square: Float = 0
            let ran = x.withView { v in
                out.withUnsafeMutableBufferPointer { o in
                    withUnsafeMutablePointer(to: &square) { s in
                        directions.project(v.rows(0 ..< 1), into: MutableMatrixView(o, rows: 1, columns: m),
                                           sumsOfSquares: UnsafeMutableBufferPointer(start: s, count: 1), path: .signKernel)
                    }
                }
            }
            #expect((ran != nil) == isSign)
            // The public call on a lone row reports the sign kernel's rounding depth exactly when
            // the directions are signs, and the batch kernel's for two rows.
            for rows in [1, 2] {
                var all = [Float](repeating: 0, count: rows * m)
                var sums = [Float](repeating: 0, count: rows)
                let n = x.withView { v in
                    all.withUnsafeMutableBufferPointer { o in
                        sums.withUnsafeMutableBufferPointer { s in
                            directions.project(v.rows(0 ..< rows), into: MutableMatrixView(o, rows: rows, columns: m), sumsOfSquares: s)
                        }
                    }
                }
                #expect(n == (isSign && rows == 1 ? 3 * ((d + 15) / 16 + 4) + 1 : (d + 7) / 8 + 3), "rows \(rows)")
            }
        }
    }

    @Test("A NaN or infinity makes the sign kernel's sum of squares non-finite", .enabled(if: hasSignKernel, "\(noSignKernel)"))
    func nonFinite() {
        let d = 40, m = 12
        let directions = ProjectionDirections(Self.signMatrix(rows: m, columns: d, seed: 9))
        for value in [Float.nan, .infinity, -.infinity] {
            var x = gaussianMatrix(rows: 1, columns: d, seed: 10)
            x[0, 33] = value
            var out = [Float](repeating: 0, count: m)
            var square: Float = 0
            _ = x.withView { v in
                out.withUnsafeMutableBufferPointer { o in
                    withUnsafeMutablePointer(to: &square) { s in
                        directions.project(v, into: MutableMatrixView(o, rows: 1, columns: m),
                                           sumsOfSquares: UnsafeMutableBufferPointer(start: s, count: 1), path: .signKernel)
                    }
                }
            }
            #expect(!square.isFinite, "\(value)")
        }
    }
}
