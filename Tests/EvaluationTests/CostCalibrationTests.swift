import Defense
import Evaluation
import Foundation
import Testing

/// Cost calibration (section 4.2, Figure 4) on a synthetic case whose answer is known in
/// closed form: a pool curve of exact values and a piecewise-linear noise sweep.
@Suite("Cost calibration")
struct CostCalibrationTests {
    /// Pool coverage 0.2, 0.4, 0.6 after 1000, 2000, 4000 queries.
    private let pool = CoverageCurve(name: "pool", hashBits: 12, tableCount: 1, hasher: .centred, rowCount: 4000,
                                     queryCounts: [1000, 2000, 4000], perRepetition: [[0.2, 0.4, 0.6]])

    /// Noiseless accuracy 0.9, chance 0.1.
    private let sweep = [
        NoiseSweepPoint(sigma: 0, accuracy: 0.90),
        NoiseSweepPoint(sigma: 0.1, accuracy: 0.895),
        NoiseSweepPoint(sigma: 0.2, accuracy: 0.88),
        NoiseSweepPoint(sigma: 0.4, accuracy: 0.70),
        NoiseSweepPoint(sigma: 0.8, accuracy: 0.30),
        NoiseSweepPoint(sigma: 1.6, accuracy: 0.08),
    ]

    private func calibration(legitimate: Double = 0.15) -> CostCalibration {
        CostCalibration(legitimateCoverage: legitimate, pool: pool, sweep: sweep, chanceAccuracy: 0.1)
    }

    /// Eq. 1 evaluated independently: lambda * (exp(ln(alpha / lambda) * c / beta) - 1).
    private func eq1(_ lambda: Double, _ alpha: Double, _ beta: Double, _ c: Double) -> Double {
        lambda * (exp(log(alpha / lambda) * c / beta) - 1)
    }

    private func relative(_ a: Double, _ b: Double) -> Double { abs(a - b) / abs(b) }

    // MARK: - The known answer

    @Test("beta, alpha and the tolerated sigma are the closed-form interpolations")
    func knownParameters() throws {
        let proposal = try calibration().propose()
        // beta: the pool at its largest count.
        #expect(proposal.beta == 0.6 && proposal.stealingBudget == 4000 && proposal.poolName == "pool")
        // alpha: accuracy reaches 0.1 + 0.02 between (0.8, 0.30) and (1.6, 0.08).
        let level = 0.1 + 0.02
        let alpha = 0.8 + 0.8 * (0.30 - level) / (0.30 - 0.08)
        #expect(relative(proposal.alpha, alpha) < 1e-12)
        #expect(proposal.alphaCrossing.lower == sweep[4] && proposal.alphaCrossing.upper == sweep[5])
        #expect(proposal.alphaCrossing.level == level)
        // Tolerated: accuracy reaches 0.9 - 0.01 between (0.1, 0.895) and (0.2, 0.88).
        let tolerated = 0.1 + 0.1 * (0.895 - 0.89) / (0.895 - 0.88)
        #expect(relative(proposal.toleratedSigma, tolerated) < 1e-12)
        #expect(proposal.toleratedCrossing.lower == sweep[1] && proposal.toleratedCrossing.upper == sweep[2])
        #expect(proposal.noiselessAccuracy == 0.9 && proposal.chanceAccuracy == 0.1 && proposal.legitimateCoverage == 0.15)
        // The sweep's order does not matter.
        var shuffled = calibration()
        shuffled.sweep = sweep.reversed()
        #expect(try shuffled.propose() == proposal)
    }

    @Test("lambda puts the legitimate user exactly at the tolerance, and is the largest that does")
    func lambdaIsMaximalWithinTolerance() throws {
        let p = try calibration().propose()
        #expect(p.toleranceBinds)
        #expect(p.lambda > 0 && p.lambda < p.alpha)
        // sigma(c_legit) == sigma_tolerated, by an independent evaluation of Eq. 1 and by the engine's.
        #expect(relative(eq1(p.lambda, p.alpha, p.beta, 0.15), p.toleratedSigma) < 1e-6)
        #expect(relative(Double(p.cost.sigma(coverage: 0.15)), p.toleratedSigma) < 1e-6)
        #expect(relative(p.sigma(coverage: 0.15), p.toleratedSigma) < 1e-12)
        // sigma(beta) == alpha - lambda.
        #expect(relative(p.sigma(coverage: p.beta), p.alpha - p.lambda) < 1e-12)
        #expect(relative(eq1(p.lambda, p.alpha, p.beta, p.beta), p.alpha - p.lambda) < 1e-12)
        // Maximal: a slightly larger lambda violates the tolerance.
        #expect(eq1(p.lambda * (1 + 1e-6), p.alpha, p.beta, 0.15) > p.toleratedSigma)
        // On the rising branch: below the peak alpha (1 - r)^(1/r).
        let r = 0.15 / 0.6
        #expect(p.lambda < p.alpha * pow(1 - r, 1 / r))
        // The point of the largest lambda: a thief between the legitimate level and (nearly) beta
        // pays more than under any smaller admissible lambda.
        for c in stride(from: 0.16, through: 0.48, by: 0.02) {
            #expect(p.sigma(coverage: c) > eq1(p.lambda / 2, p.alpha, p.beta, c), "coverage \(c)")
        }
        try p.cost.validate()
    }

