import Defense
import Foundation
import NumericKernels
import Testing

/// Configurations that read as valid JSON but must be refused, or normalised, with a message
/// naming the field: costs whose noise would overflow Float32, keys given twice, `null`,
/// numbers that do not fit their field; and snapshots from another configuration.
@Suite("Configuration input")
struct ConfigurationInputTests {
    private func refusal(_ json: String) -> String? {
        do {
            _ = try DefenseConfiguration.decode(from: Data(json.utf8))
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("Costs whose sigma overflows Float32 or is not a number are refused, naming the field",
          arguments: [
              (#"{"cost":{"exponential":{"lambda":1e-300,"alpha":1e10}}}"#, "cost.alpha"),
              (#"{"cost":{"constant":{"sigma":3e38}}}"#, "cost.sigma"),
              (#"{"cost":{"exponential":{"alpha":1e308}}}"#, "cost.alpha"),
          ])
    func overflowingCosts(_ json: String, _ field: String) throws {
        let message = try #require(refusal(json), "\(json) was accepted")
        #expect(message.contains(field), "\(message)")
        // The library refuses the value itself, not only its JSON form.
        #expect(throws: ConfigurationError.self) { try CostFunction.constant(sigma: 3e38).validate() }
    }

    @Test("A curve steeper than Float32 noise allows is drawn with the largest sigma: answers stay finite")
    func steepCurvesAreCapped() throws {
        // sigma(1) = 1e-6 (1e26^10 - 1), far beyond Float32; sigma passes 1e30 at coverage 0.7.
        var configuration = try DefenseConfiguration.decode(from: Data(#"{"dimension":8,"hashBits":2,"cost":{"exponential":{"alpha":1e20,"beta":0.1}},"transforms":[]}"#.utf8))
        configuration.maxBatchRows = 64
        let defense = try B4BDefense(configuration: configuration, secret: ServerSecret(bytes: [UInt8](repeating: 7, count: 32)))
        var g = RandomGenerator(seed: RandomSeed(1, 2, 3, 4))
        let batch = Matrix.gaussian(rows: 64, columns: 8, using: &g)
        let answer = try defense.protect(batch, user: "thief")
        // Four buckets: the thief covers them all, and the cap is reached.
        #expect(answer.coverage.last == 1)
        #expect(answer.sigma.allSatisfy { $0.isFinite && $0 <= Float(CostFunction.largestSigma) })
        #expect(answer.sigma.last == Float(CostFunction.largestSigma))
        let finite = answer.representations.elements.allSatisfy { $0.isFinite }
        #expect(finite)
    }

    @Test("A cost that stays finite is accepted, and its largest sigma is Eq. (1) at coverage 1")
    func finiteCosts() throws {
        let c = try DefenseConfiguration.decode(from: Data(#"{"cost":{"exponential":{"lambda":1e-6,"alpha":1000,"beta":0.8}}}"#.utf8))
        guard case .exponential(let cost) = c.cost else { Issue.record("not exponential"); return }
        #expect(cost.sigmaAtFullCoverage.isFinite && cost.sigmaAtFullCoverage > 1000)
        #expect(c.cost.sigma(coverage: 1).isFinite)
    }

    @Test("A key given twice is refused with its path",
          arguments: [
              (#"{"dimension":384,"dimension":100}"#, "dimension"),
              (#"{"hashBits":10, "hashBits":12}"#, "hashBits"),
              (#"{"cost":{"exponential":{"alpha":2,"alpha":3}}}"#, "cost.exponential.alpha"),
              (#"{"transforms":[{"pad":{"count":4,"count":5}}]}"#, "transforms[0].pad.count"),
              (#"{"hashBits":10,"hash\u0042its":12}"#, "hashBits"),
          ])
    func duplicateKeys(_ json: String, _ path: String) throws {
        let message = try #require(refusal(json), "\(json) was accepted")
        #expect(message.contains("\(path) is given more than once"), "\(message)")
    }

    @Test("Equal keys in different objects are not duplicates")
    func notDuplicates() throws {
        #expect(refusal(#"{"transforms":[{"pad":{"count":4}},{"pad":{"count":5}}],"cost":{"constant":{"sigma":0.5}}}"#) == nil)
    }

    @Test("null is refused, not read as absent")
    func nullRefused() throws {
        let message = try #require(refusal(#"{"hashBits":null}"#))
        #expect(message.contains("hashBits") && message.contains("null"), "\(message)")
        #expect(refusal(#"{"cost":{"exponential":{"alpha":null}}}"#)?.contains("cost.exponential.alpha") == true)
    }

    @Test("A negative zero sigma is read as zero")
    func negativeZero() throws {
        let c = try DefenseConfiguration.decode(from: Data(#"{"cost":{"constant":{"sigma":-0.0}}}"#.utf8))
        #expect(c.cost == .constant(sigma: 0))
        #expect(c.cost.sigma(coverage: 0.5).sign == .plus)
    }

    @Test("Text that is not JSON gets the parser's position; a document that is not an object is called so",
          arguments: [
              (#"{"hashBits": 12,, }"#, ["document is not valid JSON at line 1, column 17", "character 16"]),
              ("{\n  \"hashBits\": 12,\n  \"tableCount\": x\n}", ["is not valid JSON at line 3, column 17"]),
              (#"{"hashBits": 12"#, ["is not valid JSON", "end of file"]),
              (#"[12, 1]"#, ["document must be one JSON object", "found an array"]),
              (#""hashBits""#, ["must be one JSON object", "found a string"]),
          ])
    func textThatIsNotAConfiguration(_ json: String, _ words: [String]) throws {
        let message = try #require(refusal(json))
        for word in words { #expect(message.contains(word), "\(message) lacks \(word)") }
    }

    @Test("A number that does not fit its field is named, not called invalid JSON",
          arguments: [
              (#"{"hashBits": 12.5}"#, ["hashBits", "integer"]),
              (#"{"hashBits": 99999999999999999999999}"#, ["hashBits", "range"]),
              (#"{"cost":{"constant":{"sigma":1e300}}}"#, ["cost.constant.sigma", "range"]),
              // Inside an array, where the decoder's own message named no field at all.
              (#"{"dimension":8,"calibration":{"centre":[0,0,0,0,0,0,0,1e39],"spread":1}}"#, ["calibration.centre[7] is 1e+39", "float32"]),
          ])
    func numbersThatDoNotFit(_ json: String, _ words: [String]) throws {
        let message = try #require(refusal(json))
        #expect(!message.contains("not valid JSON"), "\(message)")
        for word in words { #expect(message.contains(word), "\(message) lacks \(word)") }
    }

    @Test("A snapshot of another hash size names hashBits")
    func snapshotMismatchNamesTheField() throws {
        var twelve = DefenseConfiguration()
        twelve.dimension = 8
        var ten = twelve
        ten.hashBits = 10
        let secret = try ServerSecret(bytes: Array(repeating: 7, count: 32))
        let a = try B4BDefense(configuration: ten, secret: secret)
        let b = try B4BDefense(configuration: twelve, secret: secret)
        let snapshot = a.exportOccupancy(of: "u")
        #expect {
            try b.importOccupancy(snapshot, for: "u", mode: .replace)
        } throws: { error in
            "\(error)".contains("hashBits 10") && "\(error)".contains("hashBits 12")
        }
    }

    @Test("A dimension beyond 2^20 is refused; a dense transform too large names its size in MiB")
    func largeDimensions() throws {
        let huge = try #require(refusal(#"{"dimension": 100000000000}"#))
        #expect(huge.contains("dimension") && huge.contains("1...1048576"), "\(huge)")
        let affine = try #require(refusal(#"{"dimension": 100000}"#))
        // 100000^2 floats: 38147 MiB.
        #expect(affine.contains("would take 38147 MiB per user"), "\(affine)")
        // The largest dense transform (8192^2 = 2^26 values) passes; one dimension more does not.
        #expect(refusal(#"{"dimension": 8192, "transforms": ["affine"]}"#) == nil)
        #expect(refusal(#"{"dimension": 8193, "transforms": ["affine"]}"#)?.contains("transforms[0].affine") == true)
    }

    @Test("A binary transform's hyperplanes are bounded as a dense transform's: d x outputDimension at most 2^26 values")
    func largeBinaryTransforms() throws {
        // 10^6 x 65536 floats (250000 MiB) used to be allocated, and failed, per user.
        let wide = try #require(refusal(#"{"dimension": 1000000, "transforms": [{"binary": {"outputDimension": 65536}}]}"#))
        #expect(wide.contains("transforms[0].outputDimension") && wide.contains("250000 MiB"), "\(wide)")
        // After a pad stage the binary transform's input is the padded dimension.
        let padded = try #require(refusal(#"{"dimension": 1024, "transforms": [{"pad": {"count": 1}}, {"binary": {"outputDimension": 65536}}]}"#))
        #expect(padded.contains("transforms[1].outputDimension") && padded.contains("input dimension 1025"), "\(padded)")
        #expect(refusal(#"{"dimension": 1024, "transforms": [{"binary": {"outputDimension": 65536}}]}"#) == nil)
    }

    @Test("Scales beyond 1e6 are refused; noise the transforms would carry past Float32 is drawn smaller: answers stay finite")
    func amplifiedNoiseStaysFinite() throws {
        let refused = try #require(refusal(#"{"dimension":4,"transforms":[{"scaleShift":{"minScale":1e10,"maxScale":1e10}}]}"#))
        #expect(refused.contains("transforms[0].maxScale") && refused.contains("1000000"), "\(refused)")
        // Two scale stages of up to 1e6 each and a dense affine: sigma 1e29 would overflow.
        let json = #"{"dimension":16,"hashBits":2,"cost":{"constant":{"sigma":1e29}},"transforms":[{"scaleShift":{"minScale":1e6,"maxScale":1e6}},{"affine":{"minScale":1e6,"maxScale":1e6}},"shuffle"]}"#
        var configuration = try DefenseConfiguration.decode(from: Data(json.utf8))
        configuration.maxBatchRows = 32
        let cap = configuration.largestNoiseSigma
        #expect(Double(cap) < 1e29 && cap > 0)
        #expect(abs(configuration.noiseAmplification - 1e12 * 4) <= 1e12 * 4 * 1e-9)
        let defense = try B4BDefense(configuration: configuration, secret: ServerSecret(bytes: [UInt8](repeating: 7, count: 32)))
        var g = RandomGenerator(seed: RandomSeed(5, 6, 7, 8))
        let answer = try defense.protect(Matrix.gaussian(rows: 32, columns: 16, using: &g), user: "u")
        #expect(answer.sigma.allSatisfy { $0 == cap })
        let finite = answer.representations.elements.allSatisfy { $0.isFinite }
        #expect(finite)
    }

    @Test("Inputs at the largest input magnitude get finite answers through every kind of transform, at the largest sigma",
          arguments: [
            #"{"dimension":16,"transforms":["affine"]}"#,
            #"{"dimension":16,"transforms":[{"affine":{"minScale":1e6,"maxScale":1e6,"translation":1e6}}]}"#,
            #"{"dimension":16,"transforms":[{"scaleShift":{"minScale":1e6,"maxScale":1e6,"translation":1e6}},{"affine":{"minScale":1e6,"maxScale":1e6}},"shuffle"]}"#,
            #"{"dimension":16,"transforms":[{"pad":{"count":8,"magnitude":1e6}},{"addConstants":{"count":4,"magnitude":1e6}},"shuffle"]}"#,
            #"{"dimension":16,"transforms":[]}"#,
          ])
    func inputsAtTheBoundStayFinite(json: String) throws {
        var configuration = try DefenseConfiguration.decode(from: Data(json.utf8))
        configuration.cost = .constant(sigma: 1e30)  // drawn at the cap the amplification allows
        configuration.hashBits = 4
        let largest = configuration.largestInputMagnitude
        let defense = try B4BDefense(configuration: configuration, secret: ServerSecret(bytes: [UInt8](repeating: 9, count: 32)))
        // Rows of one sign (every product adds up) and of alternating signs, at the bound.
        let rows = Matrix(rows: 8, columns: 16) { i, j in i % 2 == 0 ? largest : (j % 2 == 0 ? largest : -largest) }
        for user in ["u", "v", "w"] {
            let answer = try defense.protect(rows, user: user)
            let bad = answer.representations.elements.firstIndex { !$0.isFinite }
            #expect(bad == nil, "\(user): \(bad.map { "\(answer.representations.elements[$0]) at \($0)" } ?? "")")
        }
    }

    @Test("Constants multiplied by a huge calibration spread are refused beyond the bound, and answers within it stay finite",
          arguments: [
            #"[{"scaleShift":{"minScale":1,"maxScale":1,"translation":1e6}}]"#,
            #"[{"pad":{"count":4,"magnitude":1e6}}]"#,
            #"[{"scaleShift":{"minScale":2,"maxScale":1e3,"translation":1e6}},{"affine":{"maxScale":1e3,"translation":1e6}},{"addConstants":{"count":4,"magnitude":1e6}},"shuffle"]"#,
          ])
    func constantsTimesTheSpreadAreBounded(transforms: String) throws {
        func configuration(spread: Double) throws -> DefenseConfiguration {
            let centre = [String](repeating: "0", count: 16).joined(separator: ",")
            // Read with spread 1 (reading validates), then given the spread asked for.
            var c = try DefenseConfiguration.decode(from: Data(#"{"dimension":16,"units":"calibrationSpread","calibration":{"centre":[\#(centre)],"spread":1},"transforms":\#(transforms)}"#.utf8))
            c.calibration?.spread = Float(spread)
            c.cost = .constant(sigma: 1e30)
            c.hashBits = 4
            return c
        }
        let perUnit = try configuration(spread: 1).constantReach
        #expect(perUnit > 0)
        // Beyond the bound: refused, naming a stage that adds constants.
        let over = try configuration(spread: 1.5 * DefenseConfiguration.largestConstantReach / perUnit)
        #expect { try over.validated() } throws: { error in
            guard let e = error as? ConfigurationError else { return false }
            return e.field.hasPrefix("transforms[") && e.message.contains("quarter of Float32's range")
        }
        // Within it: inputs at the largest input magnitude, at the largest sigma, answer finite values.
        let within = try configuration(spread: 0.9 * DefenseConfiguration.largestConstantReach / perUnit)
        let defense = try B4BDefense(configuration: within, secret: ServerSecret(bytes: [UInt8](repeating: 9, count: 32)))
        let largest = within.largestInputMagnitude
        let rows = Matrix(rows: 8, columns: 16) { i, j in i % 2 == 0 ? largest : (j % 2 == 0 ? largest : -largest) }
        for user in ["u", "v", "w"] {
            let answer = try defense.protect(rows, user: user)
            let bad = answer.representations.elements.firstIndex { !$0.isFinite }
            #expect(bad == nil, "\(user): \(bad.map { "\(answer.representations.elements[$0]) at \($0)" } ?? "")")
        }
    }

    @Test("Scales that together pass a double's range are refused, also behind a zero translation")
    func unboundedAmplificationIsRefused() throws {
        var c = DefenseConfiguration()
        c.dimension = 16
        // 60 stages of scale 1e6: 1e360. The first stage's translation of 0 would make its reach
        // 0 x infinity, NaN, which a plain comparison lets through.
        c.transforms = [.scaleShift(minScale: 1, maxScale: 1e6, translation: 0)]
            + [TransformKind](repeating: .scaleShift(minScale: 1, maxScale: 1e6, translation: 0), count: 59)
        #expect(!c.noiseAmplification.isFinite)
        #expect { try c.validated() } throws: { error in
            guard let e = error as? ConfigurationError else { return false }
            return e.field == "transforms" && e.message.contains("more than a double holds")
        }
        c.transforms = [TransformKind](repeating: .scaleShift(minScale: 1, maxScale: 1e6, translation: 0), count: 5)
        _ = try c.validated()
    }

    @Test("The hasher's hyperplanes are bounded like a transform matrix")
    func hyperplaneMemoryIsBounded() throws {
        var c = DefenseConfiguration()
        c.transforms = []
        c.dimension = 1 << 20
        c.hashBits = 24
        c.tableCount = 64
        #expect { try c.validated() } throws: { error in
            guard let e = error as? ConfigurationError else { return false }
            return e.field == "tableCount" && e.message.contains("would take 6144 MiB of hyperplanes")
        }
        // 2^26 values exactly is accepted: 2^20 dimensions, 16 bits, 4 tables.
        c.hashBits = 16
        c.tableCount = 4
        _ = try c.validated()
        c.tableCount = 5
        #expect(throws: ConfigurationError.self) { try c.validated() }
    }

    @Test("A constant sigma of exactly 1e30 is accepted, one above it refused")
    func constantSigmaBound() {
        #expect(refusal(#"{"cost":{"constant":{"sigma":1e30}}}"#) == nil)
        #expect(refusal(#"{"cost":{"constant":{"sigma":2e30}}}"#)?.contains("cost.sigma") == true)
    }
}
