import NumericKernels
import Testing
import TestSupport

/// `ProjectionDirections` on every path (the AVX2 + FMA kernel of CProjectionKernels, its AVX-512
/// build, and the sum-of-squares pass plus BLAS) against dot products computed here in double
/// precision, and the two kernel builds against each other: the projections bit for bit (the
/// AVX-512 build adds the squares of rows in groups in 16 lanes, the AVX2 build in eight).
///
/// Neither path promises a summation order, so the check is the rigorous one that the hashing
/// relies on: every value within `γ_n Σ|x_k p_k|` of the exact dot product, with the `n` the
/// path reports (`d` for BLAS, `ceil(d / 8) + 3` for the kernel). On a CPU without AVX2, FMA or F16C
/// the kernel comparisons are skipped, visibly, with the reason; on one without AVX-512, the
/// AVX-512 build's.
@Suite("Projection kernel")
struct ProjectionKernelTests {
    static let hasKernel = ProjectionPath.kernel.isAvailable
    static let noKernel = "this CPU lacks AVX2, FMA or F16C: only the BLAS path can run here, the kernel is untested"
    static let hasWideKernel = ProjectionPath.wideKernel.isAvailable
    static let noWideKernel = "this CPU lacks AVX-512 F or DQ: the kernel's AVX-512 build is untested here"

    /// Dimensions around the kernel's block (8) and slice (256) sizes and the representation sizes.
    /// Also around the AVX-512 build's 16-lane squares: blocks of 16 and 64, slices of 512.
    static let dimensions = [1, 7, 8, 9, 16, 17, 64, 65, 255, 256, 257, 384, 513, 2047, 2048, 2051]
    /// Direction counts around the kernel's group (6) and pass (48) sizes.
    static let directionCounts = [1, 6, 7, 12, 13, 48, 49, 60]
    /// Row counts around the kernel's pairs and groups of four.
    static let rowCounts = [1, 2, 3, 4, 5, 9, 130]

    /// `γ_n = n u / (1 - n u)`, single precision.
    static func gamma(_ n: Int) -> Double {
        let nu = Double(n) * Double(Float.ulpOfOne) / 2
        return nu / (1 - nu)
    }

