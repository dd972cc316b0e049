import Defense
import Foundation
import Gateway
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A PostgreSQL store whose server stops answering fails each operation with a
/// ``StoreError`` after its bound, instead of waiting as long as the server is away. The
/// server here is ``SilentPostgresServer`` (no PostgreSQL needed); the integration tests stop
/// and freeze a real one.
///
/// Each call is given ``patience`` before the test gives up on it (and fails): a bound for a
/// store that never returns, far above the 0.3 s under test, and long enough for the whole
/// test run, where other suites' computations can keep Swift's few pool threads busy for tens
/// of seconds (the store's timer then fires late); no test asserts on how long anything takes.
@Suite struct PostgresDeadlineTests {
    static let bound = Duration.milliseconds(300)
    static let patience = 120.0

    func update() -> OccupancyUpdate {
        OccupancyUpdate(user: "acct00000001", snapshot: OccupancySnapshot(hasherFingerprint: 42, hashBits: 6, tableCount: 1, words: [0b1011],
                                                                          queryCount: 0),
                        queryDelta: 3)
    }

    @Test func anOperationWaitingForAConnectionToAServerThatNeverAnswersFails() async throws {
        let server = try SilentPostgresServer(answersStartUp: false)
        defer { server.stop() }
        let store = try PostgresStore(url: "postgres://b4b@127.0.0.1:\(server.port)/b4b", operationTimeout: Self.bound)
        let first = await outcome(within: Self.patience) { try await store.key(id: "0123456789ab") }
        let message = try #require(storeErrorMessage(first))
        #expect(message == "PostgreSQL store \(store.location): reading key 0123456789ab got no answer within 0.3 s (is the server running and reachable, or a lock held elsewhere?)")
        // The pool's connection attempt runs on its own: it may reach the server after the
        // operation has already given up.
        let reached = await server.waitFor(within: Self.patience) { $0.accepted >= 1 }
        #expect(reached, "the server saw \(server.counts)")
        let closed = await outcome(within: Self.patience) { await store.close() }
        #expect(closed != nil, "close() did not return within \(Self.patience) s")
    }

    @Test func aStatementSentToAServerThatStoppedAnsweringFailsAndItsConnectionIsClosed() async throws {
        let server = try SilentPostgresServer(answersStartUp: true)
        defer { server.stop() }
        let store = try PostgresStore(url: "postgres://b4b@127.0.0.1:\(server.port)/b4b", operationTimeout: Self.bound)
        let update = update()
        let first = await outcome(within: Self.patience) { try await store.commit([update]) }
        let message = try #require(storeErrorMessage(first))
        #expect(message == "PostgreSQL store \(store.location): committing occupancy got no answer within 0.3 s (is the server running and reachable, or a lock held elsewhere?)")
        // The statement reached the server; its connection, which would otherwise wait for
        // the answer until TCP gives up (holding one of the pool's connections), is closed.
        let closedByClient = await server.waitFor(within: Self.patience) { $0.statements >= 1 && $0.closedByClient >= 1 }
        #expect(closedByClient, "the server saw \(server.counts)")
        // The next operation gets a new connection and the same bound.
        let second = await outcome(within: Self.patience) { try await store.keys() }
        #expect(storeErrorMessage(second)?.contains("listing keys got no answer within 0.3 s") == true, "\(String(describing: second))")
        let reconnected = await server.waitFor(within: Self.patience) { $0.accepted >= 2 }
        #expect(reconnected, "the server saw \(server.counts)")
        let closed = await outcome(within: Self.patience) { await store.close() }
        #expect(closed != nil, "close() did not return within \(Self.patience) s")
    }

    @Test func theBoundDefaultsToTenSeconds() async throws {
        #expect(PostgresStore.operationTimeoutSeconds == 10)
        let store = try PostgresStore(url: "postgres://b4b@127.0.0.1:1/b4b")
        #expect(store.operationTimeout == .seconds(10))
        await store.close()
    }

    /// The message of a ``StoreError`` outcome (nil for any other outcome, or none).
    func storeErrorMessage<T>(_ outcome: Result<T, any Error>?) -> String? {
        guard case .failure(let error as StoreError)? = outcome else { return nil }
        return error.message
    }

