import ArgumentParser
import Foundation

/// A file the benchmark writes its results to (`--json`, the `--svg` figures): checked before
/// the run, so that a sweep of many minutes does not end on a path it cannot write, and written
/// atomically (a temporary file, then a rename) after it. A symbolic link is followed (its
/// target is what gets written); anything there that is not a regular file (a directory, a
/// device such as /dev/null, a pipe, a socket) is refused rather than replaced.
enum OutputPath {
    /// Throws a usage error naming `option` when `path` cannot be written: it is empty, it is
    /// not a regular file, or its directory is missing, not a directory or not writable.
    /// `shown` is what the user gave, when `path` was made from it (the SVG prefix).
    static func check(_ path: String, option: String, shown: String? = nil) throws {
        guard !(shown ?? path).isEmpty else { throw ValidationError("\(option) takes a file path, got an empty one") }
        // The name in messages: what the user gave, and the file made from it if different.
        let given = shown.map { "'\($0)' (its file '\(path)')" } ?? "'\(path)'"
        let target = try destination(path, option: option, given: given)
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: target, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw ValidationError("\(option) \(given) is a directory; give a file path") }
            let type = (try? files.attributesOfItem(atPath: target))?[.type] as? FileAttributeType
            guard type == .typeRegular else {
                throw ValidationError("\(option) \(given) is not a regular file (a device, pipe or socket); give a file path")
            }
        }
        let directory = parent(of: target)
        guard files.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw ValidationError("\(option) \(given): directory '\(directory)' does not exist")
        }
        guard isDirectory.boolValue else { throw ValidationError("\(option) \(given): '\(directory)' is not a directory") }
        guard files.isWritableFile(atPath: directory) else {
            throw ValidationError("\(option) \(given): directory '\(directory)' is not writable")
        }
    }

    /// Writes `data` atomically to `path`, or to the file a symbolic link there points to; a
    /// failure names `option` and the path.
    static func write(_ data: Data, to path: String, option: String) throws {
        do {
            try check(path, option: option)
            try data.write(to: URL(fileURLWithPath: try destination(path, option: option, given: "'\(path)'")), options: .atomic)
        } catch {
            let reason = (error as? ValidationError)?.message ?? error.localizedDescription
            throw WriteFailure(description: "cannot write \(option) file '\(path)': \(reason)")
        }
    }

    /// `path` with its symbolic links followed (relative targets against the link's own
    /// directory), also to a target that does not exist yet.
    static func destination(_ path: String, option: String, given: String) throws -> String {
        var current = path
        for _ in 0..<32 {
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: current) else { return current }
            current = link.hasPrefix("/") ? link : parent(of: current) + "/" + link
        }
        throw ValidationError("\(option) \(given): too many levels of symbolic links")
    }

    /// The directory `path` is in: "." for a bare name, "/" for a name at the root. (Plain
    /// string work: Foundation's `deletingLastPathComponent` traps on some one-character paths
    /// on Linux.)
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// A result file that could not be written.
    struct WriteFailure: Error, CustomStringConvertible {
        let description: String
    }
}
