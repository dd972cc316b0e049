import Foundation

/// A table of results written as CSV (RFC 4180: comma-separated, `\n` line ends, fields
/// quoted when they contain a comma, a quote or a line break), with a fixed header of
/// stable column names so scripts can read results across versions.
public struct CSVTable: Sendable, Equatable {
    /// One cell: numbers are written in their shortest round-trip decimal form, a missing
    /// value as an empty field.
    public enum Cell: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        case text(String)
        case integer(Int)
        case number(Double)
        case missing

        public init(stringLiteral value: String) { self = .text(value) }
        public init(integerLiteral value: Int) { self = .integer(value) }

        /// A number, or ``missing`` for `nil`.
        public static func optional(_ value: Double?) -> Cell { value.map(Cell.number) ?? .missing }

        var field: String {
            switch self {
            case .text(let s): s
            case .integer(let i): String(i)
            case .number(let x): x.isFinite ? "\(x)" : (x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf"))
            case .missing: ""
            }
        }
    }

    /// The header.
    public let columns: [String]
    /// The rows, each with one cell per column.
    public private(set) var rows: [[Cell]] = []

    public init(columns: [String]) {
        self.columns = columns
    }

    /// Appends a row.
    /// - Precondition: one cell per column.
    public mutating func append(_ cells: [Cell]) {
        precondition(cells.count == columns.count, "CSVTable: \(cells.count) cells for \(columns.count) columns")
        rows.append(cells)
    }

    /// The CSV text, header first, ending with a line break.
    public var text: String {
        var lines = [columns.map(Self.quoted).joined(separator: ",")]
        for row in rows { lines.append(row.map { Self.quoted($0.field) }.joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }

    static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
