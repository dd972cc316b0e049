/// A failure reading a JSON Lines file of text records: which file, which line, and what is
/// wrong there.
///
/// Every problem with a file's *content* is reported as a `TextRecordsError`; the reader never
/// traps on malformed input.
public struct TextRecordsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public enum Kind: Sendable, Equatable {
        /// The file could not be read at all (missing, unreadable); the system's reason.
        case unreadable(String)
        /// The file holds no record (zero bytes, or only blank lines).
        case noRecords
        /// The line's bytes are not valid UTF-8.
        case invalidUTF8
        /// The line is not valid JSON; the parser's reason.
        case malformedJSON(String)
        /// The line is valid JSON but not an object (`{...}`).
        case notAnObject
        /// The object has no `"text"` key.
        case missingText
        /// `"text"` is present but is not a string (e.g. `null` or a number).
        case textNotAString
        /// `"label"` is present but is neither a string nor an integer.
        case invalidLabel
        /// Some records carry a `"label"` and others do not; `expected` says whether this
        /// line should have had one, judging from line 1's record.
        case inconsistentLabels(expected: Bool)
    }

    /// The file, as the caller named it.
    public let path: String
    /// The 1-based line number the problem is on; `nil` for problems of the whole file.
    public let line: Int?
    /// What went wrong.
    public let kind: Kind

    public init(path: String, line: Int?, kind: Kind) {
        self.path = path
        self.line = line
        self.kind = kind
    }

    public var description: String {
        let place = line.map { "\(path) line \($0)" } ?? path
        let what: String = switch kind {
        case .unreadable(let reason): "cannot be read: \(reason)"
        case .noRecords: "holds no records (a JSON Lines file of {\"text\": ..., \"label\": ...} objects was expected)"
        case .invalidUTF8: "is not valid UTF-8"
        case .malformedJSON(let reason): "is not valid JSON: \(reason)"
        case .notAnObject: "is not a JSON object"
        case .missingText: "has no \"text\" key"
        case .textNotAString: "has a \"text\" that is not a string"
        case .invalidLabel: "has a \"label\" that is neither a string nor an integer"
        case .inconsistentLabels(let expected):
            expected ? "has no \"label\", but the first record has one"
                     : "has a \"label\", but the first record has none"
        }
        return "\(place): \(what)"
    }
}