    @Test("When even the peak lambda stays within tolerance, lambda is the peak and the tolerance does not bind")
    func nonBindingTolerance() throws {
        var generous = calibration(legitimate: 0.06)
        generous.toleranceMargin = 0.1    // tolerated sigma between 0.2 and 0.4: 0.2 + 0.2 * (0.88 - 0.8) / 0.18
        let p = try generous.propose()
        let r = 0.06 / 0.6
        #expect(!p.toleranceBinds)
        #expect(relative(p.lambda, p.alpha * pow(1 - r, 1 / r)) < 1e-12)
        #expect(p.sigma(coverage: 0.06) < p.toleratedSigma)
    }

    @Test("A stealing budget between measured counts interpolates the pool curve")
    func interpolatedBudget() throws {
        var c = calibration()
        c.stealingBudget = 3000
        let p = try c.propose()
        #expect(relative(p.beta, 0.5) < 1e-15 && p.stealingBudget == 3000)
        #expect(relative(p.sigma(coverage: 0.15), p.toleratedSigma) < 1e-9)
        c.stealingBudget = 2000
        #expect(try c.propose().beta == 0.4)
    }

    @Test("A crossing exactly at a sweep point takes that point's sigma")
    func crossingAtAPoint() throws {
        var c = calibration()
        c.chanceMargin = 0.2    // level 0.3: exactly the point (0.8, 0.30)
        let p = try c.propose()
        #expect(p.alpha == 0.8)
        #expect(p.alphaCrossing.upper == sweep[4])
    }

