import Defense
import Foundation

// Cost calibration: the paper's section 4.2 and Figure 4. Proposes the parameters of the
// exponential cost (Eq. 1) from measurements: coverage curves and a noise sweep of a
// legitimate task's linear-probe accuracy.

/// One point of a noise sweep: a legitimate task's probe accuracy when its representations
/// carry Gaussian noise of standard deviation `sigma`.
public struct NoiseSweepPoint: Sendable, Equatable, Codable {
    /// Noise standard deviation, in the units the cost will be configured in (representation
    /// units, or calibration spreads; see ``DefenseConfiguration/units``). `>= 0`.
    public var sigma: Double
    /// Probe accuracy, a fraction in [0, 1].
    public var accuracy: Double

    public init(sigma: Double, accuracy: Double) {
        self.sigma = sigma
        self.accuracy = accuracy
    }
}

/// A point of a cost curve: coverage (fraction in [0, 1]) and its sigma (the sweep's units).
public struct CostCurveSample: Sendable, Equatable, Codable {
    public var coverage: Double
    public var sigma: Double

    public init(coverage: Double, sigma: Double) {
        self.coverage = coverage
        self.sigma = sigma
    }
}

/// Where a sweep crosses an accuracy level: between two consecutive sweep points (or exactly
/// at one, when `lower == upper`), with `sigma` interpolated linearly in accuracy.
public struct SweepCrossing: Sendable, Equatable, Codable {
    /// The accuracy level crossed (fraction).
    public var level: Double
    /// The last sweep point above the level.
    public var lower: NoiseSweepPoint
    /// The first sweep point at or below it (or the last point, when the sweep never crosses).
    public var upper: NoiseSweepPoint
    /// The interpolated sigma of the crossing.
    public var sigma: Double
}

/// Inputs of the calibration, with the paper's reasoning (section 4.2):
/// - `beta` is the coverage a thief reaches with the stealing budget: the broad (pool)
///   dataset's coverage after ``stealingBudget`` queries. At coverage beta the thief pays alpha.
/// - `alpha` is the noise that makes stolen representations useless: the smallest sigma at
///   which a probe's accuracy falls to within ``chanceMargin`` of chance.
/// - `lambda` is chosen so that a legitimate user, at the largest coverage legitimate tasks
///   reach, gets no more noise than the task tolerates (accuracy within ``toleranceMargin`` of
///   the noiseless accuracy).
///
/// Pure math; see ``propose()``.
public struct CostCalibration: Sendable {
    /// The largest coverage (fraction in (0, 1)) a legitimate user reaches, e.g.
    /// ``legitimateCoverage(of:)`` of the tasks' curves at their full size.
    public var legitimateCoverage: Double
    /// The broad dataset's coverage curve (what a thief's queries cover).
    public var pool: CoverageCurve
    /// Queries at which a thief should pay full price (alpha). Default (nil): the largest count
    /// on the pool curve. Between measured counts the pool's coverage is interpolated linearly
    /// (``CoverageCurve/meanCoverage(atQueries:)``); beyond the last it is not extrapolated.
    public var stealingBudget: Int?
    /// Probe accuracy against noise sigma; must include sigma 0 (the noiseless accuracy).
    /// Any order; sigmas distinct.
    public var sweep: [NoiseSweepPoint]
    /// The probe's chance accuracy (fraction, e.g. 0.1 for ten balanced classes).
    public var chanceAccuracy: Double
    /// How close to chance (fraction) accuracy must fall for sigma to count as destroying the
    /// representations' utility. Default 0.02 (2 percentage points).
    public var chanceMargin: Double
    /// How much accuracy (fraction) a legitimate user may lose to noise. Default 0.01 (1 point).
    public var toleranceMargin: Double

    public init(legitimateCoverage: Double, pool: CoverageCurve, stealingBudget: Int? = nil,
                sweep: [NoiseSweepPoint], chanceAccuracy: Double,
                chanceMargin: Double = 0.02, toleranceMargin: Double = 0.01) {
        self.legitimateCoverage = legitimateCoverage
        self.pool = pool
        self.stealingBudget = stealingBudget
        self.sweep = sweep
        self.chanceAccuracy = chanceAccuracy
        self.chanceMargin = chanceMargin
        self.toleranceMargin = toleranceMargin
    }

