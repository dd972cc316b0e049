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
/// than the cost function promises) and above `1/√2` of it (about 0.85 of it on average); so an
/// account combining rungs keeps at least half the cost's sigma at its lowest answer. The anchor
/// is the cost's own reference value (its `alpha`, or a constant sigma), so that value is a rung
/// exactly; the exponential cost reaches `alpha - lambda` at coverage `beta`, just under `alpha`,
/// so rows there get `alpha / √2`.
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
    /// root, a product and a power-of-two scaling), so that every machine derives the same bits.
    /// An odd rung scales `anchor · √2/2`, which stays finite for any finite anchor.
    public func rung(_ k: Int) -> Double {
        let half = k >> 1  // floor(k / 2), also for negative k
        if k & 1 == 0 { return Double(sign: .plus, exponent: half, significand: anchor) }
        return Double(sign: .plus, exponent: half + 1, significand: anchor * (2.0.squareRoot() / 2))
    }

    /// The largest rung at most `sigma`: 0 for a sigma of 0 or below, `sigma` itself when
    /// infinite, and infinity for NaN (so that a broken price never means no noise).
    public func roundedDown(_ sigma: Double) -> Double {
        if sigma.isNaN { return .infinity }
        guard sigma > 0 else { return 0 }
        guard sigma.isFinite else { return sigma }
        // From the binary exponents and significands (no division, so no overflow or
        // underflow of a ratio; no logarithm: this runs for every row): with
        // `sigma / anchor = 2^e m`, `floor(2 log2) = 2 e + floor(2 log2 m)`, `m` in (1/2, 2).
        // The estimate's own rounding is then corrected against the rungs themselves.
        let e = Int(sigma.exponent) - Int(anchor.exponent)
        let m = sigma.significand / anchor.significand
        let root = 2.0.squareRoot()
        var k = 2 * e + (m >= root ? 1 : m >= 1 ? 0 : m >= 1 / root ? -1 : -2)
        while rung(k) > sigma { k -= 1 }
        while rung(k + 1) <= sigma { k += 1 }
        return rung(k)
    }
}
