import Evaluation
import Foundation
import NumericKernels
import Synchronization
import Testing

/// Fixtures written by `Tests/Fixtures/make_npy_fixtures.py` (NumPy 2.x).
private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

private func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

/// The matrix every float fixture holds: `arange(12).reshape(3, 4) * 0.5 - 1`.
private let expectedMatrix = Matrix(rows: 3, columns: 4, elements: (0..<12).map { Float($0) * 0.5 - 1 })
private let expectedLabels = [0, 1, 2, 3, 250, 7, 42]
private let expectedSigned = [-3, -1, 0, 1, 100]

/// A fresh, empty directory, removed when `body` returns.
private func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("npy-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

/// Writes `bytes` to a temporary file and calls `body` with its path.
private func withFile<R>(_ bytes: [UInt8], _ body: (String) throws -> R) throws -> R {
    try withTemporaryDirectory { directory throws in
        let path = directory.appendingPathComponent("input.npy").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try body(path)
    }
}

/// An `.npy` file of version 1.0 with `dictionary` as header text (padded as NumPy pads) and `data`.
private func npyBytes(_ dictionary: String, data: [UInt8] = [], major: UInt8 = 1, minor: UInt8 = 0) -> [UInt8] {
    let prefix = major == 1 ? 10 : 12
    var text = Array(dictionary.utf8)
    text += [UInt8](repeating: 0x20, count: (64 - (prefix + text.count + 1) % 64) % 64) + [0x0A]
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, minor]
    bytes += (0..<(prefix - 8)).map { UInt8(truncatingIfNeeded: text.count >> (8 * $0)) }
    return bytes + text + data
}

private func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

/// Runs `body`, expecting an `NPYError` for `path` whose message contains every keyword.
private func expectNPYError(path: String, _ keywords: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an NPYError mentioning \(keywords)", sourceLocation: sourceLocation)
    } catch let error as NPYError {
        #expect(error.path == path, sourceLocation: sourceLocation)
        for keyword in keywords {
            #expect(error.message.contains(keyword), "\(error.message) lacks \(keyword)", sourceLocation: sourceLocation)
        }
        #expect(error.description.hasPrefix(path), sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an NPYError, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("NPY reading")
struct NPYReadingTests {
    @Test("float32 and float64 matrices read as NumPy wrote them", arguments: ["matrix_f4.npy", "matrix_f8.npy", "matrix_f4_v2.npy"])
    func readsMatrices(name: String) throws {
        let matrix = try NPY.readMatrix(fixture(name))
        #expect(matrix == expectedMatrix)
    }

    @Test func readsEmptyMatrix() throws {
        let matrix = try NPY.readMatrix(fixture("matrix_f4_empty.npy"))
        #expect(matrix.rows == 0 && matrix.columns == 4 && matrix.elements.isEmpty)
    }

    @Test("integer labels of every width", arguments: ["labels_i8.npy", "labels_i4.npy", "labels_u1.npy"])
    func readsLabels(name: String) throws {
        #expect(try NPY.readLabels(fixture(name)) == expectedLabels)
    }

    @Test("signed narrow labels", arguments: ["labels_i2_signed.npy", "labels_i1_signed.npy"])
    func readsSignedLabels(name: String) throws {
        #expect(try NPY.readLabels(fixture(name)) == expectedSigned)
    }

    @Test func headers() throws {
        let v1 = try NPY.header(fixture("matrix_f4.npy"))
        #expect(v1 == NPYHeader(version: 1, descr: "<f4", fortranOrder: false, shape: [3, 4], dataOffset: 128))
        #expect(v1.elementCount == 12)
        let v2 = try NPY.header(fixture("matrix_f4_v2.npy"))
        #expect(v2 == NPYHeader(version: 2, descr: "<f4", fortranOrder: false, shape: [3, 4], dataOffset: 128))
        let fortran = try NPY.header(fixture("matrix_fortran.npy"))
        #expect(fortran.fortranOrder)
        #expect(try NPY.header(fixture("labels_u1.npy")).descr == "|u1")
        #expect(try NPY.header(fixture("matrix_big_endian.npy")).descr == ">f4")
    }

    @Test func readsVersion3UTF8Header() throws {
        let bytes = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", data: floatBytes([1.5, -2]), major: 3)
        try withFile(bytes) { path throws in
            #expect(try NPY.header(path).version == 3)
            #expect(try NPY.readMatrix(path) == Matrix(rows: 1, columns: 2, elements: [1.5, -2]))
        }
    }

    @Test func acceptsUnusualButValidHeaders() throws {
        // Key order, double quotes, no trailing comma, extra spaces, no padding at all.
        let dictionary = #"{"shape":(2,1),"fortran_order":False,"descr":"<f4"}"#
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dictionary.utf8.count), 0] + Array(dictionary.utf8)
        bytes += floatBytes([3, 4])
        try withFile(bytes) { path throws in
            #expect(try NPY.readMatrix(path) == Matrix(rows: 2, columns: 1, elements: [3, 4]))
        }
    }

    @Test func float64OutOfFloatRangeBecomesInfinity() throws {
        let data = [1e300, -1e300, 0.25].flatMap { (v: Double) in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        try withFile(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3), }", data: data)) { path throws in
            #expect(try NPY.readMatrix(path).elements == [.infinity, -.infinity, 0.25])
        }
    }
}

