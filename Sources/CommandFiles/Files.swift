import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that could not be read or written, or a destination that cannot be used; the
/// message names the option, the path and the cause.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Checks of the files a command reads and writes, made before any computation, so that a
/// run of minutes does not end on a path it cannot use. Paths are taken as given (relative to
/// the working directory); symbolic links are followed, so that a write lands on a link's
/// target and the link stays.
public enum Files {
    /// What is at a path (following symbolic links).
    public enum Kind: Equatable, Sendable {
        /// Nothing there (or a path through something that is not a directory).
        case missing
        case regularFile, directory
        /// A device, a pipe, a socket, or a loop of symbolic links.
        case other
    }

    public static func kind(_ path: String) -> Kind {
        var status = stat()
        guard stat(path, &status) == 0 else { return errno == ELOOP ? .other : .missing }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return .regularFile
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// The permission bits of the file at `path`, nil if there is none.
    public static func mode(_ path: String) -> mode_t? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return status.st_mode & 0o7777
    }

    /// The directory a path's last component lives in ("." for a bare name, "/" at the root).
    /// Plain string work: Foundation's `deletingLastPathComponent` traps on one-character
    /// names on Linux.
    public static func parent(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        let parent = trimmed[..<slash]
        return parent.isEmpty ? "/" : String(parent)
    }

    /// `path` with its symbolic links followed (a relative target against the link's own
    /// directory), also to a target that does not exist yet: where a write to `path` should
    /// land. A loop of links is returned as it stands (its checks then fail).
    public static func resolved(_ path: String) -> String {
        var current = path
        for _ in 0..<32 {
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: current) else { return current }
            current = link.hasPrefix("/") ? link : parent(current) + "/" + link
        }
        return path
    }

    /// A name for the file a write to `path` replaces, equal for two paths exactly when they
    /// name the same file: links followed, the directory's real path, then the file's name.
    public static func identity(_ path: String) -> String {
        let target = resolved(path)
        let directory = parent(target)
        var name = Substring(target)
        if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
        guard let real = realpath(directory, nil) else { return target }
        defer { free(real) }
        return String(cString: real) + "/" + name
    }

    /// Throws naming both options when two of `destinations` (option, path) are the same file.
    public static func checkDistinct(_ destinations: [(option: String, path: String)]) throws {
        var seen: [String: (option: String, path: String)] = [:]
        for d in destinations {
            let id = identity(d.path)
            if let earlier = seen[id] {
                throw FileError("\(earlier.option) '\(earlier.path)' and \(d.option) '\(d.path)' are the same file; give each its own")
            }
            seen[id] = d
        }
    }

    /// Why something of kind ``Kind/other`` cannot be used as a file: it is a loop of symbolic
    /// links, or a device, a pipe or a socket.
    public static func notAFile(_ path: String) -> String {
        var status = stat()
        if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFLNK { return "is a loop of symbolic links" }
        return "is not a regular file (a device, a pipe or a socket)"
    }

    /// The text of the current `errno`.
    public static func systemError(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// Whether the process may write to `path`. The permission bits are consulted as well as
    /// `access`, so that a file made read-only (`chmod 444`) counts as not writable even for
    /// root, who could otherwise replace it without a word.
    public static func isWritable(_ path: String) -> Bool {
        guard access(path, W_OK) == 0, let mode = mode(path) else { return false }
        return mode & 0o222 != 0
    }

    /// Reads the regular file at `path`; errors name `what` (an option and the path) and the
    /// cause: missing, a directory, not a regular file, unreadable.
    public static func read(_ path: String, what: String) throws -> Data {
        switch kind(path) {
        case .missing: throw FileError("\(what) does not exist")
        case .directory: throw FileError("\(what) is a directory, not a file")
        case .other: throw FileError("\(what) \(notAFile(path))")
        case .regularFile: break
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FileError("\(what) cannot be read: \(systemError())")
        }
        defer { try? handle.close() }
        do { return try handle.readToEnd() ?? Data() } catch {
            throw FileError("\(what) cannot be read: \(systemError())")
        }
    }

    /// Checks that a file can be written at `path` (replaced if it exists), naming `option`:
    /// the path is not empty, is not a directory or a special file, an existing file is
    /// writable, and its directory exists and is writable (results are written beside it and
    /// renamed over it).
    public static func checkWritableFile(_ path: String, option: String) throws {
        guard !path.isEmpty else { throw FileError("\(option) must not be empty") }
        let target = resolved(path)
        switch kind(target) {
        case .directory: throw FileError("\(option) '\(path)' is a directory, not a file")
        case .other: throw FileError("\(option) '\(path)' \(notAFile(target))")
        case .regularFile:
            guard isWritable(target) else { throw FileError("\(option) '\(path)' is not writable") }
        case .missing: break
        }
        let directory = parent(target)
        switch kind(directory) {
        case .missing: throw FileError("\(option) '\(path)': its directory '\(directory)' does not exist")
        case .directory:
            guard access(directory, W_OK) == 0 else {
                throw FileError("\(option) '\(path)': its directory '\(directory)' is not writable")
            }
        default: throw FileError("\(option) '\(path)': '\(directory)' is not a directory")
        }
    }

    /// Checks that `path` is a writable directory or can be created as one, naming `option`:
    /// the nearest existing ancestor must be a writable directory.
    public static func checkDirectory(_ given: String, option: String) throws {
        guard !given.isEmpty else { throw FileError("\(option) must not be empty") }
        // A link to a directory that does not exist yet: the directory is made where it points.
        let path = resolved(given)
        switch kind(path) {
        case .directory:
            guard access(path, W_OK) == 0 else { throw FileError("\(option) '\(given)' is not writable") }
            return
        case .regularFile, .other:
            throw FileError("\(option) '\(given)' exists and is not a directory")
        case .missing:
            var ancestor = path
            repeat {
                // A ".." after a directory that does not exist would need that directory
                // created only to be passed through (and left behind).
                if ancestor == ".." || ancestor.hasSuffix("/..") {
                    throw FileError("cannot create \(option) '\(given)': it goes through '\(parent(ancestor))', which does not exist; give the path without '..'")
                }
                ancestor = parent(ancestor)
            } while kind(ancestor) == .missing && ancestor != "." && ancestor != "/"
            switch kind(ancestor) {
            case .directory:
                guard access(ancestor, W_OK) == 0 else {
                    throw FileError("cannot create \(option) '\(given)': '\(ancestor)' is not writable")
                }
            case .missing:
                throw FileError("cannot create \(option) '\(given)': '\(ancestor)' does not exist")
            default:
                throw FileError("cannot create \(option) '\(given)': '\(ancestor)' is not a directory")
            }
        }
    }
}

