import Defense
import NumericKernels
import Testing
import TestSupport

let allTransformPipelines: [[TransformKind]] = [
    [.affine()], [.scaleShift()], [.pad(count: 16)], [.addConstants(count: 16)], [.shuffle], [.binary(outputDimension: 1024)],
    [.affine(), .pad(count: 8), .shuffle],
]

@Suite("Block 3: per-user transforms")
struct TransformTests {
    @Test("Two users get different transforms; a fresh instance with the same secret gives the same; another secret another",
          arguments: allTransformPipelines)
    func perUser(_ transforms: [TransformKind]) throws {
        let configuration = smallConfiguration(transforms: transforms, cost: .none)
        let rows = spreadQueries(count: 8, dimension: 64, seed: 61)
        let a = try B4BDefense(configuration: configuration, secret: testSecret)
        let fresh = try B4BDefense(configuration: configuration, secret: testSecret)
        let otherSecret = try B4BDefense(configuration: configuration, secret: try ServerSecret(bytes: Array(repeating: 3, count: 32)))
        let alice = try a.protect(rows, user: "alice").representations
        #expect(alice.columns == configuration.outputDimension)
        #expect(try a.protect(rows, user: "bob").representations != alice)
        #expect(try fresh.protect(rows, user: "alice").representations == alice)
        #expect(try otherSecret.protect(rows, user: "alice").representations != alice)
    }

    @Test("Utility: a least-squares classifier on transformed clusters is as accurate as on raw ones (within 0.5 points)",
          arguments: allTransformPipelines)
    func utility(_ transforms: [TransformKind]) throws {
        let (train, trainLabels) = clusteredQueries(count: 2000, dimension: 64, clusters: 10, spread: 0.9, seed: 62)
        let (test, testLabels) = clusteredQueries(count: 1000, dimension: 64, clusters: 10, spread: 0.9, seed: 62)
        let rawAccuracy = try leastSquaresAccuracy(train, trainLabels, test, testLabels)
        let defense = try B4BDefense(configuration: smallConfiguration(transforms: transforms, cost: .none), secret: testSecret)
        let pipeline = defense.transform(for: "user")
        let accuracy = try leastSquaresAccuracy(pipeline.apply(train), trainLabels, pipeline.apply(test), testLabels)
        #expect(rawAccuracy > 0.9, "raw accuracy \(rawAccuracy): the clusters should be well separated")
        #expect(abs(accuracy - rawAccuracy) <= 0.005, "\(transforms.map(\.name)): \(accuracy) vs raw \(rawAccuracy)")
    }

    @Test("The dense affine transform is well conditioned: singular values within the configured scale range")
    func affineConditioning() throws {
        let t = AffineTransform(dimension: 48, scaleRange: 0.5...2, translation: 1, seed: RandomSeed(5, 6, 7, 8))
        let gram = Matrix.product(t.matrix, .transpose, t.matrix)
        let eigen = try SymmetricEigenDecomposition(gram)
        let (lo, hi) = (eigen.values.first!.squareRoot(), eigen.values.last!.squareRoot())
        #expect(lo >= 0.5 - 1e-3 && hi <= 2 + 1e-3, "singular values in \(lo)...\(hi)")
        #expect(t.translation.allSatisfy { abs($0) <= 1 })
    }

    @Test("Derived transforms are cached within the budget; a zero budget caches nothing and changes no answer")
    func cache() throws {
        var configuration = smallConfiguration(transforms: [.scaleShift(), .shuffle])
        let rows = spreadQueries(count: 4, dimension: 64, seed: 63)
        let cached = try B4BDefense(configuration: configuration, secret: testSecret)
        configuration.transformCacheBytes = 0
        let uncached = try B4BDefense(configuration: configuration, secret: testSecret)
        for user in ["a", "b", "c"] {
            #expect(try cached.protect(rows, user: user).representations == (try uncached.protect(rows, user: user).representations))
        }
        #expect(cached.cachedTransformCount == 3)
        #expect(uncached.cachedTransformCount == 0)
    }