    /// The outcome of `body`, or nil when it has not returned within `seconds` (it is then
    /// cancelled and left running).
    func outcome<T: Sendable>(within seconds: Double, _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
        let box = OutcomeBox<T>()
        let task = Task {
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            box.value.withLock { $0 = result }
        }
        let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < end {
            if let result = box.value.withLock({ $0 }) { return result }
            try? await Task.sleep(for: .milliseconds(10))
        }
        task.cancel()
        return nil
    }
}

private final class OutcomeBox<T: Sendable>: Sendable {
    let value = Mutex<Result<T, any Error>?>(nil)
}

/// A loopback TCP server that plays PostgreSQL up to a point and then answers nothing:
/// either it never answers at all (a server that accepts connections but hangs), or it
/// completes the start-up of each connection (authentication accepted, ready for queries)
/// and then answers no statement (a server that stopped answering, or a network cut, after the
/// pool connected). It counts what it sees.
final class SilentPostgresServer: Sendable {
    struct Counts: CustomStringConvertible {
        var accepted = 0
        /// Connections on which bytes arrived after the start-up message.
        var statements = 0
        /// Connections the client closed.
        var closedByClient = 0
        var description: String { "\(accepted) accepted, \(statements) with statements, \(closedByClient) closed by the client" }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let port: Int
    private let answersStartUp: Bool
    private let listener: Int32
    private let state = Mutex((counts: Counts(), sockets: [Int32](), stopping: false))

    var counts: Counts { state.withLock { $0.counts } }

    init(answersStartUp: Bool) throws {
        self.answersStartUp = answersStartUp
        #if canImport(Glibc)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let listener = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        self.listener = listener
        guard listener >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound, listen(listener, 16) == 0 else {
            close(listener)
            throw Failure(description: "cannot listen on 127.0.0.1: errno \(errno)")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    /// Waits (polling) until `condition` holds for the counts; false after `seconds`.
    func waitFor(within seconds: Double, _ condition: @Sendable (Counts) -> Bool) async -> Bool {
        let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < end {
            if condition(counts) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Stops accepting and ends every connection. Each socket is closed by its own thread, and
    /// only under the lock after leaving ``state``: tests run in parallel in this process, so a
    /// socket number shut down here after its close could belong to another test's socket.
    func stop() {
        state.withLock { s in
            s.stopping = true
            shutdown(listener, Int32(SHUT_RDWR))
            for fd in s.sockets { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                close(listener)
                return
            }
            let accepted = state.withLock { s -> Bool in
                if s.stopping { return false }
                s.counts.accepted += 1
                s.sockets.append(fd)
                return true
            }
            guard accepted else {
                close(fd)
                close(listener)
                return
            }
            Thread { [self] in serve(fd) }.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            state.withLock { s in
                s.sockets.removeAll { $0 == fd }
                close(fd)
            }
        }
        // The start-up message: its length (4 bytes, big-endian, counting itself), then the rest.
        guard let head = read(fd, count: 4) else { return }
        let length = head.reduce(0) { $0 << 8 | Int($1) }
        guard length >= 8, read(fd, count: length - 4) != nil else { return }
        if answersStartUp {
            // AuthenticationOk, BackendKeyData (process id, secret key), ReadyForQuery (idle).
            let answer: [UInt8] = [0x52, 0, 0, 0, 8, 0, 0, 0, 0,
                                   0x4B, 0, 0, 0, 12, 0, 0, 0x30, 0x39, 0, 0, 0, 7,
                                   0x5A, 0, 0, 0, 5, 0x49]
            let sent = answer.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent == answer.count else { return }
        }
        var sawStatement = false
        var chunk = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                if !sawStatement {
                    sawStatement = true
                    state.withLock { $0.counts.statements += 1 }
                }
                continue
            }
            state.withLock { s in if !s.stopping && n == 0 { s.counts.closedByClient += 1 } }
            return
        }
    }

    /// Exactly `count` bytes; nil when the connection ends first.
    private func read(_ fd: Int32, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            got += n
        }
        return out
    }
}