/// Files written together at the end of a run. Each is first written in full to a temporary
/// file beside its destination; only when every one is written are they renamed into place,
/// so a failure leaves every destination as it was. Directories created for them, and the
/// temporary files, are removed again unless ``commit()`` succeeds, also when the process is
/// stopped by SIGINT, SIGTERM or SIGHUP before the commit (see ``InterruptCleanup``); a stop
/// during the commit waits for it to finish.
public final class StagedFiles: Sendable {
    private struct Entry {
        var temporary: String
        var target: String
        var option: String
        /// The destination did not exist when the run began: the commit creates it only if it
        /// still does not (another run may have created it meanwhile).
        var createOnly: Bool
    }
    private struct State {
        var entries: [Entry] = []
        var createdDirectories: [String] = []
        /// Committed, or cleaned up after an interrupt: nothing more to remove.
        var settled = false
    }
    private let state = Mutex(State())

    public init() {
        InterruptCleanup.shared.register(self)
    }

    deinit {
        InterruptCleanup.shared.unregister(self)
        discard()
    }

    /// Creates the directory `path` and any missing parents, remembering what was created.
    public func createDirectory(_ given: String, option: String) throws {
        let path = Files.resolved(given)
        guard Files.kind(path) != .directory else { return }
        var missing: [String] = []
        var current = path
        while !current.isEmpty, current != "/", current != ".", Files.kind(current) == .missing {
            missing.append(current)
            current = Files.parent(current)
        }
        try state.withLock { state in
            for directory in missing.reversed() {
                guard mkdir(directory, 0o777) == 0 || errno == EEXIST else {
                    throw FileError("cannot create \(option) '\(given)': \(Files.systemError())")
                }
                state.createdDirectories.append(directory)
            }
        }
        guard Files.kind(path) == .directory else { throw FileError("cannot create \(option) '\(given)': it is not a directory") }
    }

    /// A fresh temporary path beside `target`, renamed over `target` by ``commit()``; the
    /// caller writes it (for results streamed while they are computed), creating it new.
    /// `createOnly`: `target` must still not exist at the commit (see ``stage(_:to:option:mode:createOnly:)``).
    public func temporaryPath(for destination: String, option: String, createOnly: Bool = false) -> String {
        // A symbolic link is written through: its target is replaced, the link stays.
        let target = Files.resolved(destination)
        let name = target.split(separator: "/").last.map(String.init) ?? target
        let temporary = Files.parent(target) + "/.\(name).staged-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        state.withLock { $0.entries.append(Entry(temporary: temporary, target: target, option: option, createOnly: createOnly)) }
        return temporary
    }

