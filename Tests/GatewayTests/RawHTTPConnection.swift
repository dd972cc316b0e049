import Foundation
import Gateway
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A raw TCP connection to a loopback port, for sending what HTTP clients would not (partial
/// requests, malformed heads, `Expect` headers) and seeing exactly what the server answers.
///
/// Reads block (on a thread of their own, see ``blocking(_:)``) for at most
/// ``readLimitSeconds``: a bound for a server that never answers, so that a broken server fails
/// the test instead of hanging it; no test asserts on how long anything takes.
final class RawHTTPConnection: @unchecked Sendable {
    /// A response as read from the socket.
    struct Response {
        var status: Int
        /// Header names lowercased.
        var headers: [String: String]
        var body: [UInt8]
        var json: JSONValue? { try? JSONValue.parse(body) }
        /// `error.message` of an OpenAI error body.
        var errorMessage: String? {
            if case .string(let m)? = json?["error"]?["message"] { return m }
            return nil
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let readLimitSeconds = 20
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else {
            closed = true
            throw Failure(description: "socket() failed: errno \(errno)")
        }
        var limit = timeval(tv_sec: Self.readLimitSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let failure = Failure(description: "cannot connect to 127.0.0.1:\(port): errno \(errno)")
            // Closed here and marked so: deinit runs after a throwing init too, and a second
            // close could take a socket number another test (tests run in parallel in this
            // process) has been given since.
            closeConnection()
            throw failure
        }
    }

    private var closed = false

    deinit { if !closed { close(fd) } }

    /// Closes the connection now (the client's side).
    func closeConnection() {
        guard !closed else { return }
        closed = true
        close(fd)
    }

    /// Sends `text` (UTF-8).
    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends `bytes`; false when the server has closed the connection.
    @discardableResult
    func send(_ bytes: [UInt8]) throws -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Waits up to `seconds` for the server to send something or close; true if it did.
    func waitReadable(seconds: Double) -> Bool {
        if !buffer.isEmpty { return true }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, Int32(seconds * 1000)) > 0
    }

    /// Reads more bytes; false at the end of the stream (or a reset).
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            throw Failure(description: "the server sent nothing for \(Self.readLimitSeconds) s")
        }
        return false
    }

    /// Reads the next response (an interim `100 Continue` is one too); nil when the connection
    /// closed before a complete one.
    /// - Parameter bodiless: the response answers a HEAD request (its body is not sent).
    func readResponse(bodiless: Bool = false) throws -> Response? {
        let separator: [UInt8] = [13, 10, 13, 10]
        while true {
            if let end = buffer.indices.dropLast(3).first(where: { Array(buffer[$0 ..< $0 + 4]) == separator }) {
                let lines = String(decoding: buffer[..<end], as: UTF8.self).components(separatedBy: "\r\n")
                let statusParts = lines[0].split(separator: " ")
                guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
                    throw Failure(description: "not an HTTP status line: \(lines[0])")
                }
                var headers: [String: String] = [:]
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = (bodiless || status < 200) ? 0 : Int(headers["content-length"] ?? "0") ?? 0
                while buffer.count < end + 4 + length {
                    guard try fill() else { return nil }
                }
                let body = Array(buffer[(end + 4) ..< (end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                return Response(status: status, headers: headers, body: body)
            }
            guard try fill() else { return nil }
        }
    }

    /// Reads until the server closes the connection; returns what arrived meanwhile.
    func readUntilClosed() throws -> [UInt8] {
        while try fill() {}
        defer { buffer.removeAll() }
        return buffer
    }
}

/// Runs blocking work (socket reads) on a thread of its own, off Swift's cooperative pool,
/// whose few threads the servers under test need.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}

/// A one-shot latch: ``wait()`` returns once ``open()`` has been called.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init() {}

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if ready { c.resume() }
        }
    }
}

/// A fake upstream answer: one 8-dimensional vector per input text.
func fakeEmbeddingsBody(count: Int) -> [UInt8] {
    var w = JSONWriter()
    w.raw("{\"object\":\"list\",\"data\":[")
    for i in 0..<count {
        if i > 0 { w.raw(",") }
        let v = (0..<8).map { j in Float(sin(Double(i * 13 + j))) }
        w.raw("{\"object\":\"embedding\",\"index\":\(i),\"embedding\":")
        v.withUnsafeBufferPointer { w.floats($0) }
        w.raw("}")
    }
    w.raw("],\"model\":\"fake\",\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}}")
    return w.bytes
}
