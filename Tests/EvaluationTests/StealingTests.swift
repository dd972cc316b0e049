import Evaluation
import Foundation
import NumericKernels
import Testing
import TestSupport

/// The thief's pieces: reading its texts, its hashed n-gram TF-IDF features, the ridge
/// surrogate and fidelity. Expected values come from `Tests/Fixtures/make_stealing_fixtures.py`,
/// an independent Python implementation of the documented recipe.
@Suite("Stealing")
struct StealingTests {
    // MARK: - Helpers

    private static let fixtures = URL(fileURLWithPath: "\(#filePath)").deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    private func load(_ name: String) throws -> Fixture.Array { try Fixture.load(name) }

    private func fixtureTexts() throws -> TextRecords {
        try TextRecords.read(Self.fixtures.appendingPathComponent("stealing_texts.jsonl").path)
    }

    /// Writes `bytes` to a fresh temporary file and returns its path.
    private func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("b4b-stealing-\(UUID().uuidString).jsonl")
        try Data(bytes).write(to: url)
        return url.path
    }

    private func temporaryFile(_ text: String) throws -> String { try temporaryFile(Array(text.utf8)) }

    /// Reads `text` as a JSONL file and returns the error it must throw.
    private func readError(_ bytes: [UInt8]) throws -> TextRecordsError {
        let path = try temporaryFile(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let records = try TextRecords.read(path)
            Issue.record("expected an error, read \(records.count) records")
            throw CancellationError()
        } catch let error as TextRecordsError {
            #expect(error.path == path)
            #expect(error.description.hasPrefix(path))
            return error
        }
    }

    private func readError(_ text: String) throws -> TextRecordsError { try readError(Array(text.utf8)) }

    /// Largest |a - b| over all elements.
    private func maxAbsoluteDifference(_ a: Matrix, _ b: [Double]) -> Double {
        zip(a.elements, b).map { abs(Double($0) - $1) }.max() ?? 0
    }

    // MARK: - TextRecords

    @Test func readsAWellFormedFile() throws {
        // BOM, CRLF, a blank line, extra keys, an integer label, no final newline.
        let path = try temporaryFile("\u{FEFF}{\"text\": \"first\", \"corpus\": \"x\", \"label\": \"a\"}\r\n"
            + "\n{\"label\": 7, \"text\": \"second \\u00e9 é\"}\n  \n{\"text\": \"\", \"label\": \"c\"}")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let records = try TextRecords.read(path)
        #expect(records.texts == ["first", "second é é", ""])
        #expect(records.labels == ["a", "7", "c"])
        #expect(records.count == 3)
    }

    @Test func readsAFileWithoutLabels() throws {
        let path = try temporaryFile("{\"text\": \"one\"}\n{\"text\": \"two\"}\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let records = try TextRecords.read(path)
        #expect(records.texts == ["one", "two"])
        #expect(records.labels == nil)
    }

    @Test func readsTheFixtureTexts() throws {
        let records = try fixtureTexts()
        #expect(records.count == 30)
        #expect(records.texts[7] == "東京タワーは日本の電波塔です")
        #expect(records.texts[14] == "")
        #expect(records.labels?[4] == "class1")
    }

    @Test func malformedJSONNamesItsLine() throws {
        let error = try readError("{\"text\": \"ok\"}\n{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n{\"text\": \"ok\"}\n")
        #expect(error.line == 3)
        guard case .malformedJSON = error.kind else {
            Issue.record("expected malformedJSON, got \(error.kind)")
            return
        }
        #expect(error.description.contains("line 3"))
    }

    @Test func missingTextNamesItsLine() throws {
        let error = try readError("{\"text\": \"ok\", \"label\": \"a\"}\n{\"label\": \"b\"}\n")
        #expect(error.line == 2 && error.kind == .missingText)
        #expect(error.description.contains("line 2") && error.description.contains("\"text\""))
    }

    @Test func textMustBeAString() throws {
        let null = try readError("{\"text\": null}\n")
        #expect(null.line == 1 && null.kind == .textNotAString)
        let number = try readError("{\"text\": \"ok\"}\n{\"text\": 3}\n")
        #expect(number.line == 2 && number.kind == .textNotAString)
    }

    @Test func lineMustBeAnObject() throws {
        let error = try readError("{\"text\": \"ok\"}\n[\"text\"]\n")
        #expect(error.line == 2 && error.kind == .notAnObject)
    }

    @Test func labelMustBeAStringOrAnInteger() throws {
        let error = try readError("{\"text\": \"ok\", \"label\": true}\n")
        #expect(error.line == 1 && error.kind == .invalidLabel)
    }

    @Test func labelsMustBeOnAllRecordsOrNone() throws {
        let missing = try readError("{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n")
        #expect(missing.line == 2 && missing.kind == .inconsistentLabels(expected: true))
        let extra = try readError("{\"text\": \"a\"}\n\n{\"text\": \"b\", \"label\": \"x\"}\n")
        #expect(extra.line == 3 && extra.kind == .inconsistentLabels(expected: false))
    }

    @Test func emptyFileIsAnError() throws {
        let empty = try readError("")
        #expect(empty.line == nil && empty.kind == .noRecords)
        let blank = try readError("\n  \n\r\n")
        #expect(blank.line == nil && blank.kind == .noRecords)
    }

    @Test func nonUTF8NamesItsLine() throws {
        // Line 2 holds a lone continuation byte inside the string; line 3 a truncated sequence.
        var bytes = Array("{\"text\": \"ok\"}\n{\"text\": \"bad ".utf8) + [0x80] + Array("\"}\n".utf8)
        #expect(try readError(bytes).line == 2)
        #expect(try readError(bytes).kind == .invalidUTF8)
        bytes = Array("{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"".utf8) + [0xE6, 0x97] + Array("\"}\n".utf8)
        let truncated = try readError(bytes)
        #expect(truncated.line == 3 && truncated.kind == .invalidUTF8)
    }

    @Test func missingFileIsAnError() {
        let path = "/nonexistent/b4b-\(UUID().uuidString).jsonl"
        #expect(throws: TextRecordsError.self) { try TextRecords.read(path) }
        do {
            _ = try TextRecords.read(path)
        } catch let error as TextRecordsError {
            #expect(error.line == nil && error.path == path)
            guard case .unreadable = error.kind else {
                Issue.record("expected unreadable, got \(error.kind)")
                return
            }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    // MARK: - Hash

    @Test func hashMatchesThePythonImplementation() throws {
        let expected = try load("stealing_hashes.npy")
        #expect(expected.shape == [12, 2])
        let inputs = ["", "a", " ab", "ab ", "日本", "👋🏽"]
        for (s, seed) in [UInt64(0), 0x9E37_79B9_7F4A_7C15].enumerated() {
            for (k, input) in inputs.enumerated() {
                let row = s * inputs.count + k
                let want = UInt64(expected.values[2 * row]) << 32 | UInt64(expected.values[2 * row + 1])
                #expect(NGramHash.hash(Array(input.utf8), seed: seed) == want, "input \(input.debugDescription), seed \(seed)")
            }
        }
    }

    // MARK: - Features against the Python reference

    @Test func featuresMatchThePythonReference() throws {
        let texts = try fixtureTexts().texts
        let configuration = HashedNGramFeatures.Configuration(featureCount: 64)
        let featurizer = HashedNGramFeatures.fit(texts: Array(texts[..<20]), configuration: configuration)
        let idf = try load("stealing_idf.npy")
        #expect(zip(featurizer.inverseDocumentFrequency, idf.values).allSatisfy { abs($0 - $1) < 1e-12 })
        let expected = try load("stealing_features.npy")
        #expect(expected.shape == [30, 64])
        let features = featurizer.transform(texts: texts)
        #expect(features.rows == 30 && features.columns == 64)
        let difference = compare(features, expected.values, columns: 64, floor: 1)
        #expect(difference.maxRelativeError < 1e-5, "\(difference)")
    }

    @Test func variantFeaturesMatchThePythonReference() throws {
        // F = 50 (not a power of two), n-grams 4...5 (short padded words are one n-gram),
        // case kept, another seed.
        let texts = try fixtureTexts().texts
        let configuration = HashedNGramFeatures.Configuration(
            featureCount: 50, ngramLengths: 4 ... 5, lowercase: false, seed: 0x9E37_79B9_7F4A_7C15)
        let featurizer = HashedNGramFeatures.fit(texts: texts, configuration: configuration)
        let idf = try load("stealing_idf_alt.npy")
        #expect(zip(featurizer.inverseDocumentFrequency, idf.values).allSatisfy { abs($0 - $1) < 1e-12 })
        let expected = try load("stealing_features_alt.npy")
        let difference = compare(featurizer.transform(texts: texts), expected.values, columns: 50, floor: 1)
        #expect(difference.maxRelativeError < 1e-5, "\(difference)")
    }

    // MARK: - Feature invariants

    @Test func rowsAreUnitOrZero() throws {
        let texts = try fixtureTexts().texts
        let featurizer = HashedNGramFeatures.fit(texts: texts, configuration: .init(featureCount: 64))
        let features = featurizer.transform(texts: texts)
        for i in 0 ..< features.rows {
            let norm = features.row(i).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let wordless = texts[i].unicodeScalars.allSatisfy { $0.properties.isWhitespace }
            if wordless {
                #expect(norm == 0, "row \(i) (\(texts[i].debugDescription)) should be zero")
            } else {
                #expect(abs(norm - 1) < 1e-6, "row \(i) has norm \(norm)")
            }
            #expect(features.row(i).allSatisfy { $0 >= 0 }, "row \(i) has a negative entry")
        }
    }

    @Test func idfIsFittedOnTrainingTextsOnly() throws {
        let texts = try fixtureTexts().texts
        let train = Array(texts[..<20])
        let configuration = HashedNGramFeatures.Configuration(featureCount: 64)
        let onTrain = HashedNGramFeatures.fit(texts: train, configuration: configuration)
        let onAll = HashedNGramFeatures.fit(texts: texts, configuration: configuration)
        #expect(onTrain.inverseDocumentFrequency != onAll.inverseDocumentFrequency)
        // Transforming held-out texts does not change the fitted weights or the training rows.
        let before = onTrain.transform(texts: train)
        _ = onTrain.transform(texts: Array(texts[20...]))
        #expect(onTrain.transform(texts: train) == before)
        // A column no training text has gets the largest weight, ln(1 + n) + 1.
        let unseen = Double(log(21.0) + 1)
        let columnsInTrain = Set(train.flatMap { onTrain.ngramColumns($0) })
        for j in 0 ..< 64 where !columnsInTrain.contains(j) {
            #expect(abs(onTrain.inverseDocumentFrequency[j] - unseen) < 1e-12)
        }
        // No training text: every weight is 1.
        let empty = HashedNGramFeatures.fit(texts: [], configuration: configuration)
        #expect(empty.inverseDocumentFrequency == [Double](repeating: 1, count: 64))
    }

    @Test func transformIsDeterministicAndRowWise() throws {
        let texts = try fixtureTexts().texts
        let featurizer = HashedNGramFeatures.fit(texts: texts)
        #expect(featurizer.featureCount == 4096)
        let all = featurizer.transform(texts: texts)
        #expect(featurizer.transform(texts: texts) == all)
        // A row does not depend on the rest of the batch.
        for i in [0, 7, 12, 14, 29] {
            #expect(Array(featurizer.transform(texts: [texts[i]]).elements) == Array(all.row(i)), "row \(i)")
        }
        #expect(featurizer.transform(texts: []).rows == 0)
    }

    @Test func charWBNGramsOfAShortWord() {
        let featurizer = HashedNGramFeatures.fit(texts: [], configuration: .init(featureCount: 1 << 20))
        // " a", "a ", " a " (no 4-gram: the padded word has 3 scalars).
        let expected = [" a", "a ", " a "].map { Int(NGramHash.hash(Array($0.utf8), seed: 0) % (1 << 20)) }
        #expect(Set(featurizer.ngramColumns("A")) == Set(expected))
        #expect(featurizer.ngramColumns("A").count == 3)
        #expect(featurizer.ngramColumns(" \t\u{3000}").isEmpty)
        // Two words: the n-grams of each, never across the space.
        #expect(featurizer.ngramColumns("a b").count == 6)
        // Lower-casing: case does not matter by default.
        #expect(featurizer.ngramColumns("ÉCOLE Straße") == featurizer.ngramColumns("école straße"))
    }

    // MARK: - Ridge surrogate

    @Test func ridgeMatchesTheNumPyAugmentedSolution() throws {
        let x = try load("stealing_ridge_x.npy").matrix
        let y = try load("stealing_ridge_y.npy").matrix
        let xTest = try load("stealing_ridge_xtest.npy").matrix
        let coef = try load("stealing_ridge_coef.npy")
        let expected = try load("stealing_ridge_pred.npy")
        let surrogate = try RidgeSurrogate.fit(features: x, representations: y, lambda: 0.5)
        #expect(surrogate.featureCount == 30 && surrogate.representationDimension == 5 && surrogate.lambda == 0.5)
        let stacked = Matrix(rows: 31, columns: 5, elements: surrogate.mapper.weights.elements + surrogate.mapper.bias)
        #expect(relativeFrobeniusError(stacked, coef.values) < 1e-4)
        let predictions = surrogate.predict(features: xTest)
        #expect(relativeFrobeniusError(predictions, expected.values) < 1e-4)
        // Targets are linear in the features plus 1e-3 noise: predictions are close to them too.
        #expect(relativeFrobeniusError(surrogate.predict(features: x), y.elements.map { Double($0) }) < 1e-2)
    }

    @Test func ridgeRecoversAnExactLinearMapOnTextFeatures() throws {
        // Targets an exact linear function of real features (plus tiny noise): a small lambda
        // recovers them on held-out texts, and the copy's fidelity is ~1.
        let texts = try fixtureTexts().texts
        let featurizer = HashedNGramFeatures.fit(texts: texts, configuration: .init(featureCount: 8))
        let features = featurizer.transform(texts: texts)
        let w = gaussianMatrix(rows: 8, columns: 3, seed: 11)
        let noise = gaussianMatrix(rows: features.rows, columns: 3, seed: 12, scale: 1e-5)
        let product = Matrix.product(features, w)
        let y = Matrix(rows: features.rows, columns: 3) { i, j in product[i, j] + 1 + noise[i, j] }
        let surrogate = try RidgeSurrogate.fit(features: features, representations: y, lambda: 1e-5)
        let predictions = surrogate.predict(features: features)
        #expect(relativeFrobeniusError(predictions, y.elements.map { Double($0) }) < 1e-3)
        #expect(abs(meanCosineSimilarity(predictions, y) - 1) < 1e-5)
    }

    @Test func ridgeRejectsBadInput() {
        let x = Matrix(rows: 4, columns: 2, repeating: 1)
        #expect(throws: LinearMapperError.self) {
            try RidgeSurrogate.fit(features: x, representations: Matrix(rows: 3, columns: 2), lambda: 1)
        }
        #expect(throws: LinearMapperError.self) {
            try RidgeSurrogate.fit(features: x, representations: Matrix(rows: 4, columns: 2), lambda: -1)
        }
    }

    // MARK: - Fidelity

    @Test func fidelityOfAPerfectCopyIsOne() {
        let a = Matrix([[1, 2, 3], [-1, 0.5, 4], [0, 0, 2]])
        #expect(abs(meanCosineSimilarity(a, a) - 1) < 1e-12)
        // Positive scale per row does not matter; the opposite direction is -1.
        let scaled = Matrix([[2, 4, 6], [-0.5, 0.25, 2], [0, 0, 7]])
        #expect(abs(meanCosineSimilarity(a, scaled) - 1) < 1e-12)
        let negated = Matrix(rows: 3, columns: 3, elements: a.elements.map { -$0 })
        #expect(abs(meanCosineSimilarity(a, negated) + 1) < 1e-12)
        // Orthogonal rows and a zero row count 0.
        #expect(abs(meanCosineSimilarity(Matrix([[1, 0], [0, 0]]), Matrix([[0, 1], [1, 1]]))) < 1e-12)
    }
}