@Suite("NPY writing")
struct NPYWritingTests {
    @Test func matrixRoundTripAndExactHeader() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory.appendingPathComponent("m.npy").path
            try NPY.write(expectedMatrix, to: path)
            #expect(try NPY.readMatrix(path) == expectedMatrix)

            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(Array(bytes.prefix(8)) == [0x93] + Array("NUMPY".utf8) + [1, 0])
            let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            #expect((10 + headerLength) % 64 == 0)
            let text = String(decoding: bytes[10 ..< 10 + headerLength], as: UTF8.self)
            #expect(text.hasSuffix("\n"))
            #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }")
            #expect(bytes.count == 10 + headerLength + 12 * 4)
            #expect(Array(bytes[(10 + headerLength)...]) == floatBytes(expectedMatrix.elements))
            // Byte-for-byte what np.save wrote.
            #expect(bytes == [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("matrix_f4.npy")))))
            #expect(try NPY.header(path) == NPYHeader(version: 1, descr: "<f4", fortranOrder: false, shape: [3, 4], dataOffset: 128))
        }
    }

    @Test func labelsRoundTripAndExactHeader() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory.appendingPathComponent("labels.npy").path
            let labels = [0, -1, 5, Int.max, Int.min, 42]
            try NPY.write(labels: labels, to: path)
            #expect(try NPY.readLabels(path) == labels)
            let header = try NPY.header(path)
            #expect(header == NPYHeader(version: 1, descr: "<i8", fortranOrder: false, shape: [6], dataOffset: 128))
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let text = String(decoding: bytes[10 ..< 128], as: UTF8.self)
            #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == "{'descr': '<i8', 'fortran_order': False, 'shape': (6,), }")

            // np.save of the same labels as int64 gives the same bytes.
            try NPY.write(labels: expectedLabels, to: path)
            #expect(bytes.count == 128 + 48)
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("labels_i8.npy")))))
        }
    }

    @Test func emptyAndLargerRoundTrips() throws {
        try withTemporaryDirectory { directory throws in
            for (rows, columns) in [(0, 0), (0, 7), (5, 0), (1, 1), (300, 257)] {
                let path = directory.appendingPathComponent("m\(rows)x\(columns).npy").path
                let matrix = Matrix(rows: rows, columns: columns) { i, j in Float(i * 1000 + j) - 0.125 }
                try NPY.write(matrix, to: path)
                let back = try NPY.readMatrix(path)
                #expect(back == matrix)
                #expect(try NPY.header(path).dataOffset % 64 == 0)
            }
            let empty = directory.appendingPathComponent("nolabels.npy").path
            try NPY.write(labels: [], to: empty)
            #expect(try NPY.readLabels(empty) == [])
            #expect(try NPY.header(empty).shape == [0])
        }
    }

    @Test func overwritesAtomicallyLeavingNoTemporaryFiles() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory.appendingPathComponent("m.npy").path
            try NPY.write(Matrix(rows: 2, columns: 2, elements: [1, 2, 3, 4]), to: path)
            try NPY.write(expectedMatrix, to: path)
            #expect(try NPY.readMatrix(path) == expectedMatrix)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["m.npy"])
        }
    }

    @Test func writingIntoAMissingDirectoryThrowsAndLeavesNothing() throws {
        try withTemporaryDirectory { directory throws in
            let missing = directory.appendingPathComponent("does-not-exist")
            let path = missing.appendingPathComponent("m.npy").path
            expectNPYError(path: path, ["directory"]) { try NPY.write(expectedMatrix, to: path) }
            expectNPYError(path: path, ["directory"]) { try NPY.write(labels: [1, 2], to: path) }
            #expect(!FileManager.default.fileExists(atPath: missing.path))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        }
    }

    @Test func failedRenameRemovesTheTemporaryFile() throws {
        try withTemporaryDirectory { directory throws in
            // The target is a non-empty directory: the rename fails after the data is written.
            let target = directory.appendingPathComponent("occupied")
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
            try Data([1]).write(to: target.appendingPathComponent("keep"))
            expectNPYError(path: target.path, ["cannot move"]) { try NPY.write(expectedMatrix, to: target.path) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["occupied"])
        }
    }
}

