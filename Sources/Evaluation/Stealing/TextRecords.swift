import Foundation

/// The texts (and labels, when the file has them) of a JSON Lines file: what the thief owns
/// and sends to the API, and what a task's users send.
///
/// The format is that of the e5-text data (`pool.jsonl`, `tasks/*/{train,test}.jsonl`): one
/// JSON object per line, `{"text": "...", "label": "..."}`, row-aligned with the `.npy` file of
/// the same name (record `i` is row `i`). Other keys (such as `"corpus"`) are ignored.
///
/// Reading rules:
/// - The file must be UTF-8; a leading byte-order mark is skipped; lines end in `\n` or `\r\n`.
/// - Blank lines (only spaces, tabs or `\r`) are skipped, but still counted in line numbers,
///   so an error's line number is the one an editor shows.
/// - `"text"` must be a string (it may be empty). `"label"` is optional; a string is kept as
///   it is, an integer becomes its decimal spelling (`3` → `"3"`). Either every record has a
///   label or none has.
/// - A file with no records is an error: a thief with no texts is a mistake upstream.
public struct TextRecords: Sendable, Equatable {
    /// The texts, in file order.
    public let texts: [String]
    /// The labels, in file order, or `nil` when the records carry none.
    public let labels: [String]?

    /// Number of records.
    public var count: Int { texts.count }

    /// Records from explicit texts and optional labels.
    /// - Precondition: `labels` is `nil` or has one entry per text.
    public init(texts: [String], labels: [String]? = nil) {
        precondition(labels == nil || labels!.count == texts.count,
                     "TextRecords: \(labels?.count ?? 0) labels for \(texts.count) texts")
        self.texts = texts
        self.labels = labels
    }

    /// Reads the JSON Lines file at `path`.
    /// - Throws: ``TextRecordsError`` naming the file (and the line, for a bad record).
    /// - Complexity: O(file size).
    public static func read(_ path: String) throws -> TextRecords {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TextRecordsError(path: path, line: nil, kind: .unreadable(error.localizedDescription))
        }
        return try parse(data, path: path)
    }

    /// Parses the bytes of a JSON Lines file; `path` only names the file in errors.
    /// - Throws: ``TextRecordsError`` naming `path` and the offending line.
    public static func parse(_ data: Data, path: String) throws -> TextRecords {
        var texts = [String]()
        var labels = [String]()
        var hasLabels: Bool?
        let decoder = JSONDecoder()
        let bytes = [UInt8](data)
        // Skip a UTF-8 byte-order mark.
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var lineNumber = 0
        while start < bytes.count {
            lineNumber += 1
            let newline = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            var end = newline
            if end > start, bytes[end - 1] == 0x0D { end -= 1 }
            let line = bytes[start ..< end]
            start = newline + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }

            func failure(_ kind: TextRecordsError.Kind) -> TextRecordsError {
                TextRecordsError(path: path, line: lineNumber, kind: kind)
            }
            guard String(validating: line, as: UTF8.self) != nil else { throw failure(.invalidUTF8) }
            let record: Record
            do {
                record = try decoder.decode(Record.self, from: Data(line))
            } catch let problem as RecordProblem {
                throw failure(problem.kind)
            } catch {
                throw failure(.malformedJSON(Self.reason(error)))
            }
            let labelled = record.label != nil
            if let expected = hasLabels, expected != labelled {
                throw failure(.inconsistentLabels(expected: expected))
            }
            hasLabels = labelled
            texts.append(record.text)
            if let label = record.label { labels.append(label) }
        }
        guard !texts.isEmpty else { throw TextRecordsError(path: path, line: nil, kind: .noRecords) }
        return TextRecords(texts: texts, labels: hasLabels == true ? labels : nil)
    }

    /// A short reason from a decoding error (the parser's message, without Swift's wrapping).
    private static func reason(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            if let underlying = context.underlyingError { return "\(underlying)" }
            return context.debugDescription
        }
        return "\(error)"
    }
}

/// A problem with a syntactically valid line, thrown from ``Record``'s decoding.
private struct RecordProblem: Error {
    let kind: TextRecordsError.Kind
}

/// One line's record: its text and optional label.
private struct Record: Decodable {
    let text: String
    let label: String?

    private enum Key: String, CodingKey { case text, label }

    init(from decoder: any Decoder) throws {
        guard let object = try? decoder.container(keyedBy: Key.self) else {
            throw RecordProblem(kind: .notAnObject)
        }
        guard object.contains(.text) else { throw RecordProblem(kind: .missingText) }
        guard let text = try? object.decode(String.self, forKey: .text) else {
            throw RecordProblem(kind: .textNotAString)
        }
        self.text = text
        if object.contains(.label) {
            if let string = try? object.decode(String.self, forKey: .label) {
                label = string
            } else if let integer = try? object.decode(Int64.self, forKey: .label) {
                label = String(integer)
            } else {
                throw RecordProblem(kind: .invalidLabel)
            }
        } else {
            label = nil
        }
    }
}
