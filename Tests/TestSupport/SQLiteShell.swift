import Foundation

/// A `sqlite3` shell run that did not succeed.
public struct SQLiteShellError: Error, CustomStringConvertible {
    public let description: String
}

/// Runs `statement` on the SQLite file at `path` with the `sqlite3` shell, for tests that
/// write what the engine never writes itself: another application's database, a damaged row.
/// - Throws: ``SQLiteShellError`` when the shell is missing or the statement fails.
public func runSQLiteShell(_ path: String, _ statement: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sqlite3", path, statement]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw SQLiteShellError(description: "sqlite3 (needed to write a SQLite file on purpose) failed with status \(process.terminationStatus) on: \(statement)")
    }
}