    /// Writes `data` to a temporary file beside `target` (or its link's target) with
    /// permissions `mode` (nil: the usual 0666 less the umask); ``commit()`` gives it an
    /// existing file's permissions. With `createOnly` (a destination that did not exist when
    /// the run read it) the commit refuses to replace a file that appeared meanwhile, so that
    /// a concurrent run's file is never silently overwritten.
    public func stage(_ data: Data, to target: String, option: String, mode: mode_t? = nil, createOnly: Bool = false) throws {
        let temporary = temporaryPath(for: target, option: option, createOnly: createOnly)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode ?? 0o666)
        guard fd >= 0 else { throw FileError("cannot write \(option) '\(target)': \(Files.systemError())") }
        defer { close(fd) }
        if let mode, fchmod(fd, mode) != 0 {
            throw FileError("cannot write \(option) '\(target)': \(Files.systemError())")
        }
        try data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                guard n > 0 else { throw FileError("cannot write \(option) '\(target)': \(Files.systemError())") }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw FileError("cannot write \(option) '\(target)': \(Files.systemError())") }
    }

    /// Moves every staged file into place, after checking that no destination has become a
    /// directory meanwhile: first the create-only ones (each linked into place only if its
    /// destination still does not exist; if one does, those already linked are removed again
    /// and nothing is replaced), then the others, renamed over their destinations.
    public func commit() throws {
        try state.withLock { state in
            for e in state.entries where Files.kind(e.target) == .directory {
                throw FileError("cannot write \(e.option) '\(e.target)': it is a directory")
            }
            var linked: [String] = []
            var moved: Set<String> = []
            for e in state.entries where e.createOnly {
                if link(e.temporary, e.target) == 0 {
                    linked.append(e.target)
                    continue
                }
                var code = errno
                // A file system without hard links: the check and the rename are then two
                // steps (another run could still slip in between, as before create-only).
                if code != EEXIST, [EPERM, EOPNOTSUPP, ENOTSUP, EMLINK].contains(code) {
                    if Files.kind(e.target) == .missing {
                        if rename(e.temporary, e.target) == 0 {
                            linked.append(e.target)
                            moved.insert(e.temporary)
                            continue
                        }
                        code = errno
                    } else {
                        code = EEXIST
                    }
                }
                for target in linked { unlink(target) }
                if code == EEXIST {
                    throw FileError("\(e.option) '\(e.target)' was created by another run while this one ran; nothing was written (run again to build on it)")
                }
                throw FileError("cannot write \(e.option) '\(e.target)': \(String(cString: strerror(code)))")
            }
            for e in state.entries where e.createOnly && !moved.contains(e.temporary) { unlink(e.temporary) }
            for e in state.entries where !e.createOnly {
                // A result replaced keeps its permissions.
                if let mode = Files.mode(e.target), chmod(e.temporary, mode) != 0 {
                    throw FileError("cannot write \(e.option) '\(e.target)': \(Files.systemError())")
                }
                guard rename(e.temporary, e.target) == 0 else {
                    throw FileError("cannot write \(e.option) '\(e.target)': \(Files.systemError())")
                }
            }
            state.settled = true
        }
    }

    /// Removes the temporary files and the directories created for them, unless committed.
    func discard() {
        state.withLock { state in
            guard !state.settled else { return }
            for e in state.entries { unlink(e.temporary) }
            for directory in state.createdDirectories.reversed() { rmdir(directory) }
            state.settled = true
        }
    }
}

/// Removes every uncommitted ``StagedFiles``' temporary files and created directories when the
/// process receives SIGINT, SIGTERM or SIGHUP, then lets the signal end the process as it
/// would have (so a shell sees the usual status). The handlers are installed when the first
/// ``StagedFiles`` is made, so processes that stage nothing (a server with its own shutdown)
/// keep their own handling. A stop during a commit waits for the commit to finish.
///
/// The signal handler only writes the signal's number to a pipe (all a handler may safely do,
/// on whichever thread the signal lands); a thread of its own reads it and does the clean-up.
public final class InterruptCleanup: Sendable {
    /// The process's one cleanup (signal handlers are process-wide).
    public static let shared = InterruptCleanup()

    private struct State {
        var staged: [ObjectIdentifier: Weak] = [:]
        var installed = false
    }
    private struct Weak { weak var files: StagedFiles? }
    private let state = Mutex(State())

