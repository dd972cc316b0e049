import ArgumentParser
import Foundation

/// A file the benchmark writes its results to (`--json`, the `--svg` figures): checked before
/// the run, so that a sweep of many minutes does not end on a path it cannot write, and written
/// atomically (a temporary file, then a rename) after it.
enum OutputPath {
    /// Throws a usage error naming `option` when `path` cannot be written: it is a directory,
    /// or its directory is missing or not writable. `shown` is what the user gave, when `path`
    /// was made from it (the SVG prefix).
    static func check(_ path: String, option: String, shown: String? = nil) throws {
        let given = shown ?? path
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ValidationError("\(option) '\(given)' is a directory; give a file path")
        }
        let parent = (path as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        guard files.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(option) '\(given)': directory '\(directory)' does not exist")
        }
        guard files.isWritableFile(atPath: directory) else {
            throw ValidationError("\(option) '\(given)': directory '\(directory)' is not writable")
        }
    }

    /// Writes `data` to `path` atomically; a failure names `option` and the path.
    static func write(_ data: Data, to path: String, option: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw WriteFailure(description: "cannot write \(option) file '\(path)': \(error.localizedDescription)")
        }
    }

    /// A result file that could not be written.
    struct WriteFailure: Error, CustomStringConvertible {
        let description: String
    }
}