@Suite("NPY errors")
struct NPYErrorTests {
    @Test func fixtureErrors() {
        let cases: [(String, [String], (String) throws -> Void)] = [
            ("matrix_fortran.npy", ["Fortran-order arrays are not supported", "ascontiguousarray"], { _ = try NPY.readMatrix($0) }),
            ("matrix_fortran.npy", ["Fortran"], { _ = try NPY.readLabels($0) }),
            ("matrix_big_endian.npy", ["'>f4'", "big-endian"], { _ = try NPY.readMatrix($0) }),
            ("matrix_c8.npy", ["unsupported dtype", "'<c8'"], { _ = try NPY.readMatrix($0) }),
            ("vector_f4.npy", ["2-D", "(5,)"], { _ = try NPY.readMatrix($0) }),
            ("labels_i8.npy", ["dtype '<i8'"], { _ = try NPY.readMatrix($0) }),
            ("labels_2d.npy", ["1-D", "(2, 3)"], { _ = try NPY.readLabels($0) }),
            ("matrix_f4.npy", ["dtype '<f4'", "labels"], { _ = try NPY.readLabels($0) }),
            ("matrix_truncated.npy", ["truncated", "48 bytes", "found 43"], { _ = try NPY.readMatrix($0) }),
            ("missing.npy", ["not found"], { _ = try NPY.readMatrix($0) }),
            ("missing.npy", ["not found"], { _ = try NPY.header($0) }),
        ]
        for (name, keywords, read) in cases {
            let path = fixture(name)
            expectNPYError(path: path, keywords) { try read(path) }
        }
        // A directory is not a file.
        expectNPYError(path: fixtures.path, ["directory"]) { _ = try NPY.readMatrix(fixtures.path) }
    }

