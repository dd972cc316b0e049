import Defense
import NumericKernels
import Testing
import TestSupport

@Suite("The protect façade")
struct ProtectTests {
    @Test("Batch invariance: one batch of 3000 or many smaller ones give the same buckets, sigmas and answers")
    func batchInvariance() throws {
        var configuration = smallConfiguration(dimension: 128, cost: .exponential(ExponentialCost(lambda: 1e-4, alpha: 1, beta: 0.5)))
        configuration.hashBits = 10
        let rows = spreadQueries(count: 3000, dimension: 128, seed: 41)
        let whole = try B4BDefense(configuration: configuration, secret: testSecret)
        let pieces = try B4BDefense(configuration: configuration, secret: testSecret)
        let one = try whole.protect(rows, user: "u")
        var coverage: [Double] = [], sigma: [Float] = [], answers: [Float] = []
        var start = 0
        var size = 1
        while start < 3000 {
            let end = min(3000, start + size)
            let part = try pieces.protect(rows.rows(start..<end).copy(), user: "u")
            coverage += part.coverage
            sigma += part.sigma
            answers += part.representations.elements
            start = end
            size = size % 97 + 13  // irregular batch sizes 1, 14, 27, ...
        }
        #expect(one.coverage == coverage)
        #expect(one.sigma == sigma)
        #expect(one.sigma.last! > 0.05, "coverage should have made the noise substantial, sigma \(one.sigma.last!)")
        let err = relativeFrobeniusError(one.representations, answers.map(Double.init))
        #expect(err < 1e-5, "answers differ by \(err) (more than rounding)")
        #expect(whole.exportOccupancy(of: "u") == pieces.exportOccupancy(of: "u"))
    }

    @Test("track() records and prices exactly as protect() does, without producing representations")
    func trackMatchesProtect() throws {
        let configuration = smallConfiguration()
        let rows = spreadQueries(count: 300, dimension: 64, seed: 53)
        let a = try B4BDefense(configuration: configuration, secret: testSecret)
        let b = try B4BDefense(configuration: configuration, secret: testSecret)
        let protected = try a.protect(rows, user: "u")
        let tracked = try b.track(rows, user: "u")
        #expect(protected.coverage == tracked.coverage)
        #expect(protected.sigma == tracked.sigma)
        #expect(a.exportOccupancy(of: "u") == b.exportOccupancy(of: "u"))
        #expect { try b.track(Matrix(rows: 0, columns: 64), user: "u") } throws: { ($0 as? ProtectError)?.code == .emptyBatch }
        #expect(a.exportOccupancy(of: "u") == b.exportOccupancy(of: "u"))
    }

    @Test("The caller-buffer forms of protect and track give the array forms' answers and prices, and leave values past the batch alone")
    func callerBuffers() throws {
        let configuration = smallConfiguration(cost: .exponential(ExponentialCost(lambda: 1e-4, alpha: 1, beta: 0.5)))
        let rows = spreadQueries(count: 40, dimension: 64, seed: 57)
        let arrays = try B4BDefense(configuration: configuration, secret: testSecret)
        let buffers = try B4BDefense(configuration: configuration, secret: testSecret)
        for user in ["first", "second"] {
            let expected = try arrays.protect(rows, user: user)
            var output = Matrix(rows: 40, columns: configuration.outputDimension)
            var coverage = [Double](repeating: -1, count: 43), sigma = [Float](repeating: -1, count: 41)
            try rows.withView { v in
                try output.withMutableView { out in
                    try coverage.withUnsafeMutableBufferPointer { c in
                        try sigma.withUnsafeMutableBufferPointer { s in try buffers.protect(v, user: user, into: out, coverage: c, sigma: s) }
                    }
                }
            }
            #expect(output == expected.representations)
            #expect(Array(coverage.prefix(40)) == expected.coverage && Array(sigma.prefix(40)) == expected.sigma)
            #expect(coverage.suffix(3) == [-1, -1, -1] && sigma.last == -1)
            #expect(expected.sigma.last! > 0, "the prices should not all be zero")
        }
        let more = spreadQueries(count: 25, dimension: 64, seed: 58)
        let expected = try arrays.track(more, user: "first")
        var coverage = [Double](repeating: -1, count: 25), sigma = [Float](repeating: -1, count: 25)
        try more.withView { v in
            try coverage.withUnsafeMutableBufferPointer { c in
                try sigma.withUnsafeMutableBufferPointer { s in try buffers.track(v, user: "first", coverage: c, sigma: s) }
            }
        }
        #expect(coverage == expected.coverage && sigma == expected.sigma)
        #expect(arrays.exportOccupancy(of: "first") == buffers.exportOccupancy(of: "first"))
        #expect(arrays.queryCount(of: "first") == 65 && buffers.queryCount(of: "first") == 65)
    }

