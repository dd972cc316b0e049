import Defense
import Foundation
import NumericKernels
import Testing
import TestSupport

@Suite("Configuration")
struct ConfigurationTests {
    @Test("The defaults are the paper's")
    func defaults() throws {
        let c = try DefenseConfiguration().validated()
        #expect(c.dimension == 2048 && c.hashBits == 12 && c.bucketCount == 4096)
        #expect(c.cost == .exponential(ExponentialCost(lambda: 1e-6, alpha: 1, beta: 0.8)))
    }

    /// One invalid setting: the field the error must name and how to produce it.
    struct InvalidCase: Sendable, CustomTestStringConvertible {
        let field: String
        let change: @Sendable (inout DefenseConfiguration) -> Void
        var testDescription: String { field }
    }

    static let invalidCases: [InvalidCase] = [
        InvalidCase(field: "hashBits") { $0.hashBits = 0 },
        InvalidCase(field: "hashBits") { $0.hashBits = 25 },
        InvalidCase(field: "tableCount") { $0.tableCount = 0 },
        InvalidCase(field: "dimension") { $0.dimension = 0 },
        InvalidCase(field: "maxBatchRows") { $0.maxBatchRows = 0 },
        InvalidCase(field: "cost.alpha") { $0.cost = .exponential(ExponentialCost(lambda: 1, alpha: 0.5, beta: 0.8)) },
        InvalidCase(field: "cost.beta") { $0.cost = .exponential(ExponentialCost(beta: 0)) },
        InvalidCase(field: "cost.beta") { $0.cost = .exponential(ExponentialCost(beta: 1.01)) },
        InvalidCase(field: "cost.sigma") { $0.cost = .constant(sigma: -1) },
        InvalidCase(field: "units") { $0.units = .calibrationSpread },
        InvalidCase(field: "hasher") { $0.hasher = .random(centred: true) },
        InvalidCase(field: "transforms[1].count") { $0.transforms = [.affine(), .pad(count: -1)] },
        InvalidCase(field: "transforms[0].minScale") { $0.transforms = [.scaleShift(minScale: 0, maxScale: 1)] },
        InvalidCase(field: "transforms[0].outputDimension") { $0.transforms = [.binary(outputDimension: 0)] },
    ]

    @Test("Invalid settings are rejected with the field named", arguments: invalidCases)
    func invalid(_ bad: InvalidCase) {
        var c = DefenseConfiguration()
        bad.change(&c)
        #expect { try c.validated() } throws: { ($0 as? ConfigurationError)?.field == bad.field }
        #expect { try B4BDefense(configuration: c, secret: testSecret) } throws: { $0 is ConfigurationError }
    }

    @Test("A configuration with a fitted hasher and calibration survives a JSON round trip and hashes identically")
    func fittedRoundTrip() throws {
        let sample = gaussianMatrix(rows: 300, columns: 32, seed: 71)
        var c = smallConfiguration(dimension: 32, transforms: [.scaleShift(), .binary(outputDimension: 64)])
        c.calibration = try Calibration(sample: sample)
        c.units = .calibrationSpread
        c.hasher = .fitted(try FittedProjection.principal(sample: sample, hashBits: 12, seed: RandomSeed(3, 1, 4, 1)))
        let decoded = try DefenseConfiguration.decode(from: try c.encoded())
        #expect(decoded == c)
        let rows = gaussianMatrix(rows: 100, columns: 32, seed: 72)
        let a = try B4BDefense(configuration: c, secret: testSecret)
        let b = try B4BDefense(configuration: decoded, secret: testSecret)
        #expect(try a.protect(rows, user: "u").representations == (try b.protect(rows, user: "u").representations))
        #expect(a.exportOccupancy(of: "u") == b.exportOccupancy(of: "u"))
    }

    @Test("A partial JSON file keeps defaults for what it omits; malformed JSON names the problem")
    func partialAndMalformed() throws {
        let c = try DefenseConfiguration.decode(from: Data(#"{"hashBits": 10, "cost": {"constant": {"sigma": 0.2}}}"#.utf8))
        #expect(c.hashBits == 10 && c.dimension == 2048 && c.cost == .constant(sigma: 0.2))
        #expect { try DefenseConfiguration.decode(from: Data(#"{"hashBits": "twelve"}"#.utf8)) } throws: {
            ($0 as? ConfigurationError)?.message.contains("hashBits") == true
        }
        #expect { try DefenseConfiguration.decode(from: Data(#"{"hashBits": 30}"#.utf8)) } throws: {
            ($0 as? ConfigurationError)?.field == "hashBits"
        }
        #expect { try DefenseConfiguration.decode(from: Data("{".utf8)) } throws: { $0 is ConfigurationError }
    }

    @Test("Calibration-relative units scale sigma by the sample's spread")
    func relativeUnits() throws {
        var sample = gaussianMatrix(rows: 400, columns: 64, seed: 73, scale: 1000)
        for i in 0..<400 { sample[i, 0] += 5 }
        let calibration = try Calibration(sample: sample)
        #expect(abs(calibration.spread - 1000) < 50, "spread \(calibration.spread)")
        var c = smallConfiguration(transforms: [], cost: .constant(sigma: 0.5))
        c.calibration = calibration
        c.units = .calibrationSpread
        let defense = try B4BDefense(configuration: c, secret: testSecret)
        let out = try defense.protect(gaussianMatrix(rows: 3, columns: 64, seed: 74, scale: 1000), user: "u")
        #expect(out.sigma == [Float](repeating: 0.5 * calibration.spread, count: 3))
        #expect(throws: ConfigurationError.self) { try Calibration(sample: Matrix(rows: 1, columns: 4)) }
        #expect(throws: ConfigurationError.self) { try Calibration(sample: Matrix(rows: 5, columns: 4, repeating: 2)) }
        #expect { try Calibration(sample: Matrix(rows: 5, columns: 0)) } throws: {
            "\($0)".contains("needs a sample with at least one column, got 5 x 0")
        }
    }

    @Test("The building blocks' own checks are public and name the field, as the configuration's do")
    func buildingBlocksCheckThemselves() throws {
        func field(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch { return (error as? ConfigurationError)?.field ?? "\(error)" }
        }
        #expect(field { try TransformKind.affine(minScale: 2, maxScale: 1).validate(inputDimension: 16) } == "transforms[0].minScale")
        #expect(field { try TransformKind.pad(count: -1).validate(position: 3, inputDimension: 16) } == "transforms[3].count")
        #expect(field { try TransformKind.scaleShift().validate(inputDimension: 16) } == nil)
        #expect(field { try RelativeCoverageCost(queryCounts: [10, 20], poolCoverage: [0.1], cost: .none).validate() } == "relativeCost.queryCounts")
        #expect(field { try Calibration(centre: [0, 0], spread: 1).validate(dimension: 3) } == "calibration.centre")
        #expect(field { try Calibration(centre: [0, 0], spread: .infinity).validate(dimension: 2) } == "calibration.spread")
        let fitted = FittedProjection(dimension: 4, hashBits: 2, tableCount: 1, normals: [Float](repeating: 1, count: 7), thresholds: [0, 0])
        #expect(field { try fitted.validate(dimension: 4, hashBits: 2, tableCount: 1) } == "hasher.fitted")
    }
}