    @Test("a FIFO is refused at once as not a regular file, not waited on for a writer")
    func fifoIsRefused() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory.appendingPathComponent("pipe.npy").path
            guard mkfifo(path, 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
            let outcome = Mutex<(any Error)?>(nil)
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                do { _ = try NPY.readMatrix(path) } catch { outcome.withLock { $0 = error } }
                done.signal()
            }
            // The read must not wait for a writer. Should it block (the regression this
            // guards against), a writer's open releases it so that the test ends, failing.
            if done.wait(timeout: .now() + 60) == .timedOut {
                Issue.record("reading a FIFO waited for a writer")
                let writer = open(path, O_WRONLY | O_NONBLOCK)
                if writer >= 0 { close(writer) }
                done.wait()
            }
            let error = outcome.withLock { $0 }
            #expect((error as? NPYError)?.message.contains("not a regular file") == true, "\(String(describing: error))")
        }
    }

    static let malformed: [(String, [UInt8], [String])] = {
        let valid = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", data: floatBytes([1, 2]))
        func header(_ dictionary: String, data: [UInt8] = floatBytes([1, 2])) -> [UInt8] { npyBytes(dictionary, data: data) }
        var badMagic = valid; badMagic[1] = UInt8(ascii: "X")
        var version4 = valid; version4[6] = 4
        var version11 = valid; version11[7] = 1
        var longHeader = valid; longHeader[9] = 0x7F
        let deep = String(repeating: "(", count: 10_000) + String(repeating: ")", count: 10_000)
        return [
            ("empty", [], ["too short"]),
            ("short", Array(valid.prefix(9)), ["too short"]),
            ("bad magic", badMagic, ["bad magic"]),
            ("text file", Array("hello, world, this is not numpy\n".utf8), ["bad magic"]),
            ("version 4.0", version4, ["unsupported", "version 4.0"]),
            ("version 1.1", version11, ["unsupported", "version 1.1"]),
            ("v2 too short", Array(npyBytes("{}", major: 2).prefix(11)), ["too short"]),
            ("header beyond file", longHeader, ["header length", "beyond"]),
            ("missing shape", header("{'descr': '<f4', 'fortran_order': False, }"), ["malformed header", "missing key 'shape'"]),
            ("missing descr", header("{'fortran_order': False, 'shape': (1, 2), }"), ["missing key 'descr'"]),
            ("missing fortran_order", header("{'descr': '<f4', 'shape': (1, 2), }"), ["missing key 'fortran_order'"]),
            ("bad shape tuple", header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, x), }"), ["malformed header"]),
            ("shape not a tuple", header("{'descr': '<f4', 'fortran_order': False, 'shape': 12, }"), ["'shape' must be a tuple"]),
            ("shape list", header("{'descr': '<f4', 'fortran_order': False, 'shape': [1, 2], }"), ["'shape' must be a tuple"]),
            ("negative dimension", header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }"), ["bad shape", "non-negative"]),
            ("string dimension", header("{'descr': '<f4', 'fortran_order': False, 'shape': ('1', 2), }"), ["bad shape"]),
            ("huge integer", header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 2), }"), ["too large"]),
            ("garbage", header("garbage!"), ["malformed header"]),
            ("not a dict", header("(1, 2)"), ["expected a dictionary"]),
            ("unterminated", header("{'descr': '<f4"), ["malformed header", "unterminated"]),
            ("unclosed dict", header("{'descr': '<f4', "), ["malformed header"]),
            ("duplicate key", header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }"), ["duplicate key"]),
            ("extra key", header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), 'x': 1, }"), ["unexpected key 'x'"]),
            ("fortran_order not bool", header("{'descr': '<f4', 'fortran_order': 0, 'shape': (1, 2), }"), ["'fortran_order' must be True or False"]),
            ("deep nesting", header("{'descr': '<f4', 'fortran_order': False, 'shape': \(deep), }"), ["nesting"]),
            ("trailing junk", header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), } x"), ["malformed header"]),
            ("object dtype", header("{'descr': '|O', 'fortran_order': False, 'shape': (1, 2), }"), ["unsupported dtype", "object"]),
            ("structured dtype", header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 2), }"), ["structured"]),
            ("element count overflow", header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"), ["more elements than fit"]),
            ("byte count overflow", header("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 1), }"), ["more bytes than fit"]),
            ("huge shape, no data", header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"), ["truncated", "4000000000000 bytes"]),
            ("trailing data", header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", data: floatBytes([1, 2, 3])), ["trailing data"]),
            ("scalar", header("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", data: floatBytes([1])), ["2-D", "()"]),
            ("3-D", header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }"), ["2-D", "(1, 1, 2)"]),
        ]
    }()

    @Test func malformedFiles() throws {
        for (label, bytes, keywords) in Self.malformed {
            try withFile(bytes) { path throws in
                expectNPYError(path: path, keywords) {
                    _ = try NPY.readMatrix(path)
                    Issue.record("\(label) was accepted")
                }
            }
        }
    }

    @Test func labelErrors() throws {
        func labelsFile(_ descr: String, shape: String, data: [UInt8]) -> [UInt8] {
            npyBytes("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }", data: data)
        }
        try withFile(labelsFile("<u8", shape: "(1,)", data: [UInt8](repeating: 0xFF, count: 8))) { path throws in
            expectNPYError(path: path, ["the label at index 0", "does not fit in Int"]) { _ = try NPY.readLabels(path) }
        }
        try withFile(labelsFile(">i8", shape: "(1,)", data: [UInt8](repeating: 0, count: 8))) { path throws in
            expectNPYError(path: path, ["big-endian"]) { _ = try NPY.readLabels(path) }
        }
        try withFile(labelsFile("<i8", shape: "(3,)", data: [UInt8](repeating: 0, count: 20))) { path throws in
            expectNPYError(path: path, ["truncated", "24 bytes", "found 20"]) { _ = try NPY.readLabels(path) }
        }
        try withFile(labelsFile("<u4", shape: "(2,)", data: [0xFF, 0xFF, 0xFF, 0xFF, 7, 0, 0, 0])) { path throws in
            #expect(try NPY.readLabels(path) == [Int(UInt32.max), 7])
        }
        try withFile(labelsFile("|b1", shape: "(3,)", data: [0, 1, 2])) { path throws in
            #expect(try NPY.readLabels(path) == [0, 1, 1])
        }
    }
}