    /// The largest final mean coverage among legitimate tasks' curves (each curve's value at
    /// its largest query count, normally the task's full size); 0 for no curves.
    public static func legitimateCoverage(of tasks: [CoverageCurve]) -> Double {
        tasks.compactMap(\.mean.last).max() ?? 0
    }

    /// Proposes (lambda, alpha, beta).
    ///
    /// 1. `beta` = pool coverage at the stealing budget.
    /// 2. `alpha` = the first sigma (increasing) at which the sweep's accuracy reaches
    ///    `chance + chanceMargin`, interpolated linearly between the two sweep points around
    ///    the crossing.
    /// 3. `sigmaTolerated` = the first sigma at which accuracy drops to
    ///    `noiseless - toleranceMargin`, likewise interpolated (so accuracy stays within the
    ///    tolerance for every smaller sigma measured); the largest sigma of the sweep if it
    ///    never drops that far.
    /// 4. `lambda`: with `r = c_legit / beta < 1`, Eq. 1 at the legitimate coverage is
    ///    `f(lambda) = lambda^(1-r) alpha^r - lambda`. `f` is concave on (0, alpha), zero at both
    ///    ends, rising up to `lambda_peak = alpha (1-r)^(1/r)`. Raising lambda on that rising
    ///    branch raises sigma at every coverage from `c_legit` up to close to beta: at
    ///    `s = c/beta` sigma rises with lambda while `lambda < alpha (1-s)^(1/s)`, a bound that
    ///    falls from `lambda_peak` at `c_legit` to 0 at beta; for the small lambda a small
    ///    tolerance gives, it is crossed only in a sliver just under beta, where every
    ///    admissible curve is already near `alpha - lambda`. So the proposal takes the
    ///    largest lambda in (0, lambda_peak] with
    ///    `f(lambda) <= sigmaTolerated`, found by bisection on log lambda: it makes a thief pay
    ///    as much as possible between the legitimate level and beta while legitimate users stay
    ///    within tolerance. (Beyond the peak f falls again, but so does the thief's price,
    ///    down to nothing at lambda = alpha, where the curve is flat; that branch is never
    ///    chosen.) When even the peak stays within tolerance, lambda = lambda_peak and
    ///    ``CostProposal/toleranceBinds`` is false.
    ///
    /// - Throws: ``CostCalibrationError`` for non-finite or out-of-range inputs, a budget
    ///   outside the pool curve, a pool that does not cover more than the legitimate tasks at
    ///   the budget, a sweep without sigma 0, with repeated sigmas, already at chance without
    ///   noise or never reaching chance, a tolerated sigma not below alpha, or a lambda too
    ///   small for a Double.
    /// - Complexity: O(m log m) for m sweep points, plus about 100 bisection steps.
    public func propose() throws -> CostProposal {
        typealias E = CostCalibrationError
        // Scalars.
        guard legitimateCoverage.isFinite else { throw E(.nonFinite("legitimate coverage")) }
        guard chanceAccuracy.isFinite else { throw E(.nonFinite("chance accuracy")) }
        guard chanceMargin.isFinite else { throw E(.nonFinite("chance margin")) }
        guard toleranceMargin.isFinite else { throw E(.nonFinite("tolerance margin")) }
        guard legitimateCoverage > 0, legitimateCoverage <= 1 else { throw E(.legitimateCoverageOutOfRange(legitimateCoverage)) }
        guard (0...1).contains(chanceAccuracy) else { throw E(.accuracyOutOfRange(name: "chance accuracy", value: chanceAccuracy)) }
        guard chanceMargin >= 0, chanceMargin < 1 else { throw E(.invalidMargin(name: "chance margin", value: chanceMargin)) }
        guard toleranceMargin > 0, toleranceMargin < 1 else { throw E(.invalidMargin(name: "tolerance margin", value: toleranceMargin)) }
        guard pool.mean.allSatisfy(\.isFinite) else { throw E(.nonFinite("pool coverage curve")) }

        // 1. beta.
        guard let lastCount = pool.queryCounts.last else { throw E(.budgetOutsidePoolCurve(budget: stealingBudget ?? 0, largest: 0)) }
        let budget = stealingBudget ?? lastCount
        guard budget > 0, let beta = pool.meanCoverage(atQueries: Double(budget)) else {
            throw E(.budgetOutsidePoolCurve(budget: budget, largest: lastCount))
        }
        guard beta > legitimateCoverage else {
            throw E(.poolDoesNotSeparate(poolCoverage: beta, legitimateCoverage: legitimateCoverage, budget: budget))
        }

        // 2. and 3. The sweep.
        guard !sweep.isEmpty else { throw E(.emptySweep) }
        for point in sweep {
            guard point.sigma.isFinite, point.accuracy.isFinite else { throw E(.nonFinite("noise sweep")) }
            guard point.sigma >= 0 else { throw E(.negativeSigma(point.sigma)) }
            guard (0...1).contains(point.accuracy) else { throw E(.accuracyOutOfRange(name: "sweep accuracy", value: point.accuracy)) }
        }
        let points = sweep.sorted { $0.sigma < $1.sigma }
        for (a, b) in zip(points, points.dropFirst()) where a.sigma == b.sigma { throw E(.repeatedSigma(a.sigma)) }
        guard points[0].sigma == 0 else { throw E(.missingNoiselessPoint) }
        let noiseless = points[0].accuracy
        let chanceLevel = chanceAccuracy + chanceMargin
        guard noiseless > chanceLevel else {
            throw E(.noiselessAtChance(noiseless: noiseless, chance: chanceAccuracy, margin: chanceMargin))
        }
        guard let alphaCrossing = Self.firstCrossing(points, level: chanceLevel) else {
            throw E(.chanceNotReached(largestSigma: points.last!.sigma, accuracy: points.last!.accuracy, level: chanceLevel))
        }
        let alpha = alphaCrossing.sigma
        let toleranceLevel = noiseless - toleranceMargin
        let toleratedCrossing = Self.firstCrossing(points, level: toleranceLevel)
            ?? SweepCrossing(level: toleranceLevel, lower: points.last!, upper: points.last!, sigma: points.last!.sigma)
        let tolerated = toleratedCrossing.sigma
        guard tolerated > 0 else { throw E(.toleranceTooSmall(margin: toleranceMargin, noiseless: noiseless)) }
        guard tolerated < alpha else { throw E(.toleratedNotBelowAlpha(tolerated: tolerated, alpha: alpha)) }

        // 4. lambda.
        let r = legitimateCoverage / beta
        let (lambda, binds) = try Self.largestLambda(alpha: alpha, ratio: r, tolerated: tolerated)
        return CostProposal(lambda: lambda, alpha: alpha, beta: beta, legitimateCoverage: legitimateCoverage,
                            stealingBudget: budget, poolName: pool.name, alphaCrossing: alphaCrossing,
                            toleratedCrossing: toleratedCrossing, noiselessAccuracy: noiseless,
                            chanceAccuracy: chanceAccuracy, toleranceBinds: binds)
    }