    /// `x · p[c]` and `Σ|x_k p_k|` in double precision (the products of two floats are exact).
    static func exactDot(_ x: [Float], _ p: Matrix, direction c: Int) -> (value: Double, magnitude: Double) {
        var (value, magnitude) = (0.0, 0.0)
        for k in 0..<x.count {
            let t = Double(x[k]) * Double(p[c, k])
            value += t
            magnitude += abs(t)
        }
        return (value, magnitude)
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
        #expect(n == (path == .blas ? d : (d + 7) / 8 + 3))
        let g = gamma(n)
        var worst = 0.0
        for i in 0..<b {
            var exactSquares = 0.0
            for k in 0..<d { exactSquares += Double(data[i, k]) * Double(data[i, k]) }
            #expect(abs(Double(squares[i]) - exactSquares) <= g * exactSquares + 1e-30,
                    "\(path) b=\(b) d=\(d) m=\(m): row \(i) sum of squares \(squares[i]) vs \(exactSquares)")
            for c in 0..<m {
                let (exact, magnitude) = Self.exactDot(Array(data.row(i).prefix(d)), p, direction: c)
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
    func kernel(rows: Int) { Self.checkAllShapes(rows: rows, path: .kernel) }

    /// ``check(rows:dimension:directions:path:seed:)`` on every dimension and direction count.
    static func checkAllShapes(rows: Int, path: ProjectionPath) {
        for d in Self.dimensions {
            for m in Self.directionCounts {
                #expect(Self.check(rows: rows, dimension: d, directions: m, path: path, seed: UInt64(rows * 10_000 + d * 100 + m)))
            }
        }
    }

    @Test("AVX-512 kernel: every dot product and sum of squares within the rounding bound, all shapes and strides",
          .enabled(if: ProjectionKernelTests.hasWideKernel, Comment(rawValue: ProjectionKernelTests.noWideKernel)),
          arguments: ProjectionKernelTests.rowCounts)
    func wideKernel(rows: Int) { Self.checkAllShapes(rows: rows, path: .wideKernel) }

    @Test("AVX-512 kernel walked from the far end: every value within the same rounding bound, all shapes and strides",
          .enabled(if: ProjectionKernelTests.hasWideKernel, Comment(rawValue: ProjectionKernelTests.noWideKernel)),
          arguments: ProjectionKernelTests.rowCounts)
    func wideKernelDescending(rows: Int) { Self.checkAllShapes(rows: rows, path: .wideKernelDescending) }

    @Test("Lone rows: the public call takes the AVX-512 kernel's two walks in turn on a thread; batches keep one walk",
          .enabled(if: ProjectionKernelTests.hasWideKernel, Comment(rawValue: ProjectionKernelTests.noWideKernel)),
          arguments: [(2048, 12), (300, 13), (384, 5)])
    func loneRowsAlternate(dimension d: Int, directions m: Int) {
        let seed = UInt64(d * 100 + m)
        // One allocation of the rows throughout: where a row sits against cache lines decides
        // where its sum of squares starts its 16-lane loads, and so its last bits.
        let data = gaussianMatrix(rows: 1, columns: d + 3, seed: seed)
        let ascending = Self.bits(data, dimension: d, directions: m, path: .wideKernel, seed: seed)
        let descending = Self.bits(data, dimension: d, directions: m, path: .wideKernelDescending, seed: seed)
        // Another order of summation: some value differs in its last bits (else the walks
        // could not be told apart below).
        #expect(ascending != descending)
        let directions = ProjectionDirections(gaussianMatrix(rows: m, columns: d, seed: seed &+ 1))
        var seen: [[UInt32]] = []
        for _ in 0..<4 {
            var out = [Float](repeating: .nan, count: m + 1)
            data.withView { whole in
                out.withUnsafeMutableBufferPointer { o in
                    let squares = UnsafeMutableBufferPointer(rebasing: o[m...])
                    let n = directions.project(whole.columns(0 ..< d), into: MutableMatrixView(start: o.baseAddress, rows: 1, columns: m, rowStride: m),
                                               sumsOfSquares: squares)
                    #expect(n == (d + 7) / 8 + 3)
                }
            }
            seen.append(out.map(\.bitPattern))
        }
        for (i, values) in seen.enumerated() {
            #expect(values == ascending || values == descending, "call \(i): neither walk's values")
            if i > 0 { #expect(values != seen[i - 1], "calls \(i - 1) and \(i) walked the same way") }
        }
        // Two rows or more take the ascending walk, call after call.
        let pairData = gaussianMatrix(rows: 2, columns: d + 3, seed: seed)
        let pair = Self.bits(pairData, dimension: d, directions: m, path: .wideKernel, seed: seed)
        for _ in 0..<2 {
            var out = [Float](repeating: .nan, count: 2 * m + 2)
            pairData.withView { whole in
                out.withUnsafeMutableBufferPointer { o in
                    let squares = UnsafeMutableBufferPointer(rebasing: o[(2 * m)...])
                    directions.project(whole.columns(0 ..< d), into: MutableMatrixView(start: o.baseAddress, rows: 2, columns: m, rowStride: m),
                                       sumsOfSquares: squares)
                }
            }
            #expect(out.map(\.bitPattern) == pair)
        }
    }

    /// Projections and sums of squares of the rows of `data` (`B x (d + 3)`, the first `d`
    /// columns) on `path`, as bit patterns. The sums of squares' last bits depend on where the
    /// rows sit against cache lines, so calls to be compared take the same allocation.
    static func bits(_ data: Matrix, dimension d: Int, directions m: Int, path: ProjectionPath, seed: UInt64) -> [UInt32] {
        let b = data.rows
        let directions = ProjectionDirections(gaussianMatrix(rows: m, columns: d, seed: seed &+ 1))
        var out = [Float](repeating: .nan, count: b * m + b)
        data.withView { whole in
            out.withUnsafeMutableBufferPointer { o in
                let squares = UnsafeMutableBufferPointer(rebasing: o[(b * m)...])
                #expect(directions.project(whole.columns(0 ..< d), into: MutableMatrixView(start: o.baseAddress, rows: b, columns: m, rowStride: m),
                                           sumsOfSquares: squares, path: path) != nil)
            }
        }
        return out.map(\.bitPattern)
    }

    @Test("AVX-512 kernel: the same projections as the AVX2 kernel, bit for bit (a lone row's sum of squares too); screening too",
          .enabled(if: ProjectionKernelTests.hasWideKernel, Comment(rawValue: ProjectionKernelTests.noWideKernel)))
    func wideKernelMatchesBitForBit() {
        for b in Self.rowCounts {
            for d in Self.dimensions {
                for m in Self.directionCounts {
                    let seed = UInt64(b * 10_000 + d * 100 + m) &+ 77
                    let data = gaussianMatrix(rows: b, columns: d + 3, seed: seed)
                    let narrow = Self.bits(data, dimension: d, directions: m, path: .kernel, seed: seed)
                    let wide = Self.bits(data, dimension: d, directions: m, path: .wideKernel, seed: seed)
                    // The sums of squares (the last b values) of rows in groups are added in 16
                    // lanes on AVX-512: checked against double precision by `check`, and below.
                    let compared = b == 1 ? narrow.count : b * m
                    #expect(narrow.prefix(compared) == wide.prefix(compared), "b=\(b) d=\(d) m=\(m)")
                }
            }
        }
        for d in Self.dimensions {
            for m in Self.directionCounts {
                let directions = ProjectionDirections(gaussianMatrix(rows: m, columns: d, seed: UInt64(d + m)))
                let row = Array(gaussianMatrix(rows: 1, columns: d, seed: UInt64(d * m)).row(0))
                let screened = [ProjectionPath.kernel, .wideKernel].map { path in
                    var values = [Double](repeating: .nan, count: m)
                    var squares: Float = .nan
                    let ran = row.withUnsafeBufferPointer { r in
                        values.withUnsafeMutableBufferPointer { directions.screen(r, into: $0, sumOfSquares: &squares, path: path) }
                    }
                    #expect(ran, "\(path)")
                    return values.map(\.bitPattern) + [UInt64(squares.bitPattern)]
                }
                #expect(screened[0] == screened[1], "screening d=\(d) m=\(m)")
            }
        }
    }

    @Test("AVX-512 kernel: a row's sum of squares is the same in a panel of rows and among a batch's last rows",
          .enabled(if: ProjectionKernelTests.hasWideKernel, Comment(rawValue: ProjectionKernelTests.noWideKernel)),
          arguments: [1, 65, 513, 2048, 2051])
    func wideSquaresIndependentOfPlace(dimension d: Int) {
        // 130 rows: 0..<128 go through panels of 32, 128 and 129 are the batch's last two. Each
        // row again as one of a batch of two (the last-rows path) must give the same bits. The
        // rows stay where they are in memory: the 16 lanes follow the row's cache lines, so a copy
        // starting elsewhere in a line may round differently (within the same bound).
        let b = 130
        let data = gaussianMatrix(rows: b, columns: d + 3, seed: UInt64(d) &+ 5)
        let directions = ProjectionDirections(gaussianMatrix(rows: 12, columns: d, seed: UInt64(d) &+ 6))
        func bits(_ rows: Range<Int>) -> [UInt32] {
            var out = [Float](repeating: .nan, count: rows.count * 13)
            data.withView { whole in
                out.withUnsafeMutableBufferPointer { o in
                    let squares = UnsafeMutableBufferPointer(rebasing: o[(rows.count * 12)...])
                    #expect(directions.project(whole.rows(rows).columns(0 ..< d),
                                               into: MutableMatrixView(start: o.baseAddress, rows: rows.count, columns: 12, rowStride: 12),
                                               sumsOfSquares: squares, path: .wideKernel) != nil)
                }
            }
            return out.map(\.bitPattern)
        }
        let all = bits(0 ..< b)
        for i in stride(from: 0, to: b, by: 2) {
            let pair = bits(i ..< i + 2)
            #expect(Array(pair[24...]) == Array(all[(b * 12 + i)...].prefix(2)), "d=\(d) rows \(i), \(i + 1)")
            #expect(Array(pair[..<24]) == Array(all[(i * 12)...].prefix(24)), "d=\(d) rows \(i), \(i + 1)")
        }
        // Rows that all start at the same place in their lines (stride a multiple of 16), at each
        // place a 16-byte-aligned row can start: those 16 or 48 bytes past a line are read shifted,
        // those 32 or 48 bytes past one with a short first slice, in panels and last rows alike.
        // Rows i+4 and i+5 are the last two of a batch of six (i ..< i+4 a panel of four).
        let pitch = (d + 15) / 16 * 16
        for offset in [0, 4, 8, 12] {
            let block = UnsafeMutableRawPointer.allocate(byteCount: (offset + b * pitch) * 4, alignment: 64)
            defer { block.deallocate() }
            let x = block.bindMemory(to: Float.self, capacity: offset + b * pitch) + offset
            data.withUnsafeBufferPointer { source in
                for i in 0 ..< b { for k in 0 ..< d { x[i * pitch + k] = source[i * (d + 3) + k] } }
            }
            func aligned(_ rows: Range<Int>) -> [UInt32] {
                var out = [Float](repeating: .nan, count: rows.count * 13)
                out.withUnsafeMutableBufferPointer { o in
                    let squares = UnsafeMutableBufferPointer(rebasing: o[(rows.count * 12)...])
                    #expect(directions.project(MatrixView(start: UnsafePointer(x + rows.lowerBound * pitch), rows: rows.count, columns: d, rowStride: pitch),
                                               into: MutableMatrixView(start: o.baseAddress, rows: rows.count, columns: 12, rowStride: 12),
                                               sumsOfSquares: squares, path: .wideKernel) != nil)
                }
                return out.map(\.bitPattern)
            }
            let whole = aligned(0 ..< b)
            for i in stride(from: 0, to: b - 6, by: 2) {
                let six = aligned(i ..< i + 6)
                #expect(Array(six[72...]) == Array(whole[(b * 12 + i)...].prefix(6)), "d=\(d) offset \(offset) rows \(i) ..< \(i + 6)")
                #expect(Array(six[..<72]) == Array(whole[(i * 12)...].prefix(72)), "d=\(d) offset \(offset) rows \(i) ..< \(i + 6)")
            }
        }
    }

    @Test("AVX-512 kernel: rows starting anywhere in a cache line: every square counted once, every value within its bound",
          .enabled(if: ProjectionKernelTests.hasWideKernel, Comment(rawValue: ProjectionKernelTests.noWideKernel)),
          arguments: [1, 15, 16, 17, 64, 65, 513, 2048, 2051])
    func wideKernelAtEveryOffset(dimension d: Int) throws {
        // Entries are small integers, so every partial sum of squares is an integer below 2^24
        // and exact in single precision: any order gives the exact sum, and a square dropped or
        // counted twice (a mask off by a lane) shows as a wrong integer. Rows at stride d start at
        // each of the 16 lanes of a line in turn (16-byte alignment is what Swift guarantees; the
        // kernel reads rows 16 or 48 bytes past a line from four floats earlier, and cuts the first
        // slice short for rows 32 or 48 bytes past one, when d is a multiple of 16); the floats
        // before the first row are NaN, which must not reach any value. 130 rows (panels and the
        // last two), 5 (one group and a last row), 3 and 1.
        let p = gaussianMatrix(rows: 12, columns: d, seed: UInt64(d) &+ 9)
        let directions = ProjectionDirections(p)
        for b in [130, 5, 3, 1] {
            var generator = RandomGenerator(seed: RandomSeed(UInt64(d), UInt64(b), 3, 4))
            let values = (0 ..< b * d).map { _ in Float(Int(generator.next() % 15) - 7) }
            let exact = (0 ..< b).map { i in values[i * d ..< (i + 1) * d].reduce(Float(0)) { $0 + $1 * $1 } }
            try #require(exact.allSatisfy { $0 < 16_777_216 })
            for offset in 0 ..< 16 {
                let block = UnsafeMutableRawPointer.allocate(byteCount: (16 + b * d) * 4, alignment: 64)
                defer { block.deallocate() }
                let start = block.bindMemory(to: Float.self, capacity: 16 + b * d)
                for k in 0 ..< offset { start[k] = .nan }
                let x = start + offset
                for k in 0 ..< b * d { x[k] = values[k] }
                var projections = [Float](repeating: .nan, count: b * 12)
                var squares = [Float](repeating: .nan, count: b)
                let n = projections.withUnsafeMutableBufferPointer { o in
                    squares.withUnsafeMutableBufferPointer { s in
                        directions.project(MatrixView(start: UnsafePointer(x), rows: b, columns: d, rowStride: d),
                                           into: MutableMatrixView(o, rows: b, columns: 12), sumsOfSquares: s, path: .wideKernel)
                    }
                }
                let read = try #require(n)
                let shifted = b >= 4 && d % 16 == 0 && offset % 8 == 4
                #expect(read == (d + (shifted ? 4 : 0) + 7) / 8 + 3, "d=\(d) b=\(b) offset \(offset)")
                #expect(squares == exact, "d=\(d) b=\(b) offset \(offset)")
                for i in 0 ..< b {
                    let row = Array(values[i * d ..< (i + 1) * d])
                    for c in 0 ..< 12 {
                        let (value, magnitude) = Self.exactDot(row, p, direction: c)
                        let error = abs(Double(projections[i * 12 + c]) - value)
                        #expect(error <= Self.gamma(read) * magnitude, "d=\(d) b=\(b) offset \(offset) row \(i) direction \(c)")
                    }
                }
            }
        }
    }

    @Test("Kernel: a NaN or infinity makes that row's sum of squares non-finite, and only that row's",
          .enabled(if: ProjectionKernelTests.hasKernel, Comment(rawValue: ProjectionKernelTests.noKernel)))
    func nonFiniteRows() {
        let (b, d, m) = (9, 300, 12)
        let directions = ProjectionDirections(gaussianMatrix(rows: m, columns: d, seed: 5))
        for path in [ProjectionPath.kernel, .wideKernel, .wideKernelDescending] where path.isAvailable {
            for (row, column, value) in [(0, 0, Float.nan), (4, 299, Float.infinity), (8, 137, -Float.infinity), (3, 256, Float.nan)] {
                var x = gaussianMatrix(rows: b, columns: d, seed: 6)
                x[row, column] = value
                var out = [Float](repeating: 0, count: b * m)
                var squares = [Float](repeating: 0, count: b)
                x.withView { v in
                    out.withUnsafeMutableBufferPointer { o in
                        squares.withUnsafeMutableBufferPointer { s in
                            _ = directions.project(v, into: MutableMatrixView(o, rows: b, columns: m), sumsOfSquares: s, path: path)
                        }
                    }
                }
                for i in 0..<b { #expect(squares[i].isFinite == (i != row), "\(path): value \(value) at (\(row), \(column)): row \(i) sum \(squares[i])") }
            }
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

    /// Screens every row of `x` alone against `directions` (made from `p`) and checks each value
    /// against double precision with the promised bound `‖x‖ screeningErrors[c]`, each sum of
    /// squares within `γ_{ceil(d/8)+3}`, and ``ProjectionDirections/project(_:onto:)`` within
    /// `γ_n Σ|x_k p_k|`. Returns the largest error seen as a fraction of its bound.
    static func checkScreening(_ x: Matrix, _ p: Matrix) -> Double {
        let (d, m) = (x.columns, p.rows)
        let directions = ProjectionDirections(p)
        #expect(directions.canScreen)
        #expect(directions.screeningErrors.count == m)
        var worst = 0.0
        var screened = [Double](repeating: .nan, count: m)
        for i in 0..<x.rows {
            var squares: Float = .nan
            let row = Array(x.row(i))
            let ran = row.withUnsafeBufferPointer { r in
                screened.withUnsafeMutableBufferPointer { directions.screen(r, into: $0, sumOfSquares: &squares) }
            }
            #expect(ran)
            let exactSquares = row.reduce(0.0) { $0 + Double($1) * Double($1) }
            #expect(abs(Double(squares) - exactSquares) <= gamma((d + 7) / 8 + 3) * exactSquares + 1e-30,
                    "d=\(d) m=\(m): row \(i) sum of squares \(squares) vs \(exactSquares)")
            let norm = exactSquares.squareRoot()
            for c in 0..<m {
                let (exact, magnitude) = Self.exactDot(row, p, direction: c)
                let bound = norm * directions.screeningErrors[c]
                if bound > 0 { worst = max(worst, abs(screened[c] - exact) / bound) }
                #expect(abs(screened[c] - exact) <= bound + 1e-30,
                        "d=\(d) m=\(m): screened [\(i), \(c)] = \(screened[c]), exact \(exact), bound \(bound)")
                let single = row.withUnsafeBufferPointer { directions.project($0, onto: c) }
                #expect(abs(Double(single) - exact) <= gamma(directions.singleDirectionTerms) * magnitude * (1 + 1e-9) + 1e-30,
                        "d=\(d) m=\(m): single [\(i), \(c)] = \(single), exact \(exact)")
            }
        }
        return worst
    }

    @Test("Screening: every half-precision projection within its promised bound, all shapes",
          .enabled(if: ProjectionKernelTests.hasKernel, Comment(rawValue: ProjectionKernelTests.noKernel)))
    func screening() {
        var worst = 0.0
        for d in Self.dimensions {
            for m in Self.directionCounts {
                let x = gaussianMatrix(rows: 3, columns: d, seed: UInt64(d * 100 + m), scale: 0.5)
                worst = max(worst, Self.checkScreening(x, gaussianMatrix(rows: m, columns: d, seed: UInt64(d * 100 + m) + 1)))
            }
        }
        // The bound is worst-case (Cauchy-Schwarz); the errors use a visible part of it, or
        // the test would not notice a bound computed too loose by a large factor.
        #expect(worst > 0.01, "largest error \(worst) of its bound")
    }

    @Test("Screening: directions of any scale (tiny, huge, mixed within a direction, zero) keep the bound",
          .enabled(if: ProjectionKernelTests.hasKernel, Comment(rawValue: ProjectionKernelTests.noKernel)))
    func screeningScales() {
        let d = 300
        var p = gaussianMatrix(rows: 7, columns: d, seed: 41)
        for k in 0..<d {
            p[0, k] *= 1e-30                                    // below half precision's range, unscaled
            p[1, k] *= 1e30                                     // above it
            p[2, k] *= k % 2 == 0 ? 1e-6 : 1                    // mixed: small entries lose relative precision
            p[3, k] = 0                                         // a zero direction
            p[4, k] = Float(k % 3) - 1                          // exactly representable: no rounding error
        }
        _ = Self.checkScreening(gaussianMatrix(rows: 5, columns: d, seed: 42), p)
        let directions = ProjectionDirections(p)
        let norms = (0..<7).map { c in (0..<d).reduce(0.0) { $0 + Double(p[c, $1]) * Double(p[c, $1]) }.squareRoot() }
        // Scaling by powers of two keeps every direction's relative error bound small.
        for c in [0, 1, 5, 6] { #expect(directions.screeningErrors[c] <= 1e-3 * norms[c], "direction \(c)") }
        #expect(directions.screeningErrors[3] == 0)
    }

    @Test("Screening: a NaN or infinity makes the sum of squares non-finite; non-finite directions turn screening off",
          .enabled(if: ProjectionKernelTests.hasKernel, Comment(rawValue: ProjectionKernelTests.noKernel)))
    func screeningNonFinite() {
        let d = 300
        let directions = ProjectionDirections(gaussianMatrix(rows: 12, columns: d, seed: 5))
        var out = [Double](repeating: 0, count: 12)
        for (column, value) in [(0, Float.nan), (299, Float.infinity), (137, -Float.infinity)] {
            var row = Array(gaussianMatrix(rows: 1, columns: d, seed: 6).row(0))
            row[column] = value
            var squares: Float = 0
            let ran = row.withUnsafeBufferPointer { r in out.withUnsafeMutableBufferPointer { directions.screen(r, into: $0, sumOfSquares: &squares) } }
            #expect(ran && !squares.isFinite, "value \(value) at \(column): sum \(squares)")
        }
        var broken = gaussianMatrix(rows: 12, columns: d, seed: 5)
        broken[3, 10] = .nan
        #expect(!ProjectionDirections(broken).canScreen)
    }
}

@Suite("OpenBLAS kernels report")
struct BLASLibraryTests {
    @Test("The chosen kernels and build are named; the generic-kernels warning names the OPENBLAS_CORETYPE that fixes it")
    func report() {
        #expect(!BLASLibrary.coreName.isEmpty && BLASLibrary.coreName != "unknown")
        #expect(BLASLibrary.configuration.contains("OpenBLAS"), "\(BLASLibrary.configuration)")
        #expect(BLASLibrary.runsGenericKernels == (BLASLibrary.coreName.lowercased() == "prescott" && ProjectionPath.kernel.isAvailable))
        if let core = BLASLibrary.suggestedCoreType {
            #expect(core == (ProjectionPath.wideKernel.isAvailable ? "SkylakeX" : "Haswell"))
            #expect(BLASLibrary.genericKernelsWarning?.hasSuffix("OPENBLAS_CORETYPE=\(core)") == true)
        } else {
            #expect(BLASLibrary.genericKernelsWarning == nil && !BLASLibrary.runsGenericKernels)
        }
    }
}