    @Test("Users whose transforms fit the cache budget together all stay cached, however they fall into the cache's shards")
    func cacheBudgetIsShared() throws {
        // A dense affine at d = 64: about 17 KiB per user. The budget holds 24 users; 17 users
        // put at least two in one of the cache's 16 shards (pigeonhole), where a per-shard share
        // of the budget (1.5 users) would make them evict each other on every call.
        var configuration = smallConfiguration(transforms: [.affine()])
        let probe = try B4BDefense(configuration: configuration, secret: testSecret)
        let perUser = probe.transform(for: "probe").byteCount
        configuration.transformCacheBytes = 24 * perUser
        let defense = try B4BDefense(configuration: configuration, secret: testSecret)
        let rows = spreadQueries(count: 2, dimension: 64, seed: 65)
        let users = (0..<17).map { "user-\($0)" }
        for user in users { _ = try defense.protect(rows, user: user) }
        #expect(defense.cachedTransformCount == 17)
        for user in users { _ = try defense.protect(rows, user: user) }
        #expect(defense.cachedTransformCount == 17)
        #expect(defense.cachedTransformBytes <= 24 * perUser)

        // Past the budget: least recently used users go, the budget holds, the newest stays.
        for i in 0..<60 { _ = try defense.protect(rows, user: "cold-\(i)") }
        #expect(defense.cachedTransformBytes <= 24 * perUser)
        #expect(defense.cachedTransformCount >= 18 && defense.cachedTransformCount <= 24,
                "evictions go down to 7/8 of the budget, not further: \(defense.cachedTransformCount) cached")
    }

    @Test("One user's transforms larger than the whole cache budget are still cached, alone")
    func oversizedEntryStaysAlone() throws {
        var configuration = smallConfiguration(transforms: [.affine()])
        configuration.transformCacheBytes = 1024
        let defense = try B4BDefense(configuration: configuration, secret: testSecret)
        let rows = spreadQueries(count: 2, dimension: 64, seed: 66)
        for user in ["a", "b", "c"] {
            _ = try defense.protect(rows, user: user)
            #expect(defense.cachedTransformCount == 1)
        }
    }

    @Test("Consecutive gather stages are fused into one pass with the same result as applying them in turn")
    func fusedGathers() throws {
        let kinds: [TransformKind] = [.scaleShift(), .pad(count: 8), .addConstants(count: 5), .shuffle]
        let defense = try B4BDefense(configuration: smallConfiguration(transforms: kinds, cost: .none), secret: testSecret)
        let pipeline = defense.transform(for: "u")
        #expect(pipeline.stages.count == 2, "pad, add-constants and shuffle should fuse into one stage")
        // The same stages derived one by one (the façade's seed naming) and applied in turn.
        var x = spreadQueries(count: 5, dimension: 64, seed: 64)
        let expected = pipeline.apply(x)
        var d = 64
        for (i, kind) in kinds.enumerated() {
            let seed = testSecret.seed(SeedPurpose("transform/\(i)/\(kind.name)"), user: "u")
            let stage = kind.make(inputDimension: d, seed: seed, unitScale: 1, centre: nil)
            x = stage.apply(x)
            d = stage.outputDimension
        }
        #expect(x == expected)
    }

    @Test("Fused pad then shuffle equals the definition: output j is (x, then the pad's constants)[permutation[j]]")
    func fusedPadShuffleMatchesDefinition() throws {
        let d = 64
        let defense = try B4BDefense(configuration: smallConfiguration(dimension: d, transforms: [.pad(count: 8), .shuffle], cost: .none),
                                     secret: testSecret)
        let pipeline = defense.transform(for: "v")
        #expect(pipeline.stages.count == 1)
        let pad = try #require(TransformKind.pad(count: 8).make(inputDimension: d, seed: testSecret.seed(SeedPurpose("transform/0/pad"), user: "v"),
                                                                 unitScale: 1, centre: nil) as? PadTransform)
        let shuffle = try #require(TransformKind.shuffle.make(inputDimension: d + 8, seed: testSecret.seed(SeedPurpose("transform/1/shuffle"), user: "v"),
                                                               unitScale: 1, centre: nil) as? ShuffleTransform)
        let x = spreadQueries(count: 3, dimension: d, seed: 65)
        let y = pipeline.apply(x)
        for i in 0..<x.rows {
            let padded = (0..<d).map { x[i, $0] } + pad.constants
            let expected = shuffle.permutation.map { padded[$0] }
            #expect((0..<(d + 8)).map { y[i, $0] } == expected, "row \(i)")
        }
    }

    @Test("Shuffle is a permutation; add-constants keeps the input in order around its constants")
    func structure() {
        let s = ShuffleTransform(dimension: 50, seed: RandomSeed(1, 1, 1, 1))
        #expect(s.permutation.sorted() == Array(0..<50))
        #expect(s.permutation != Array(0..<50))
        let a = AddConstantsTransform(dimension: 10, count: 5, magnitude: 1, seed: RandomSeed(2, 2, 2, 2))
        let x = Matrix(rows: 1, columns: 10) { _, j in Float(j + 100) }
        let y = a.apply(x)
        let kept = (0..<15).filter { !a.constantPositions.contains($0) }.map { y[0, $0] }
        #expect(kept == (0..<10).map { Float($0 + 100) })
        #expect(a.constantPositions.count == 5)

        // Applied to several rows: the shuffle moves values as its permutation says, and the
        // constants are the same in every row, within the magnitude.
        let rows = Matrix(rows: 3, columns: 50) { i, j in Float(i * 1000 + j) }
        let shuffled = s.apply(rows)
        for i in 0..<3 { #expect((0..<50).map { shuffled[i, $0] } == s.permutation.map { rows[i, $0] }) }
        let padded = a.apply(Matrix(rows: 3, columns: 10) { i, j in Float(i * 1000 + j) })
        for p in a.constantPositions {
            #expect(abs(padded[0, p]) <= 1 && padded[0, p] == padded[1, p] && padded[1, p] == padded[2, p])
        }
    }
}

/// Test accuracy of a least-squares one-vs-all linear classifier with a bias column.
func leastSquaresAccuracy(_ train: Matrix, _ trainLabels: [Int], _ test: Matrix, _ testLabels: [Int]) throws -> Double {
    let classes = (trainLabels.max() ?? 0) + 1
    func withBias(_ m: Matrix) -> Matrix { Matrix(rows: m.rows, columns: m.columns + 1) { i, j in j < m.columns ? m[i, j] : 1 } }
    let x = withBias(train)
    let y = Matrix(rows: train.rows, columns: classes) { i, c in trainLabels[i] == c ? 1 : 0 }
    let w = try leastSquares(x, y, method: .svd()).solution
    let scores = Matrix.product(withBias(test), w)
    var correct = 0
    for i in 0..<test.rows {
        let predicted = (0..<classes).max { scores[i, $0] < scores[i, $1] }!
        if predicted == testLabels[i] { correct += 1 }
    }
    return Double(correct) / Double(test.rows)
}