@Suite("NPY robustness")
struct NPYRobustnessTests {
    /// Every read either succeeds or throws an `NPYError`: never a trap, never another error.
    private func readAll(_ path: String) -> (matrix: Bool, labels: Bool, header: Bool) {
        func attempt(_ read: () throws -> Void) -> Bool {
            do { try read(); return true } catch is NPYError { return false } catch {
                Issue.record("non-NPYError \(error)")
                return false
            }
        }
        return (attempt { _ = try NPY.readMatrix(path) }, attempt { _ = try NPY.readLabels(path) }, attempt { _ = try NPY.header(path) })
    }

    @Test func everyTruncationPrefixThrows() throws {
        for name in ["matrix_f4.npy", "labels_i8.npy", "matrix_f4_v2.npy"] {
            let whole = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture(name))))
            let dataOffset = try NPY.header(fixture(name)).dataOffset
            try withTemporaryDirectory { directory throws in
                for length in 0..<whole.count {
                    let path = directory.appendingPathComponent("prefix\(length).npy").path
                    try Data(whole.prefix(length)).write(to: URL(fileURLWithPath: path))
                    let result = readAll(path)
                    #expect(!result.matrix && !result.labels, "prefix of \(length) bytes of \(name) was accepted")
                    #expect(result.header == (length >= dataOffset), "header() on a \(length)-byte prefix of \(name)")
                }
            }
        }
    }

    @Test func randomGarbageThrows() throws {
        var generator = SplitMix(seed: 0xB4B)
        try withTemporaryDirectory { directory throws in
            let path = directory.appendingPathComponent("garbage.npy").path
            for round in 0..<300 {
                let count = Int(generator.next() % 400)
                var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                if round.isMultiple(of: 2), count >= 12 {
                    // Valid magic and version, random rest: exercises the header parser.
                    bytes.replaceSubrange(0..<8, with: [0x93] + Array("NUMPY".utf8) + [UInt8(1 + round % 3), 0])
                    bytes[9] = 0
                    bytes[8] = UInt8(truncatingIfNeeded: generator.next() % UInt64(count - 10))
                }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                let result = readAll(path)
                #expect(!result.matrix && !result.labels, "garbage round \(round) was accepted")
            }
        }
    }

    @Test func everySingleByteMutationOfAHeaderIsHandled() throws {
        let whole = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("matrix_f4.npy"))))
        try withTemporaryDirectory { directory throws in
            let path = directory.appendingPathComponent("mutant.npy").path
            for index in 0..<128 {
                for replacement: UInt8 in [0x00, 0x20, 0x27, 0x28, 0x29, 0x2C, 0x31, 0x39, 0x7B, 0x7D, 0xFF] where replacement != whole[index] {
                    var bytes = whole
                    bytes[index] = replacement
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                    _ = readAll(path)
                }
            }
        }
    }
}

/// A small deterministic generator for the garbage tests.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Thrown by a test producer to abandon a streamed write.
private struct StopProducing: Error {}

