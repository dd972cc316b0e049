import Defense
import NumericKernels

/// One account's answers to a set of queries sent in several requests, stacked.
struct AccountAnswers {
    /// `rows x outputDimension`, in query order.
    let representations: Matrix
    /// Each row's coverage (fraction) and sigma (representation units), as priced.
    let coverage: [Double]
    let sigma: [Float]
}

extension B4BDefense {
    /// Sends `x` through `user`'s account in requests of `requestRows` rows, as a client of
    /// the API would, and stacks the answers.
    func answers(_ x: Matrix, user: String, requestRows: Int) throws -> AccountAnswers {
        var output = Matrix(uninitializedRows: x.rows, columns: configuration.outputDimension)
        var (coverage, sigma) = ([Double](), [Float]())
        try x.withView { input in
            try output.withMutableView { out in
                for start in stride(from: 0, to: x.rows, by: requestRows) {
                    let rows = start ..< min(x.rows, start + requestRows)
                    let priced = try protect(input.rows(rows), user: user, into: out.rows(rows))
                    coverage += priced.coverage
                    sigma += priced.sigma
                }
            }
        }
        return AccountAnswers(representations: output, coverage: coverage, sigma: sigma)
    }

    /// Records and prices `x` for `user` in requests of `requestRows` rows, without answers.
    func track(_ x: Matrix, user: String, requestRows: Int) throws {
        try x.withView { input in
            for start in stride(from: 0, to: x.rows, by: requestRows) {
                _ = try track(input.rows(start ..< min(x.rows, start + requestRows)), user: user)
            }
        }
    }
}