    /// The first crossing of `level` by accuracy along sigma-sorted points whose first
    /// accuracy is above `level`; nil if accuracy stays above it.
    static func firstCrossing(_ points: [NoiseSweepPoint], level: Double) -> SweepCrossing? {
        guard let i = points.firstIndex(where: { $0.accuracy <= level }) else { return nil }
        let (a, b) = (points[max(i - 1, 0)], points[i])
        if i == 0 || b.accuracy == level {
            return SweepCrossing(level: level, lower: a, upper: b, sigma: b.sigma)
        }
        // a.accuracy > level > b.accuracy.
        let t = (a.accuracy - level) / (a.accuracy - b.accuracy)
        return SweepCrossing(level: level, lower: a, upper: b, sigma: a.sigma + t * (b.sigma - a.sigma))
    }

    /// Eq. 1 at coverage ratio `r = c / beta`: `lambda * ((alpha/lambda)^r - 1)`, computed as
    /// `lambda * expm1(r ln(alpha/lambda))` to keep precision for small `r`.
    static func sigma(lambda: Double, alpha: Double, ratio r: Double) -> Double {
        lambda * expm1(r * log(alpha / lambda))
    }

    /// The largest lambda on the rising branch (0, alpha (1-r)^(1/r)] with
    /// `sigma(lambda, alpha, r) <= tolerated`, and whether the tolerance binds.
    static func largestLambda(alpha: Double, ratio r: Double, tolerated: Double) throws -> (Double, Bool) {
        precondition(r > 0 && r < 1 && alpha > 0 && tolerated > 0, "largestLambda(alpha: \(alpha), ratio: \(r), tolerated: \(tolerated))")
        let logAlpha = log(alpha)
        // Peak of f: d/dλ (λ^(1-r) α^r - λ) = 0 at λ = α (1-r)^(1/r).
        let logPeak = logAlpha + log1p(-r) / r
        func f(_ u: Double) -> Double { sigma(lambda: exp(u), alpha: alpha, ratio: r) }
        if f(logPeak) <= tolerated { return (exp(logPeak), false) }
        // f(λ) < λ^(1-r) α^r, so f <= tolerated wherever λ^(1-r) α^r <= tolerated:
        // a lower end of the bracket in closed form.
        var lo = (log(tolerated) - r * logAlpha) / (1 - r)
        guard lo >= log(Double.leastNormalMagnitude) else {
            throw CostCalibrationError(.lambdaUnderflow(ratio: r))
        }
        lo = min(lo, logPeak)
        var hi = logPeak
        // Invariant: f(lo) <= tolerated < f(hi), f increasing on [lo, hi].
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if mid <= lo || mid >= hi { break }
            if f(mid) <= tolerated { lo = mid } else { hi = mid }
        }
        return (exp(lo), true)
    }
}