@Suite("NPY streaming")
struct NPYStreamingTests {
    @Test("row blocks of float32 and float64 files reassemble the matrix", arguments: ["matrix_f4.npy", "matrix_f8.npy", "matrix_f4_v2.npy"])
    func readsInBlocks(name: String) throws {
        var starts: [Int] = []
        var elements: [Float] = []
        let shape = try NPY.forEachRowBlock(fixture(name), blockRows: 2) { first, block in
            starts.append(first)
            #expect(block.columns == 4)
            elements += block.elements
        }
        #expect(shape.rows == 3 && shape.columns == 4)
        #expect(starts == [0, 2])
        #expect(Matrix(rows: 3, columns: 4, elements: elements) == expectedMatrix)
    }

    @Test func malformedFilesThrowBeforeAnyBlock() {
        for (name, keywords) in [("matrix_fortran.npy", ["Fortran"]), ("matrix_truncated.npy", ["truncated"]),
                                 ("labels_i8.npy", ["'<i8'"]), ("vector_f4.npy", ["2-D"]), ("missing.npy", ["not found"])] {
            let path = fixture(name)
            expectNPYError(path: path, keywords) {
                try NPY.forEachRowBlock(path, blockRows: 1) { _, _ in Issue.record("block delivered from \(name)") }
            }
        }
    }

    @Test func blockWriterRoundTripsAndMatchesTheWholeMatrixWriter() throws {
        try withTemporaryDirectory { directory throws in
            let streamed = directory.appendingPathComponent("streamed.npy").path
            let whole = directory.appendingPathComponent("whole.npy").path
            try NPY.writeMatrix(to: streamed, rows: 3, columns: 4) { append in
                try expectedMatrix.rows(0 ..< 1).withView { try append($0) }
                try expectedMatrix.rows(1 ..< 3).withView { try append($0) }
            }
            try NPY.write(expectedMatrix, to: whole)
            #expect(try NPY.readMatrix(streamed) == expectedMatrix)
            #expect(try Data(contentsOf: URL(fileURLWithPath: streamed)) == Data(contentsOf: URL(fileURLWithPath: whole)))
            // A strided (column) view is written row by row.
            let wide = Matrix(rows: 3, columns: 6) { i, j in j < 4 ? expectedMatrix[i, j] : 99 }
            try NPY.writeMatrix(to: streamed, rows: 3, columns: 4) { append in
                try wide.withView { try append($0.columns(0 ..< 4)) }
            }
            #expect(try NPY.readMatrix(streamed) == expectedMatrix)
        }
    }

    @Test func blockWriterCommitsNothingUnlessEveryRowArrives() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory.appendingPathComponent("m.npy").path
            try NPY.write(expectedMatrix, to: path)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            expectNPYError(path: path, ["only 1 of the declared 3 rows"]) {
                try NPY.writeMatrix(to: path, rows: 3, columns: 4) { append in
                    try expectedMatrix.rows(0 ..< 1).withView { try append($0) }
                }
            }
            expectNPYError(path: path, ["more than the declared 2 rows"]) {
                try NPY.writeMatrix(to: path, rows: 2, columns: 4) { append in try expectedMatrix.withView { try append($0) } }
            }
            expectNPYError(path: path, ["4 columns", "has 5"]) {
                try NPY.writeMatrix(to: path, rows: 3, columns: 5) { append in try expectedMatrix.withView { try append($0) } }
            }
            var stopped = false
            do {
                try NPY.writeMatrix(to: path, rows: 3, columns: 4) { append in
                    try expectedMatrix.rows(0 ..< 2).withView { try append($0) }
                    throw StopProducing()
                }
            } catch is StopProducing {
                stopped = true
            }
            #expect(stopped)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["m.npy"])
        }
    }
}

@Suite("CSV table")
struct CSVTableTests {
    @Test func writesHeaderQuotedFieldsAndRoundTripNumbers() {
        var table = CSVTable(columns: ["name", "n", "value", "optional"])
        table.append([.text("plain"), 3, .number(0.1), .optional(nil)])
        table.append([.text("a, \"quoted\"\nname"), .integer(-1), .number(1e-300), .optional(2.5)])
        table.append([.text(""), 0, .number(.nan), .number(-.infinity)])
        let expected = "name,n,value,optional\nplain,3,0.1,\n\"a, \"\"quoted\"\"\nname\",-1,1e-300,2.5\n,0,nan,-inf\n"
        #expect(table.text == expected)
        #expect(Double("1e-300") == 1e-300)
    }
}
