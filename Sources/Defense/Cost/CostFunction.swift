import Foundation

/// Block 2 of B4B: the map from a user's coverage to the standard deviation of the
/// Gaussian noise added to that user's representations.
///
/// Sigma is in configured units (see ``DefenseConfiguration/units``).
public enum CostFunction: Sendable, Codable, Equatable {
    /// The paper's exponential cost, Eq. (1).
    case exponential(ExponentialCost)
    /// The same sigma for every query whatever the coverage: the static-noise baseline
    /// the paper compares against (its Table 6).
    case constant(sigma: Float)
    /// No noise (coverage is still tracked).
    case none

    /// Sigma for a coverage in [0, 1].
    @inlinable
    public func sigma(coverage: Double) -> Float {
        switch self {
        case .exponential(let cost): cost.sigma(coverage: coverage)
        case .constant(let sigma): sigma
        case .none: 0
        }
    }

    /// The largest sigma noise is drawn with (representation units): beyond it, Gaussian noise
    /// of that deviation overflows Float32 (about 3.4e38) and answers become infinite or NaN.
    /// A steep curve (a small beta) can pass it at coverages a thief reaches; the defense then
    /// draws its noise with this sigma instead, which leaves nothing of the answer either.
    public static let largestSigma: Double = 1e30

    /// The largest sigma over coverages in [0, 1] (the costs are non-decreasing in coverage).
    public var sigmaAtFullCoverage: Double {
        switch self {
        case .exponential(let cost): cost.sigmaAtFullCoverage
        case .constant(let sigma): Double(sigma)
        case .none: 0
        }
    }

    /// Throws ``ConfigurationError`` for out-of-range parameters, among them parameters whose
    /// sigma is not a number at any coverage and a constant sigma above ``largestSigma``.
    public func validate() throws {
        switch self {
        case .exponential(let cost): try cost.validate()
        case .constant(let sigma):
            guard sigma.isFinite && sigma >= 0 else {
                throw ConfigurationError(field: "cost.sigma", message: "must be finite and non-negative, got \(sigma)")
            }
            guard sigma <= Float(Self.largestSigma) else {
                throw ConfigurationError(field: "cost.sigma", message: "must be at most \(Self.largestSigma) (noise beyond it overflows Float32), got \(sigma)")
            }
        case .none: break
        }
    }
}

/// The exponential cost of the paper's Eq. (1):
///
///     sigma(c) = lambda * (exp(ln(alpha / lambda) * c / beta) - 1)
///
/// It is 0 at coverage 0, tiny while coverage stays small, and reaches
/// `alpha - lambda` (≈ `alpha`, as `lambda << alpha`) at coverage `beta`; it keeps growing
/// beyond, to `lambda * ((alpha/lambda)^(1/beta) - 1)` at coverage 1. Defaults are the paper's: lambda = 1e-6, alpha = 1, beta = 0.8.
public struct ExponentialCost: Sendable, Codable, Equatable {
    /// Scale of the curve near zero coverage; must satisfy `0 < lambda < alpha`.
    public var lambda: Double
    /// Sigma reached at coverage `beta` (configured units).
    public var alpha: Double
    /// Coverage at which sigma reaches `alpha`; in (0, 1].
    public var beta: Double

    /// The cost with the given parameters (configured units; checked by
    /// ``CostFunction/validate()``). Sigma is 0 at no coverage, grows exponentially (the
    /// smaller `lambda`, the flatter at first and the steeper later) and reaches `alpha` at
    /// coverage `beta`.
    public init(lambda: Double = 1e-6, alpha: Double = 1, beta: Double = 0.8) {
        self.lambda = lambda
        self.alpha = alpha
        self.beta = beta
    }

    /// Eq. (1) evaluated in double precision, rounded to Float.
    @inlinable
    public func sigma(coverage: Double) -> Float {
        Float(lambda * (exp(log(alpha / lambda) * coverage / beta) - 1))
    }

    /// Throws ``ConfigurationError`` unless `0 < lambda < alpha` (finite), `0 < beta <= 1` and
    /// `alpha / lambda` is finite.
    public func validate() throws {
        guard lambda.isFinite, lambda > 0 else {
            throw ConfigurationError(field: "cost.lambda", message: "must be finite and positive, got \(lambda)")
        }
        guard alpha.isFinite, alpha > lambda else {
            throw ConfigurationError(field: "cost.alpha", message: "must be finite and greater than lambda (\(lambda)), got \(alpha)")
        }
        guard beta > 0, beta <= 1 else {
            throw ConfigurationError(field: "cost.beta", message: "must be in (0, 1], got \(beta)")
        }
        // alpha / lambda must be finite, or Eq. (1) is NaN at every coverage (inf * 0 at 0).
        guard (alpha / lambda).isFinite else {
            throw ConfigurationError(field: "cost.alpha", message: "divided by lambda must be finite, got alpha \(alpha) / lambda \(lambda)")
        }
    }

    /// Eq. (1) at coverage 1, the curve's largest value over [0, 1], in double precision.
    public var sigmaAtFullCoverage: Double {
        lambda * (exp(log(alpha / lambda) / beta) - 1)
    }
}

// JSON (see ``ConfigurationJSON``): `{"exponential": {"lambda": 1e-6, "alpha": 1, "beta": 0.8}}`
// (each parameter optional, the paper's value by default; the bare name "exponential" is the
// paper's curve), `{"constant": {"sigma": 0.1}}`, or "none".
extension CostFunction {
    /// Reads a cost in any of the forms above (and the earlier `_0` form), refusing unknown names and keys.
    public init(from decoder: any Decoder) throws {
        let (name, parameters) = try ConfigurationJSON.choice(decoder, among: ["exponential", "constant", "none"])
        switch name {
        case "exponential":
            self = .exponential(try parameters.map { try ExponentialCost(from: ConfigurationJSON.unwrappingPositional($0)) }
                                ?? ExponentialCost())
        case "constant":
            guard let parameters else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "'constant' needs its sigma: {\"constant\": {\"sigma\": ...}}"))
            }
            let sigma: Float = try ConfigurationJSON.object(parameters, known: ["sigma"]).value("sigma")
            self = .constant(sigma: sigma == 0 ? 0 : sigma)  // -0 is read as 0
        default:
            try ConfigurationJSON.noParameters(parameters)
            self = .none
        }
    }

    /// Writes the cost in the form above, every parameter stated.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .exponential(let cost):
            var c = encoder.container(keyedBy: ConfigurationKey.self)
            try c.put(cost, "exponential")
        case .constant(let sigma):
            var c = encoder.container(keyedBy: ConfigurationKey.self)
            var parameters = c.nestedContainer(keyedBy: ConfigurationKey.self, forKey: ConfigurationKey("constant"))
            try parameters.put(sigma, "sigma")
        case .none:
            var c = encoder.singleValueContainer()
            try c.encode("none")
        }
    }
}

extension ExponentialCost {
    /// Reads `lambda`, `alpha` and `beta`, each optional (the paper's value by default).
    public init(from decoder: any Decoder) throws {
        let c = try ConfigurationJSON.object(decoder, known: ["lambda", "alpha", "beta"])
        let paper = ExponentialCost()
        self.init(lambda: try c.value("lambda", or: paper.lambda), alpha: try c.value("alpha", or: paper.alpha),
                  beta: try c.value("beta", or: paper.beta))
    }
}