/// Proposed parameters of the exponential cost (Eq. 1) and what fixed each of them.
///
/// Sigma is in the units of the noise sweep (configure ``DefenseConfiguration/units`` to match).
public struct CostProposal: Sendable, Equatable, Codable {
    /// Scale of the curve near zero coverage (sweep units); `0 < lambda < alpha`.
    public var lambda: Double
    /// Sigma at coverage beta (sweep units): the noise that brings the probe to within the
    /// chance margin of chance (``alphaCrossing``).
    public var alpha: Double
    /// Coverage (fraction) at which sigma reaches alpha: the pool's coverage at ``stealingBudget``.
    public var beta: Double
    /// The largest coverage (fraction) a legitimate user reaches, that fixed lambda.
    public var legitimateCoverage: Double
    /// Queries at which beta was read from the pool curve.
    public var stealingBudget: Int
    /// Name of the pool curve.
    public var poolName: String
    /// Where the sweep reached `chance + chanceMargin` (fixes alpha).
    public var alphaCrossing: SweepCrossing
    /// Where the sweep fell to `noiseless - toleranceMargin` (fixes the tolerated sigma).
    public var toleratedCrossing: SweepCrossing
    /// The sweep's accuracy at sigma 0 (fraction).
    public var noiselessAccuracy: Double
    /// The probe's chance accuracy (fraction).
    public var chanceAccuracy: Double
    /// Whether the tolerance fixed lambda (`sigma(c_legit) == toleratedSigma`); false when even
    /// the largest sensible lambda keeps legitimate users below it (then lambda is the peak
    /// `alpha (1-r)^(1/r)`, see ``CostCalibration/propose()``).
    public var toleranceBinds: Bool

    /// The largest sigma a legitimate user may receive (sweep units).
    public var toleratedSigma: Double { toleratedCrossing.sigma }

    /// The engine's cost with these parameters.
    public var cost: ExponentialCost { ExponentialCost(lambda: lambda, alpha: alpha, beta: beta) }

    /// Eq. 1 in double precision: sigma (sweep units) at `coverage` (fraction).
    public func sigma(coverage: Double) -> Double {
        CostCalibration.sigma(lambda: lambda, alpha: alpha, ratio: coverage / beta)
    }

    /// `points` evenly spaced samples of the cost curve from coverage 0 to `maxCoverage`
    /// (default 1), both included, for plotting (Figure 4).
    /// - Precondition: `points >= 2`, `maxCoverage > 0`.
    public func curve(points: Int = 101, maxCoverage: Double = 1) -> [CostCurveSample] {
        precondition(points >= 2 && maxCoverage > 0, "curve needs at least 2 points up to a positive coverage, got \(points) up to \(maxCoverage)")
        return (0..<points).map { i in
            let c = maxCoverage * Double(i) / Double(points - 1)
            return CostCurveSample(coverage: c, sigma: sigma(coverage: c))
        }
    }
}