    @Test("Protecting in place (the output is the batch's own memory) gives the out-of-place answers",
          arguments: [[TransformKind.affine()], [.scaleShift(), .shuffle], []])
    func inPlace(transforms: [TransformKind]) throws {
        let configuration = smallConfiguration(transforms: transforms, cost: .constant(sigma: 0.3))
        let rows = spreadQueries(count: 70, dimension: 64, seed: 150)
        let apart = try B4BDefense(configuration: configuration, secret: testSecret).protect(rows, user: "u")
        let defense = try B4BDefense(configuration: configuration, secret: testSecret)
        var buffer = rows
        let prices = try buffer.withMutableView { v in try defense.protect(v.readOnly, user: "u", into: v) }
        #expect(prices.sigma == apart.sigma && prices.coverage == apart.coverage)
        let largest = zip(buffer.elements, apart.representations.elements).map { abs($0 - $1) }.max() ?? 0
        #expect(largest <= 1e-5, "in place differs by \(largest)")
    }

    @Test("Caller buffers that do not fit the batch are rejected (outputMismatch) before any state or buffer changes")
    func callerBufferMismatch() throws {
        let configuration = smallConfiguration()
        let defense = try B4BDefense(configuration: configuration, secret: testSecret)
        let rows = spreadQueries(count: 5, dimension: 64, seed: 59)
        let width = configuration.outputDimension
        // (output rows, output columns, coverage count, sigma count): each misfits in one way.
        let misfits = [(5, width, 4, 5), (5, width, 5, 4), (4, width, 5, 5), (5, width + 1, 5, 5), (6, width, 6, 6)]
        for (outputRows, outputColumns, coverageCount, sigmaCount) in misfits {
            var output = Matrix(rows: outputRows, columns: outputColumns)
            var coverage = [Double](repeating: -1, count: coverageCount), sigma = [Float](repeating: -1, count: sigmaCount)
            let error = #expect(throws: ProtectError.self) {
                try rows.withView { v in
                    try output.withMutableView { out in
                        try coverage.withUnsafeMutableBufferPointer { c in
                            try sigma.withUnsafeMutableBufferPointer { s in try defense.protect(v, user: "u", into: out, coverage: c, sigma: s) }
                        }
                    }
                }
            }
            #expect(error?.code == .outputMismatch)
            if coverageCount < 5 || sigmaCount < 5 {
                #expect(error?.message.contains("holds \(coverageCount) values and the sigma buffer \(sigmaCount)") == true, "\(String(describing: error))")
                let tracked = #expect(throws: ProtectError.self) {
                    try rows.withView { v in
                        try coverage.withUnsafeMutableBufferPointer { c in
                            try sigma.withUnsafeMutableBufferPointer { s in try defense.track(v, user: "u", coverage: c, sigma: s) }
                        }
                    }
                }
                #expect(tracked?.code == .outputMismatch)
            } else {
                #expect(error?.message == "output is \(outputRows) x \(outputColumns), expected 5 x \(width)")
            }
            #expect(output == Matrix(rows: outputRows, columns: outputColumns), "the output was written")
            #expect(coverage.allSatisfy { $0 == -1 } && sigma.allSatisfy { $0 == -1 }, "a price buffer was written")
            #expect(defense.queryCount(of: "u") == 0 && defense.coverage(of: "u") == 0 && defense.userCount == 0)
        }
        // The same call with buffers that fit succeeds.
        var output = Matrix(rows: 5, columns: width)
        var coverage = [Double](repeating: -1, count: 5), sigma = [Float](repeating: -1, count: 5)
        try rows.withView { v in
            try output.withMutableView { out in
                try coverage.withUnsafeMutableBufferPointer { c in
                    try sigma.withUnsafeMutableBufferPointer { s in try defense.protect(v, user: "u", into: out, coverage: c, sigma: s) }
                }
            }
        }
        #expect(defense.queryCount(of: "u") == 5 && coverage.allSatisfy { $0 > 0 })
    }

    @Test("Each row's sigma counts the coverage including that row and every earlier one")
    func sigmaIncludesRow() throws {
        let configuration = smallConfiguration(transforms: [])
        let defense = try B4BDefense(configuration: configuration, secret: testSecret)
        let rows = spreadQueries(count: 50, dimension: 64, seed: 42)
        let out = try defense.protect(rows, user: "u")
        #expect(out.coverage[0] == 1.0 / 4096)
        #expect(zip(out.coverage, out.coverage.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(out.coverage.last! == defense.coverage(of: "u"))
        // The cost's sigma rounded down to the noise ladder (unit scale 1 here).
        for (c, s) in zip(out.coverage, out.sigma) {
            let cost = Double(configuration.cost.sigma(coverage: c))
            #expect(s == Float(defense.noiseLadder.roundedDown(cost)))
            #expect(Double(s) <= cost * (1 + 1e-7) && Double(s) >= cost / 2.0.squareRoot() * (1 - 1e-7))
        }
    }

    @Test("One row answered at two sigmas: the answers' noise is independent, so combining them does not give the clean answer back")
    func twoSigmasDoNotRevealTheCleanAnswer() throws {
        // The default cost; the affine transform and no transform (gathers behave as no transform).
        for transforms in [[TransformKind.affine()], []] {
            let configuration = smallConfiguration(transforms: transforms)
            let defense = try B4BDefense(configuration: configuration, secret: testSecret)
            var clean = configuration
            clean.cost = .none
            let cleanDefense = try B4BDefense(configuration: clean, secret: testSecret)
            let x = spreadQueries(count: 1, dimension: 64, seed: 140)
            // Other rows that raise the coverage, then x; more of them, then x again (so that
            // both answers carry noise well above Float32's rounding of the clean answer).
            var answers: [(answer: [Float], sigma: Float)] = []
            let filler = spreadQueries(count: 3000, dimension: 64, seed: 141)
            for round in 0..<2 {
                try filler.withView { v in
                    for start in stride(from: round * 1500, to: (round + 1) * 1500, by: 250) {
                        _ = try defense.protect(v.rows(start ..< start + 250), user: "thief")
                    }
                }
                let a = try defense.protect(x, user: "thief")
                answers.append((a.representations.elements, a.sigma[0]))
            }
            let (a1, s1) = (answers[0].answer, Double(answers[0].sigma))
            let (a2, s2) = (answers[1].answer, Double(answers[1].sigma))
            try #require(s1 > 1e-5 && s2 > s1 * 4, "sigmas \(s1) and \(s2)")
            let truth = try cleanDefense.protect(x, user: "thief").representations.elements
            func distance(_ u: [Float], _ v: [Float]) -> Double {
                var total = 0.0
                for (p, q) in zip(u, v) { total += Double(p - q) * Double(p - q) }
                return total.squareRoot()
            }
            // The combination that would cancel noise pointing the same way at both sigmas.
            var combined = [Float]()
            for (p, q) in zip(a1, a2) { combined.append(Float((s2 * Double(p) - s1 * Double(q)) / (s2 - s1))) }
            let lowest = distance(a1, truth)
            #expect(distance(combined, truth) > 0.5 * lowest,
                    "\(transforms): the combination is \(distance(combined, truth)) from the clean answer, the lower-sigma answer \(lowest)")
            // The two noise vectors are far from parallel.
            var dot = 0.0
            for i in truth.indices { dot += Double(a1[i] - truth[i]) * Double(a2[i] - truth[i]) }
            let cosine = dot / (distance(a1, truth) * distance(a2, truth))
            #expect(abs(cosine) < 0.5, "\(transforms): cosine \(cosine)")
        }
    }

    @Test("Repeated-query resistance: repeating a query returns the same noisy answer, so averaging removes nothing")
    func repeatedQueries() throws {
        let defense = try B4BDefense(configuration: smallConfiguration(transforms: [], cost: .constant(sigma: 0.5)), secret: testSecret)
        let query = spreadQueries(count: 1, dimension: 64, seed: 43)
        let first = try defense.protect(query, user: "u").representations
        var sum = [Double](repeating: 0, count: 64)
        let repeats = 200
        for _ in 0..<repeats {
            let again = try defense.protect(query, user: "u").representations
            #expect(again == first)
            for j in 0..<64 { sum[j] += Double(again[0, j]) }
        }
        // The average of the repeats is as far from the clean row as one answer is.
        let meanError = (0..<64).map { sum[$0] / Double(repeats) - Double(query[0, $0]) }
        let rms = (meanError.reduce(0) { $0 + $1 * $1 } / 64).squareRoot()
        #expect(abs(rms - 0.5) < 0.15, "noise of the averaged answer has RMS \(rms), expected about sigma = 0.5")
        // A different row, or another user, gets different noise.
        var nudged = query
        nudged[0, 5] = nudged[0, 5].nextUp
        let other = try defense.protect(nudged, user: "u").representations
        #expect(abs(other[0, 0] - first[0, 0]) > 1e-3)
        let otherUser = try defense.protect(query, user: "v").representations
        #expect(abs(otherUser[0, 0] - first[0, 0]) > 1e-3)
    }

    @Test("With the default parameters a legitimate-like user ends with far lower coverage and sigma than a stealing-like one")
    func legitimateVersusThief() throws {
        let defense = try B4BDefense(configuration: DefenseConfiguration(), secret: testSecret)
        let d = defense.configuration.dimension
        let (legit, _) = clusteredQueries(count: 2000, dimension: d, clusters: 3, spread: 0.3, seed: 44)
        let thief = spreadQueries(count: 2000, dimension: d, seed: 45)
        var legitSigma: Float = 0, thiefSigma: Float = 0
        for start in stride(from: 0, to: 2000, by: 250) {
            legitSigma = try defense.protect(legit.rows(start ..< start + 250).copy(), user: "legit").sigma.last!
            thiefSigma = try defense.protect(thief.rows(start ..< start + 250).copy(), user: "thief").sigma.last!
        }
        let (cl, ct) = (defense.coverage(of: "legit"), defense.coverage(of: "thief"))
        #expect(ct > 0.3, "thief coverage \(ct)")
        #expect(cl < ct / 3, "legit coverage \(cl) vs thief \(ct)")
        #expect(legitSigma < thiefSigma / 100, "legit sigma \(legitSigma) vs thief \(thiefSigma)")
    }

    @Test("Every bad input throws its error and leaves the user's state unchanged")
    func badInputs() throws {
        var configuration = smallConfiguration()
        configuration.maxBatchRows = 100
        let defense = try B4BDefense(configuration: configuration, secret: testSecret)
        _ = try defense.protect(spreadQueries(count: 10, dimension: 64, seed: 46), user: "u")
        let before = defense.exportOccupancy(of: "u")
        let good = spreadQueries(count: 20, dimension: 64, seed: 47)
        var withNaN = good
        withNaN[13, 7] = .nan
        var withInf = good
        withInf[19, 63] = -.infinity
        let cases: [(Matrix, String, ProtectError.Code)] = [
            (spreadQueries(count: 5, dimension: 63, seed: 48), "u", .wrongDimension),
            (spreadQueries(count: 5, dimension: 65, seed: 48), "u", .wrongDimension),
            (withNaN, "u", .nonFinite),
            (withInf, "u", .nonFinite),
            (Matrix(rows: 0, columns: 64), "u", .emptyBatch),
            (spreadQueries(count: 101, dimension: 64, seed: 49), "u", .batchTooLarge),
            (good, "", .invalidUser),
        ]
        for (batch, user, code) in cases {
            #expect { try defense.protect(batch, user: user) } throws: { ($0 as? ProtectError)?.code == code }
            #expect(defense.exportOccupancy(of: "u") == before, "state changed after \(code)")
        }
        #expect(defense.userCount == 1)
        // A view of more rows than memory could answer is refused by its shape, before anything
        // sized by it is allocated (the array forms used to allocate first).
        let huge = MatrixView(start: nil, rows: 100_000_000_000, columns: 0, rowStride: 1)
        #expect { try defense.protect(huge, user: "u") } throws: { ($0 as? ProtectError)?.code == .batchTooLarge }
        #expect { try defense.track(huge, user: "u") } throws: { ($0 as? ProtectError)?.code == .batchTooLarge }
        var small = Matrix(rows: 1, columns: 1)
        _ = small.withMutableView { out in
            #expect { try defense.protect(huge, user: "u", into: out) } throws: { ($0 as? ProtectError)?.code == .batchTooLarge }
        }
        #expect(defense.exportOccupancy(of: "u") == before)
        // The messages name the problem.
        #expect { try defense.protect(withNaN, user: "u") } throws: {
            ($0 as? ProtectError)?.message.contains("row 13, column 7") == true
        }
        #expect { try defense.protect(spreadQueries(count: 2, dimension: 63, seed: 1), user: "u") } throws: {
            let message = ($0 as? ProtectError)?.message ?? ""
            return message.contains("63") && message.contains("64")
        }
    }

    @Test("Finite but huge values are accepted (no overflow in the norm) and hashed")
    func hugeValues() throws {
        let defense = try B4BDefense(configuration: smallConfiguration(transforms: [], cost: .none), secret: testSecret)
        var batch = spreadQueries(count: 2, dimension: 64, seed: 50)
        for j in 0..<64 { batch[1, j] *= 3e37 }
        let out = try defense.protect(batch, user: "u")
        #expect(out.representations == batch)
    }

    @Test("State export and import: round trip, merge keeps both, a foreign hasher is refused")
    func exportImport() throws {
        let configuration = smallConfiguration()
        let a = try B4BDefense(configuration: configuration, secret: testSecret)
        _ = try a.protect(spreadQueries(count: 200, dimension: 64, seed: 51), user: "u")
        let snapshot = a.exportOccupancy(of: "u")
        let b = try B4BDefense(configuration: configuration, secret: testSecret)
        _ = try b.protect(spreadQueries(count: 100, dimension: 64, seed: 52), user: "u")
        let beforeMerge = b.coverage(of: "u")
        try b.importOccupancy(snapshot, for: "u", mode: .merge)
        #expect(b.coverage(of: "u") > max(beforeMerge, a.coverage(of: "u")))
        try b.importOccupancy(snapshot, for: "u", mode: .replace)
        #expect(b.exportOccupancy(of: "u") == snapshot)
        // The same configuration under another secret hashes differently: refuse its snapshots.
        let c = try B4BDefense(configuration: configuration, secret: try ServerSecret(bytes: Array(repeating: 1, count: 32)))
        #expect(throws: OccupancyError.self) { try c.importOccupancy(snapshot, for: "u") }
        #expect(c.coverage(of: "u") == 0)
        let truncated = OccupancySnapshot(hasherFingerprint: snapshot.hasherFingerprint, hashBits: 12, tableCount: 1, words: Array(snapshot.words.dropLast()))
        #expect(throws: OccupancyError.self) { try b.importOccupancy(truncated, for: "u") }
        #expect(b.exportOccupancy(of: "u") == snapshot)
    }
}
