/// A failure reading or writing a NumPy `.npy` file: which file, and what is wrong with it.
///
/// Every problem with a file's *content* is reported as an `NPYError`; the reader never traps
/// on malformed input.
public struct NPYError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file, as the caller named it.
    public let path: String
    /// What went wrong, in words (e.g. "truncated data: expected 48 bytes, found 43").
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