    private init() {}

    func register(_ files: StagedFiles) {
        let install = state.withLock { state -> Bool in
            state.staged[ObjectIdentifier(files)] = Weak(files: files)
            defer { state.installed = true }
            return !state.installed
        }
        if install { installHandlers() }
    }

    func unregister(_ files: StagedFiles) {
        _ = state.withLock { $0.staged.removeValue(forKey: ObjectIdentifier(files)) }
    }

    private func installHandlers() {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return }  // no clean-up on a stop then, as before
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        interruptPipe = ends[1]
        let reader = ends[0]
        Thread.detachNewThread { [self] in
            var number: Int32 = 0
            while true {
                let n = read(reader, &number, MemoryLayout<Int32>.size)
                if n == MemoryLayout<Int32>.size { break }
                if n < 0 && errno == EINTR { continue }
                return
            }
            stop(by: number)
        }
        for number in [SIGINT, SIGTERM, SIGHUP] {
            // A signal the process was started ignoring (`nohup`, a background job of a
            // script) stays ignored.
            var inherited = sigaction()
            guard sigaction(number, nil, &inherited) == 0,
                  unsafeBitCast(inherited.__sigaction_handler.sa_handler, to: Int.self) != unsafeBitCast(SIG_IGN, to: Int.self) else { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var value = number
                _ = write(interruptPipe, &value, MemoryLayout<Int32>.size)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            guard sigaction(number, &action, nil) == 0 else { continue }
            // A parent may have started the process with the signal blocked (a spawning
            // thread's mask is inherited): unblocked on this thread, it is delivered here.
            var handled = sigset_t()
            sigemptyset(&handled)
            sigaddset(&handled, number)
            _ = pthread_sigmask(SIG_UNBLOCK, &handled, nil)
        }
    }

    /// Cleans up, then ends the process by `number` with its default action.
    private func stop(by number: Int32) {
        let staged = state.withLock { $0.staged.values.compactMap(\.files) }
        for files in staged { files.discard() }
        _ = signal(number, SIG_DFL)
        kill(getpid(), number)
    }
}

/// The write end of ``InterruptCleanup``'s pipe, for its signal handler (a C function, which
/// cannot capture it): set once, before the handlers are installed.
nonisolated(unsafe) private var interruptPipe: Int32 = -1

/// An exclusive advisory lock (`flock`) on a file that a run reads and later replaces, so that
/// a second run given the same file is refused at once instead of reading it too and then
/// silently dropping what the first one wrote. A file that does not exist yet cannot be
/// locked: stage it with `createOnly` instead, so that the commit refuses to replace a file
/// another run created meanwhile. Held until the lock is released (deinit) or the process ends.
public final class ReplacementLock {
    private var fd: Int32
    private let path: String
    private let option: String
    private let identity: (device: UInt64, inode: UInt64)

    /// Locks the existing regular file `path` (named by `option` in errors).
    /// - Returns: nil when nothing exists at `path`.
    /// - Throws: ``FileError`` when the file is locked by another run or cannot be opened.
    public static func lock(_ path: String, option: String) throws -> ReplacementLock? {
        guard Files.kind(path) != .missing else { return nil }
        return try ReplacementLock(path, option: option)
    }

    private init(_ path: String, option: String) throws {
        // Non-blocking, so that a FIFO is not waited on (the caller refuses what is not a file).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw FileError("\(option) '\(path)' cannot be opened: \(Files.systemError())") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK {
                throw FileError("\(option) '\(path)' is in use by another run (it holds the file's lock); wait for it to finish")
            }
            throw FileError("\(option) '\(path)' cannot be locked: \(String(cString: strerror(code)))")
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            close(fd)
            throw FileError("\(option) '\(path)' cannot be read: \(Files.systemError())")
        }
        self.fd = fd
        self.path = path
        self.option = option
        self.identity = (UInt64(status.st_dev), UInt64(status.st_ino))
    }

    deinit { release() }

    /// Releases the lock. Call it after the replacement is committed: Swift may end an
    /// object's life after its last use, so a lock only held by a variable could be released
    /// before the commit it guards.
    public func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    /// Checks that `path` still names the file locked: not replaced since (by a writer that
    /// does not take the lock). Call after reading the file, and again before replacing it.
    public func checkUnchanged() throws {
        var status = stat()
        guard stat(path, &status) == 0, UInt64(status.st_dev) == identity.device, UInt64(status.st_ino) == identity.inode else {
            throw FileError("\(option) '\(path)' was replaced by another program while this run used it; nothing was written (run again)")
        }
    }
}
