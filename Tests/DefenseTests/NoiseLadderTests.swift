import Defense
import Foundation
import Testing

@Suite("Noise ladder")
struct NoiseLadderTests {
    @Test("Rungs are a factor sqrt(2) apart through the anchor, and each is its own rounding")
    func rungs() {
        let ladder = NoiseLadder(anchor: 0.3)
        #expect(ladder.rung(0) == 0.3)
        #expect(ladder.rung(2) == 0.6 && ladder.rung(-2) == 0.15)
        #expect(abs(ladder.rung(1) / 0.3 - 2.0.squareRoot()) < 1e-15)
        #expect(abs(ladder.rung(-1) / 0.3 - 0.5.squareRoot()) < 1e-15)
        for k in -400...400 {
            #expect(ladder.roundedDown(ladder.rung(k)) == ladder.rung(k), "rung \(k)")
            #expect(ladder.rung(k + 1) > ladder.rung(k))
        }
    }

    @Test("Rounding down keeps every sigma within (s / sqrt(2), s], for sigmas over many orders of magnitude")
    func roundingDown() {
        var generator = SystemRandomNumberGenerator()
        for anchor in [1.0, 0.37, 1e-6, 4096.5] {
            let ladder = NoiseLadder(anchor: anchor)
            for _ in 0..<2000 {
                let sigma = pow(10, Double.random(in: -30...30, using: &generator))
                let r = ladder.roundedDown(sigma)
                #expect(r <= sigma && r > sigma / 2.0.squareRoot(), "anchor \(anchor), sigma \(sigma) -> \(r)")
                // The next rung up is above sigma: r is the largest rung at most sigma.
                let k = (2 * log2(r / anchor)).rounded()
                #expect(ladder.rung(Int(k)) == r && ladder.rung(Int(k) + 1) > sigma)
            }
        }
        let ladder = NoiseLadder(anchor: 1)
        // NaN fails closed: the largest noise, never none.
        #expect(ladder.roundedDown(0) == 0 && ladder.roundedDown(-1) == 0 && ladder.roundedDown(.nan) == .infinity)
        #expect(ladder.roundedDown(.infinity) == .infinity)
        #expect(ladder.roundedDown(.leastNonzeroMagnitude) <= .leastNonzeroMagnitude)
        #expect(NoiseLadder(anchor: 0).anchor == 1 && NoiseLadder(anchor: .nan).anchor == 1)
    }

    @Test("Extreme anchors and sigmas still give the largest rung at most sigma (no ratio overflows or underflows)")
    func extremes() {
        for (anchor, sigma) in [(1e-300, 1e10), (1e300, 1e-10), (1.3e308, 5e307), (Double.greatestFiniteMagnitude, 1),
                                (Double.leastNormalMagnitude, 1e300), (1, Double.leastNormalMagnitude), (Double.leastNonzeroMagnitude, 1)] {
            let ladder = NoiseLadder(anchor: anchor)
            let r = ladder.roundedDown(sigma)
            #expect(r.isFinite && r > 0 && r <= sigma, "anchor \(anchor), sigma \(sigma) -> \(r)")
            #expect(r > sigma / 2.0.squareRoot() * (1 - 1e-15) || sigma < 1e-290, "anchor \(anchor), sigma \(sigma) -> \(r)")
        }
        // Odd rungs of a huge anchor stay finite.
        let huge = NoiseLadder(anchor: 1.3e308)
        #expect(huge.rung(-1).isFinite && huge.rung(-1) < huge.anchor && huge.rung(-1) > huge.rung(-2))
    }

    @Test("The ladder is anchored at the cost's reference sigma, times the unit scale")
    func anchors() {
        var c = DefenseConfiguration()
        #expect(NoiseLadder(configuration: c).anchor == 1)  // the paper's alpha
        c.cost = .exponential(ExponentialCost(lambda: 1e-3, alpha: 0.25, beta: 0.5))
        #expect(NoiseLadder(configuration: c).anchor == 0.25)
        c.cost = .constant(sigma: 0.3)
        #expect(NoiseLadder(configuration: c).anchor == Double(Float(0.3)))
        c.cost = .none
        c.relativeCost = RelativeCoverageCost(queryCounts: [10], poolCoverage: [0.5], cost: .exponential(ExponentialCost(alpha: 2)))
        #expect(NoiseLadder(configuration: c).anchor == 2)
        c.units = .calibrationSpread
        c.calibration = Calibration(centre: [Float](repeating: 0, count: c.dimension), spread: 0.5)
        #expect(NoiseLadder(configuration: c).anchor == 1)
    }
}