/// Measurements ``CostCalibration/propose()`` cannot turn into a cost, with a message naming
/// the problem.
public struct CostCalibrationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public enum Kind: Sendable, Equatable {
        /// The named input contains NaN or infinity.
        case nonFinite(String)
        /// The legitimate coverage is not in (0, 1].
        case legitimateCoverageOutOfRange(Double)
        /// The named accuracy is not a fraction in [0, 1].
        case accuracyOutOfRange(name: String, value: Double)
        /// The named margin is out of range (chance margin in [0, 1), tolerance margin in (0, 1)).
        case invalidMargin(name: String, value: Double)
        /// The stealing budget is not positive or lies beyond the pool curve's largest count.
        case budgetOutsidePoolCurve(budget: Int, largest: Int)
        /// At the budget the pool covers no more than legitimate tasks do.
        case poolDoesNotSeparate(poolCoverage: Double, legitimateCoverage: Double, budget: Int)
        /// The noise sweep has no points.
        case emptySweep
        /// A sweep sigma is negative.
        case negativeSigma(Double)
        /// Two sweep points share a sigma.
        case repeatedSigma(Double)
        /// The sweep lacks the noiseless point (sigma 0).
        case missingNoiselessPoint
        /// Without noise the probe is already within the margin of chance.
        case noiselessAtChance(noiseless: Double, chance: Double, margin: Double)
        /// Accuracy never falls to within the margin of chance in the sweep.
        case chanceNotReached(largestSigma: Double, accuracy: Double, level: Double)
        /// The tolerated sigma is not below alpha.
        case toleratedNotBelowAlpha(tolerated: Double, alpha: Double)
        /// The tolerated sigma is 0: the tolerance margin is too small to tell the noiseless
        /// accuracy from the first noisy point's.
        case toleranceTooSmall(margin: Double, noiseless: Double)
        /// The admissible lambda is below the smallest normal Double.
        case lambdaUnderflow(ratio: Double)
    }

    /// What is wrong.
    public let kind: Kind

    /// The smallest tolerance margin the command line takes: below it the margin is lost in
    /// the accuracies' rounding (accuracies are fractions of at most a few thousand rows).
    public static let smallestTolerance = 1e-6

    public init(_ kind: Kind) { self.kind = kind }

    public var description: String {
        let what: String
        switch kind {
        case .nonFinite(let name):
            what = "the \(name) contains NaN or infinity"
        case .legitimateCoverageOutOfRange(let c):
            what = "the legitimate coverage must be a fraction in (0, 1], got \(c)"
        case .accuracyOutOfRange(let name, let value):
            what = "the \(name) must be a fraction in [0, 1] (not a percentage), got \(value)"
        case .invalidMargin(let name, let value):
            what = "the \(name) is out of range (a fraction below 1; the tolerance must be positive), got \(value)"
        case .budgetOutsidePoolCurve(let budget, let largest):
            what = "the stealing budget of \(budget) queries is outside the pool curve (1...\(largest) queries; no extrapolation)"
        case .poolDoesNotSeparate(let pool, let legit, let budget):
            what = "the pool covers \(pool) after \(budget) queries, no more than the legitimate tasks' \(legit): "
                + "the defense cannot separate a thief from legitimate users at this budget "
                + "(raise the budget, or use a hasher or bucket count under which the pool covers more)"
        case .emptySweep:
            what = "the noise sweep has no points"
        case .negativeSigma(let s):
            what = "noise sweep sigmas must be non-negative, got \(s)"
        case .repeatedSigma(let s):
            what = "the noise sweep has two points at sigma \(s)"
        case .missingNoiselessPoint:
            what = "the noise sweep must include sigma 0 (the noiseless accuracy)"
        case .noiselessAtChance(let noiseless, let chance, let margin):
            what = "without noise the probe's accuracy \(noiseless) is already within \(margin) of chance (\(chance)): the task cannot calibrate alpha"
        case .chanceNotReached(let sigma, let accuracy, let level):
            what = "accuracy never falls to \(level) (chance plus margin) in the sweep; at the largest sigma \(sigma) it is still \(accuracy): extend the sweep to larger sigma"
        case .toleratedNotBelowAlpha(let tolerated, let alpha):
            what = "the tolerated sigma \(tolerated) is not below alpha \(alpha): the tolerance and the chance margin overlap"
        case .toleranceTooSmall(let margin, let noiseless):
            what = "the tolerance margin \(margin) is too small: accuracy \(noiseless) less it rounds back to \(noiseless), so no noise at all is tolerated (give a tolerance of at least \(Self.smallestTolerance))"
        case .lambdaUnderflow(let r):
            what = "no representable lambda keeps legitimate users within tolerance: the legitimate coverage is \(r) of beta, too close to it"
        }
        return "cost calibration: \(what)"
    }
}
