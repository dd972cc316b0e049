/// A data-dependent failure reported by LAPACK (or found before calling it).
///
/// These are thrown, never trapped: a singular system or a non-finite input can
/// come from data the caller does not control.
public struct LinearAlgebraError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The matrix does not have full rank (QR least squares cannot proceed).
        case rankDeficient
        /// The matrix is not positive definite (Cholesky failed at the given leading minor).
        case notPositiveDefinite
        /// An iterative routine (SVD, eigen) did not converge.
        case noConvergence
        /// An input contains NaN or infinity.
        case nonFiniteInput
        /// LAPACK rejected an argument (a bug in the wrapper; reported rather than trapped).
        case illegalArgument
    }

    /// The kind of failure.
    public let kind: Kind
    /// The LAPACK routine involved, e.g. `"sgels"`.
    public let routine: String
    /// LAPACK's `info` value (0 when the failure was detected before the call).
    public let info: Int

    public init(_ kind: Kind, routine: String, info: Int = 0) {
        self.kind = kind
        self.routine = routine
        self.info = info
    }

    public var description: String {
        switch kind {
        case .rankDeficient: "\(routine): matrix is rank deficient (info \(info)); use the SVD (minimum-norm) solver or ridge"
        case .notPositiveDefinite: "\(routine): matrix is not positive definite (leading minor \(info))"
        case .noConvergence: "\(routine): did not converge (info \(info))"
        case .nonFiniteInput: "\(routine): input contains NaN or infinity (where it was computed from finite data, such as a Gram matrix, its products overflowed Float32: scale the data down)"
        case .illegalArgument: "\(routine): illegal value in argument \(-info)"
        }
    }
}

extension Array where Element == Float {
    @usableFromInline
    var allFinite: Bool { allSatisfy { $0.isFinite } }
}