    @Test("The cost curve samples Eq. 1 from coverage 0 to 1")
    func curve() throws {
        let p = try calibration().propose()
        let samples = p.curve(points: 61)
        #expect(samples.count == 61)
        #expect(samples.first == CostCurveSample(coverage: 0, sigma: 0))
        #expect(samples.last!.coverage == 1)
        for (a, b) in zip(samples, samples.dropFirst()) { #expect(b.sigma > a.sigma) }
        // Coverage 0.6 (beta) is sample 36.
        #expect(abs(samples[36].coverage - 0.6) < 1e-15)
        #expect(relative(samples[36].sigma, p.alpha - p.lambda) < 1e-12)
        for s in samples { #expect(relative(s.sigma, eq1(p.lambda, p.alpha, p.beta, s.coverage)) < 1e-9 || s.coverage == 0) }
        #expect(p.curve(points: 3, maxCoverage: 0.5).map(\.coverage) == [0, 0.25, 0.5])
    }

    @Test("The legitimate coverage is the largest final coverage among the tasks' curves")
    func legitimateCoverageOfTasks() {
        let a = CoverageCurve(name: "a", hashBits: 12, tableCount: 1, hasher: .principal, rowCount: 500,
                              queryCounts: [100, 500], perRepetition: [[0.05, 0.125]])
        let b = CoverageCurve(name: "b", hashBits: 12, tableCount: 1, hasher: .principal, rowCount: 800,
                              queryCounts: [100, 800], perRepetition: [[0.0625, 0.25]])
        #expect(CostCalibration.legitimateCoverage(of: [a, b]) == 0.25)
        #expect(CostCalibration.legitimateCoverage(of: []) == 0)
    }

    // MARK: - Errors

    private func expectError(_ kind: CostCalibrationError.Kind, mentioning word: String,
                             _ change: (inout CostCalibration) -> Void) {
        var c = calibration()
        change(&c)
        do {
            let p = try c.propose()
            Issue.record("expected \(kind), got \(p)")
        } catch let error as CostCalibrationError {
            #expect(error.kind == kind)
            #expect(error.description.contains(word), "\(error.description)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("Non-finite inputs are refused, naming the input")
    func nonFinite() {
        expectError(.nonFinite("legitimate coverage"), mentioning: "legitimate coverage contains NaN") { $0.legitimateCoverage = .nan }
        expectError(.nonFinite("chance accuracy"), mentioning: "chance accuracy") { $0.chanceAccuracy = .infinity }
        expectError(.nonFinite("chance margin"), mentioning: "chance margin") { $0.chanceMargin = .nan }
        expectError(.nonFinite("tolerance margin"), mentioning: "tolerance margin") { $0.toleranceMargin = .nan }
        expectError(.nonFinite("pool coverage curve"), mentioning: "pool coverage curve") {
            $0.pool = CoverageCurve(name: "p", hashBits: 12, tableCount: 1, hasher: .centred, rowCount: 10,
                                    queryCounts: [5, 10], perRepetition: [[0.1, .nan]])
        }
        expectError(.nonFinite("noise sweep"), mentioning: "noise sweep") { $0.sweep[3].accuracy = .nan }
        expectError(.nonFinite("noise sweep"), mentioning: "noise sweep") { $0.sweep[3].sigma = .infinity }
    }

    @Test("Out-of-range scalars are refused")
    func ranges() {
        expectError(.legitimateCoverageOutOfRange(0), mentioning: "(0, 1]") { $0.legitimateCoverage = 0 }
        expectError(.legitimateCoverageOutOfRange(1.5), mentioning: "(0, 1]") { $0.legitimateCoverage = 1.5 }
        expectError(.accuracyOutOfRange(name: "chance accuracy", value: 10), mentioning: "not a percentage") { $0.chanceAccuracy = 10 }
        expectError(.accuracyOutOfRange(name: "sweep accuracy", value: 90), mentioning: "not a percentage") { $0.sweep[0].accuracy = 90 }
        expectError(.invalidMargin(name: "chance margin", value: -0.1), mentioning: "chance margin") { $0.chanceMargin = -0.1 }
        expectError(.invalidMargin(name: "tolerance margin", value: 0), mentioning: "tolerance margin") { $0.toleranceMargin = 0 }
    }

    @Test("A budget outside the pool curve is refused (no extrapolation)")
    func budget() {
        expectError(.budgetOutsidePoolCurve(budget: 5000, largest: 4000), mentioning: "no extrapolation") { $0.stealingBudget = 5000 }
        expectError(.budgetOutsidePoolCurve(budget: 0, largest: 4000), mentioning: "stealing budget") { $0.stealingBudget = 0 }
    }

    @Test("A pool that covers no more than the tasks cannot be separated from them")
    func noSeparation() {
        expectError(.poolDoesNotSeparate(poolCoverage: 0.6, legitimateCoverage: 0.6, budget: 4000),
                    mentioning: "cannot separate") { $0.legitimateCoverage = 0.6 }
        expectError(.poolDoesNotSeparate(poolCoverage: 0.2, legitimateCoverage: 0.3, budget: 1000),
                    mentioning: "cannot separate a thief") { $0.legitimateCoverage = 0.3; $0.stealingBudget = 1000 }
    }

    @Test("Malformed sweeps are refused")
    func malformedSweeps() {
        expectError(.emptySweep, mentioning: "no points") { $0.sweep = [] }
        expectError(.negativeSigma(-0.5), mentioning: "non-negative") { $0.sweep[2].sigma = -0.5 }
        expectError(.repeatedSigma(0.4), mentioning: "two points at sigma 0.4") { $0.sweep[2].sigma = 0.4 }
        expectError(.missingNoiselessPoint, mentioning: "sigma 0") { $0.sweep.removeFirst() }
    }

    @Test("A sweep that cannot fix alpha or the tolerance is refused")
    func uninformativeSweeps() {
        expectError(.noiselessAtChance(noiseless: 0.11, chance: 0.1, margin: 0.02), mentioning: "already within") {
            $0.sweep[0].accuracy = 0.11
        }
        let level = 0.1 + 0.02    // chance plus margin, as computed (not the literal 0.12)
        expectError(.chanceNotReached(largestSigma: 1.6, accuracy: 0.15, level: level), mentioning: "extend the sweep") {
            $0.sweep[5].accuracy = 0.15
        }
        // A tolerance so loose that it is never reached: the tolerated sigma is the sweep's
        // largest, beyond alpha.
        expectError(.toleratedNotBelowAlpha(tolerated: 1.6, alpha: 0.8 + 0.8 * (0.30 - level) / (0.30 - 0.08)),
                    mentioning: "not below alpha") { $0.toleranceMargin = 0.85 }
    }

    @Test("A tolerance margin lost in the accuracy's rounding is refused (it used to trap)")
    func toleranceTooSmall() {
        expectError(.toleranceTooSmall(margin: 1e-20, noiseless: 0.9), mentioning: "too small") { $0.toleranceMargin = 1e-20 }
    }

    @Test("A legitimate coverage too close to beta needs a lambda below Double's range")
    func lambdaUnderflow() {
        let c = 0.6 * (1 - 1e-6)
        expectError(.lambdaUnderflow(ratio: c / 0.6), mentioning: "too close") { $0.legitimateCoverage = c }
    }
}
