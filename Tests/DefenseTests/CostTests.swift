import Defense
import Testing
import TestSupport

@Suite("Block 2: cost")
struct CostTests {
    @Test("Eq. (1) matches numpy at several coverages, for the defaults and another parameter set")
    func matchesNumpy() throws {
        let coverage = try Fixture.load("cost_coverage.npy").values
        for (file, cost) in [("cost_sigma_default.npy", ExponentialCost()),
                             ("cost_sigma_dino.npy", ExponentialCost(lambda: 1e-3, alpha: 1000, beta: 0.5))] {
            let expected = try Fixture.load(file).values
            for (c, e) in zip(coverage, expected) {
                let s = Double(cost.sigma(coverage: c))
                #expect(abs(s - e) <= 1e-6 * max(abs(e), 1e-12), "\(file) coverage \(c): \(s) vs \(e)")
            }
        }
    }

    @Test("f(0) = 0, f(beta) = alpha - lambda (≈ alpha), strictly increasing")
    func shape() {
        for cost in [ExponentialCost(), ExponentialCost(lambda: 0.01, alpha: 5, beta: 0.3), ExponentialCost(lambda: 1e-4, alpha: 2, beta: 1)] {
            #expect(cost.sigma(coverage: 0) == 0)
            // Eq. (1) at c = beta is lambda * (alpha/lambda - 1) = alpha - lambda.
            let atBeta = Double(cost.sigma(coverage: cost.beta))
            #expect(abs(atBeta - (cost.alpha - cost.lambda)) <= 1e-6 * cost.alpha, "f(beta) = \(atBeta)")
            #expect(abs(atBeta - cost.alpha) <= cost.lambda + 1e-6 * cost.alpha)
            let values = stride(from: 0.0, through: 1.0, by: 0.01).map { cost.sigma(coverage: $0) }
            #expect(zip(values, values.dropFirst()).allSatisfy { $0 < $1 }, "not strictly increasing: \(cost)")
        }
    }

    @Test("Static and none costs ignore coverage")
    func otherCosts() {
        #expect(CostFunction.constant(sigma: 0.3).sigma(coverage: 0) == 0.3)
        #expect(CostFunction.constant(sigma: 0.3).sigma(coverage: 0.9) == 0.3)
        #expect(CostFunction.none.sigma(coverage: 0.9) == 0)
    }

    @Test("Invalid cost parameters are rejected naming the field",
          arguments: [(ExponentialCost(lambda: 1, alpha: 1, beta: 0.8), "cost.alpha"),
                      (ExponentialCost(lambda: 2, alpha: 1, beta: 0.8), "cost.alpha"),
                      (ExponentialCost(lambda: 0, alpha: 1, beta: 0.8), "cost.lambda"),
                      (ExponentialCost(lambda: -1, alpha: 1, beta: 0.8), "cost.lambda"),
                      (ExponentialCost(lambda: 1e-6, alpha: 1, beta: 0), "cost.beta"),
                      (ExponentialCost(lambda: 1e-6, alpha: 1, beta: 1.5), "cost.beta"),
                      (ExponentialCost(lambda: 1e-6, alpha: .infinity, beta: 0.5), "cost.alpha")])
    func invalid(_ cost: ExponentialCost, _ field: String) {
        #expect { try cost.validate() } throws: { ($0 as? ConfigurationError)?.field == field }
    }
}
