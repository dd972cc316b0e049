import NumericKernels

/// Statistics of a public calibration sample of representations, used to adapt the
/// defense to an encoder: its centre (for centred hashing and centred binary
/// transforms) and its spread (the unit of ``DefenseConfiguration/Units/calibrationSpread``).
public struct Calibration: Sendable, Codable, Equatable {
    /// Mean representation of the sample (`d` values, representation units).
    public var centre: [Float]
    /// Root-mean-square of the per-dimension standard deviations (representation units):
    /// `sqrt(mean_j var_j)`. Noise of sigma = spread has the same energy as the sample's own variation.
    public var spread: Float

    /// A calibration from known values (checked by ``validate(dimension:)``, or by the
    /// configuration that holds it).
    /// - Parameters:
    ///   - centre: the sample's mean, `d` values, representation units.
    ///   - spread: the sample's spread, representation units (finite, positive).
    public init(centre: [Float], spread: Float) {
        self.centre = centre
        self.spread = spread
    }

    /// Measures a sample (`n x d`, n >= 2 rows).
    /// - Throws: ``ConfigurationError`` when the sample has fewer than 2 rows, holds NaN or
    ///   infinity, or has zero spread.
    /// - Complexity: O(n d).
    public init(sample: Matrix) throws {
        guard sample.rows >= 2 else {
            throw ConfigurationError(field: "calibration", message: "needs a sample of at least 2 rows, got \(sample.rows)")
        }
        let (n, d) = (sample.rows, sample.columns)
        guard d >= 1 else { throw ConfigurationError(field: "calibration", message: "needs a sample with at least one column, got \(n) x 0") }
        var sum = [Double](repeating: 0, count: d)
        var sumSquares = [Double](repeating: 0, count: d)
        try sample.withUnsafeBufferPointer { x in
            for i in 0..<n {
                for j in 0..<d {
                    let v = Double(x[i * d + j])
                    guard v.isFinite else {
                        throw ConfigurationError(field: "calibration", message: "sample row \(i), column \(j) is not finite")
                    }
                    sum[j] += v
                    sumSquares[j] += v * v
                }
            }
        }
        var totalVariance = 0.0
        var centre = [Float](repeating: 0, count: d)
        for j in 0..<d {
            let mean = sum[j] / Double(n)
            centre[j] = Float(mean)
            totalVariance += max(0, (sumSquares[j] - Double(n) * mean * mean) / Double(n - 1))
        }
        let spread = Float((totalVariance / Double(max(d, 1))).squareRoot())
        guard spread > 0 else {
            throw ConfigurationError(field: "calibration", message: "sample has zero spread (all rows identical)")
        }
        self.init(centre: centre, spread: spread)
    }

    /// Checks the calibration for representations of `dimension` (as
    /// ``DefenseConfiguration/validated()`` does): a centre of that many finite values, a
    /// finite positive spread.
    /// - Throws: ``ConfigurationError`` naming the field.
    public func validate(dimension: Int) throws {
        guard centre.count == dimension else {
            throw ConfigurationError(field: "calibration.centre", message: "has \(centre.count) values, expected dimension \(dimension)")
        }
        guard centre.allSatisfy(\.isFinite) else {
            throw ConfigurationError(field: "calibration.centre", message: "contains NaN or infinity")
        }
        guard spread.isFinite, spread > 0 else {
            throw ConfigurationError(field: "calibration.spread", message: "must be finite and positive, got \(spread)")
        }
    }
}

extension Calibration {
    /// Reads `centre` and `spread` (both required), refusing unknown keys.
    public init(from decoder: any Decoder) throws {
        let c = try ConfigurationJSON.object(decoder, known: ["centre", "spread"])
        self.init(centre: try c.value("centre"), spread: try c.value("spread"))
    }
}
