import Defense
import Foundation
import Testing

/// The configuration file's JSON: the documented shapes, the short forms, the forms written
/// before, and the refusals (unknown keys anywhere, malformed choices).
@Suite("Configuration JSON")
struct ConfigurationJSONTests {
    static func decode(_ json: String) throws -> DefenseConfiguration {
        try DefenseConfiguration.decode(from: Data(json.utf8))
    }

    /// The encoded configuration as Foundation objects, to check its shape key by key.
    static func object(_ c: DefenseConfiguration) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: try c.encoded()) as? [String: Any])
    }

    @Test("Each kind is written in the documented shape")
    func encodedShape() throws {
        var c = DefenseConfiguration()
        c.cost = .exponential(ExponentialCost(lambda: 0.001, alpha: 2, beta: 0.5))
        c.transforms = [.affine(minScale: 0.25, maxScale: 4, translation: 3), .shuffle, .pad(count: 8, magnitude: 2),
                        .binary(outputDimension: 512)]
        c.hasher = .signs(centred: false)
        let o = try Self.object(c)
        let cost = try #require(o["cost"] as? [String: Any])
        #expect(Set(cost.keys) == ["exponential"])
        #expect(cost["exponential"] as? [String: Double] == ["lambda": 0.001, "alpha": 2, "beta": 0.5])
        #expect(o["hasher"] as? [String: [String: Bool]] == ["signs": ["centred": false]])
        let transforms = try #require(o["transforms"] as? [Any])
        #expect(transforms.count == 4)
        #expect(transforms[0] as? [String: [String: Double]] == ["affine": ["minScale": 0.25, "maxScale": 4, "translation": 3]])
        #expect(transforms[1] as? String == "shuffle")
        #expect(transforms[2] as? [String: [String: Double]] == ["pad": ["count": 8, "magnitude": 2]])
        #expect(transforms[3] as? [String: [String: Int]] == ["binary": ["outputDimension": 512]])

        c.cost = .constant(sigma: 0.25)
        #expect(try Self.object(c)["cost"] as? [String: [String: Double]] == ["constant": ["sigma": 0.25]])
        c.cost = .none
        #expect(try Self.object(c)["cost"] as? String == "none")
        c.hasher = .random(centred: true)
        #expect(try Self.object(c)["hasher"] as? [String: [String: Bool]] == ["random": ["centred": true]])
    }

    @Test("Every cost, hasher and transform survives a round trip")
    func roundTrips() throws {
        let costs: [CostFunction] = [.exponential(ExponentialCost(lambda: 3e-4, alpha: 19.5, beta: 0.9)), .constant(sigma: 0.125), .none]
        let hashers: [HasherConfiguration] = [
            .random(centred: false), .random(centred: true), .signs(centred: false), .signs(centred: true),
            .fitted(FittedProjection(dimension: 2, hashBits: 1, tableCount: 1, normals: [0.5, -0.25], thresholds: [0.125])),
        ]
        let transforms: [TransformKind] = [
            .affine(minScale: 0.75, maxScale: 1.5, translation: 0.5), .scaleShift(minScale: 0.5, maxScale: 3, translation: 2),
            .pad(count: 3, magnitude: 0.5), .addConstants(count: 5, magnitude: 4), .shuffle, .binary(outputDimension: 77),
        ]
        var c = DefenseConfiguration()
        c.dimension = 2
        c.hashBits = 1
        c.calibration = Calibration(centre: [0.5, -1], spread: 2)
        c.relativeCost = RelativeCoverageCost(queryCounts: [10, 20], poolCoverage: [0.25, 0.5], cost: .constant(sigma: 1), minimumQueries: 7)
        c.transforms = transforms
        for cost in costs {
            for hasher in hashers {
                c.cost = cost
                c.hasher = hasher
                #expect(try DefenseConfiguration.decode(from: try c.encoded()) == c)
            }
        }
    }

    @Test("Bare names and partial parameters take the documented defaults")
    func shortForms() throws {
        let c = try Self.decode("""
            {"cost": "exponential", "hasher": "signs",
             "transforms": ["affine", {"scaleShift": {"maxScale": 3}}, {"pad": {}}, "addConstants", "binary", "shuffle"]}
            """)
        #expect(c.cost == .exponential(ExponentialCost(lambda: 1e-6, alpha: 1, beta: 0.8)))
        #expect(c.hasher == .signs(centred: false))
        #expect(c.transforms == [.affine(minScale: 0.5, maxScale: 2, translation: 1),
                                 .scaleShift(minScale: 0.5, maxScale: 3, translation: 1), .pad(count: 64, magnitude: 1),
                                 .addConstants(count: 64, magnitude: 1), .binary(outputDimension: 4096), .shuffle])
        let d = try Self.decode(#"{"cost": {"exponential": {"beta": 0.5}}, "hasher": {"random": {}}, "relativeCost": {"queryCounts": [1], "poolCoverage": [0.5], "cost": "none"}}"#)
        #expect(d.cost == .exponential(ExponentialCost(lambda: 1e-6, alpha: 1, beta: 0.5)))
        #expect(d.hasher == .random(centred: false))
        #expect(d.relativeCost == RelativeCoverageCost(queryCounts: [1], poolCoverage: [0.5], cost: .none, minimumQueries: 500))
    }

    @Test("Files written before, with positional values under \"_0\" and empty objects for kinds without parameters, read the same")
    func earlierForm() throws {
        let c = try Self.decode("""
            {"cost": {"exponential": {"_0": {"alpha": 2, "beta": 0.5, "lambda": 0.001}}},
             "hasher": {"fitted": {"_0": {"dimension": 2, "hashBits": 1, "tableCount": 1, "normals": [1, 0], "thresholds": [0]}}},
             "transforms": [{"shuffle": {}}, {"affine": {"minScale": 0.5, "maxScale": 2, "translation": 1}}],
             "relativeCost": {"queryCounts": [5], "poolCoverage": [0.5], "cost": {"none": {}}, "minimumQueries": 3},
             "dimension": 2, "hashBits": 1}
            """)
        #expect(c.cost == .exponential(ExponentialCost(lambda: 0.001, alpha: 2, beta: 0.5)))
        #expect(c.hasher == .fitted(FittedProjection(dimension: 2, hashBits: 1, tableCount: 1, normals: [1, 0], thresholds: [0])))
        #expect(c.transforms == [.shuffle, .affine()])
        #expect(c.relativeCost?.cost == CostFunction.none && c.relativeCost?.minimumQueries == 3)
    }

    /// A file with one mistake, and the path and words its error must contain.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let json: String
        let path: String
        let words: String
        var testDescription: String { json }
    }

    static let refusals: [Refusal] = [
        Refusal(json: #"{"hashbits": 8}"#, path: ".hashbits", words: "unknown key 'hashbits'"),
        Refusal(json: #"{"cost": {"exponential": {"lamda": 0.1}}}"#, path: ".cost.exponential.lamda", words: "known keys: lambda, alpha, beta"),
        Refusal(json: #"{"cost": {"exponential": {"_0": {"lambda": 0.1, "gamma": 1}}}}"#, path: "._0.gamma", words: "unknown key 'gamma'"),
        Refusal(json: #"{"cost": {"constant": {"sigma": 1, "mean": 0}}}"#, path: ".cost.constant.mean", words: "unknown key"),
        Refusal(json: #"{"cost": "constant"}"#, path: ".cost", words: "'constant' needs its sigma"),
        Refusal(json: #"{"cost": {"constant": {}}}"#, path: ".cost.constant.sigma", words: "missing key"),
        Refusal(json: #"{"cost": "quadratic"}"#, path: ".cost", words: "got 'quadratic'"),
        Refusal(json: #"{"cost": 3}"#, path: ".cost", words: "a value of another type"),
        Refusal(json: #"{"cost": {}}"#, path: ".cost", words: "an empty object"),
        Refusal(json: #"{"cost": {"none": {}, "constant": {"sigma": 1}}}"#, path: ".cost", words: "the keys 'constant', 'none'"),
        Refusal(json: #"{"cost": {"none": {"sigma": 1}}}"#, path: ".cost.none.sigma", words: "no keys are allowed here"),
        Refusal(json: #"{"hasher": {"random": {"centered": true}}}"#, path: ".hasher.random.centered", words: "known keys: centred"),
        Refusal(json: #"{"hasher": "fitted"}"#, path: ".hasher", words: "'fitted' needs its projection"),
        Refusal(json: #"{"hasher": {"fitted": {"dimension": 2, "hashBits": 1, "tableCount": 1, "normals": [1, 0], "thresholds": [0], "seed": 1}}}"#,
                path: ".hasher.fitted.seed", words: "unknown key"),
        Refusal(json: #"{"units": "meters"}"#, path: ".units", words: "expected 'absolute' or 'calibrationSpread', got 'meters'"),
        Refusal(json: #"{"transforms": [{"shuffle": {"seed": 3}}]}"#, path: ".transforms[0].shuffle.seed", words: "no keys are allowed here"),
        Refusal(json: #"{"transforms": ["affine", {"pad": {"cnt": 3}}]}"#, path: ".transforms[1].pad.cnt", words: "known keys: count, magnitude"),
        Refusal(json: #"{"transforms": ["rotate"]}"#, path: ".transforms[0]", words: "'scaleShift'"),
        Refusal(json: #"{"transforms": [{"affine": {"minScale": "x"}}]}"#, path: ".transforms[0].affine.minScale", words: "Float"),
        Refusal(json: #"{"calibration": {"centre": [1], "spread": 1, "scale": 2}}"#, path: ".calibration.scale", words: "known keys: centre, spread"),
        Refusal(json: #"{"relativeCost": {"queryCounts": [1], "poolCoverage": [0.5], "cost": "none", "minQueries": 1}}"#,
                path: ".relativeCost.minQueries", words: "unknown key"),
    ]

    @Test("A mistake anywhere is refused, naming where it is and what was expected", arguments: refusals)
    func refused(_ r: Refusal) {
        #expect {
            try Self.decode(r.json)
        } throws: { error in
            guard let e = error as? ConfigurationError else { return false }
            return e.message.contains(r.path) && e.message.contains(r.words)
        }
    }
}
