/// The sigmas noise is drawn at: rungs a factor √2 apart, `anchor · 2^(k/2)` for integer `k`
/// (representation units). The defense rounds each row's sigma down to a rung, and keys the
/// row's noise by the rung as well as by the row and the account.
///
/// Why: noise keyed by the row alone would point the same way at every sigma, so two answers
/// to one row at two sigmas would be `T(x + s1 z)` and `T(x + s2 z)`, and their combination
/// `(s2 a1 - s1 a2) / (s2 - s1)` would give `T(x)` back exactly. With rungs, a row answered
/// twice at one rung gets the same answer (repeating it removes nothing), and at two rungs
/// noise drawn independently. An account that collects one row's answers at every rung from
/// `s` up and weights them optimally gets noise of deviation at least
/// `s / sqrt(1 + 1/2 + 1/4 + ...) = s / sqrt(2)`: never less than 0.71 × its lowest rung.
///
/// Rounding down keeps every sigma at most the cost's (a legitimate user never gets more noise
/// than the cost function promises) and at least `1/√2` of it. The anchor is the cost's own
/// reference value (its `alpha`, or a constant sigma), so that value is a rung exactly.
public struct NoiseLadder: Sendable, Equatable {
    /// The rung `k = 0` (representation units, finite and positive).
    public let anchor: Double

    /// A ladder through `anchor`; a non-finite or non-positive anchor is replaced by 1.
    public init(anchor: Double) {
        self.anchor = anchor.isFinite && anchor > 0 ? anchor : 1
    }

    /// The ladder of a configuration: anchored at its cost's reference sigma (`alpha` of the
    /// exponential cost, the constant sigma; the relative price's `alpha` when there is no
    /// absolute cost) times ``DefenseConfiguration/unitScale``.
    public init(configuration c: DefenseConfiguration) {
        func reference(_ cost: CostFunction) -> Double? {
            switch cost {
            case .exponential(let e): e.alpha
            case .constant(let s) where s > 0: Double(s)
            case .constant, .none: nil
            }
        }
        let value = reference(c.cost) ?? c.relativeCost.flatMap { reference($0.cost) } ?? 1
        self.init(anchor: value * Double(c.unitScale))
    }

    /// Rung `k`: `anchor · 2^(k/2)`, computed with correctly rounded operations only (a square
    /// root and a power-of-two scaling), so that every machine derives the same bits.
    public func rung(_ k: Int) -> Double {
        let half = k >> 1  // floor(k / 2), also for negative k
        let base = k & 1 == 0 ? anchor : anchor * 2.0.squareRoot()
        return Double(sign: .plus, exponent: half, significand: base)
    }

    /// The largest rung at most `sigma` (0 for a sigma of 0 or below, or NaN; `sigma` itself
    /// when infinite).
    public func roundedDown(_ sigma: Double) -> Double {
        guard sigma > 0 else { return 0 }
        guard sigma.isFinite else { return sigma }
        // From the ratio's binary exponent and significand (no logarithm: this runs for every
        // row): `2 log2(r) = 2 e + 2 log2(m)`, whose floor is `2 e` or, for `m >= √2`, one more.
        // The ratio's own rounding is then corrected against the rungs themselves.
        let ratio = sigma / anchor
        guard ratio.isNormal else { return ratio > 1 ? sigma : 0 }
        var k = 2 * Int(ratio.exponent) + (ratio.significand >= 2.0.squareRoot() ? 1 : 0)
        while rung(k) > sigma { k -= 1 }
        while rung(k + 1) <= sigma { k += 1 }
        return rung(k)
    }
}
