import Synchronization

/// How long a piece of work may go without an answer from a server: a limit that the work
/// pushes back each time an answer arrives (see ``withDeadline(_:expired:_:)``).
final class Deadline: Sendable {
    /// The longest time without an answer.
    let limit: Duration
    private let expiry: Mutex<ContinuousClock.Instant>

    init(limit: Duration) {
        self.limit = limit
        expiry = Mutex(.now + limit)
    }

    /// Records an answer (say one row of a long result): the deadline becomes ``limit`` from now.
    func answered() {
        let next = ContinuousClock.now + limit
        expiry.withLock { $0 = next }
    }

    /// When the work expires unless it records another answer.
    var instant: ContinuousClock.Instant { expiry.withLock { $0 } }
}

/// Runs `body` in a task of its own and returns what it returns, or throws `expired()` when
/// the body goes `limit` without recording an answer on the ``Deadline`` it is given (none:
/// `limit` after the start), whichever comes first.
///
/// Why not a task group racing `body` against a sleep: a group waits for every child at scope
/// exit, so a child stuck in a wait that ignores cancellation would hold the caller past the
/// deadline. PostgresNIO has such a wait: a statement already written to a connection waits
/// for the server's first answer on a future without a cancellation handler, so when the
/// server goes silent (stopped with its machine, a network cut) it waits until TCP gives up,
/// which can be many minutes. Here the caller is resumed at the deadline whatever the body
/// does; the body's task is then cancelled and left to end on its own (``PostgresStore``
/// closes the connection the body uses on cancellation, which ends that wait at once).
///
/// Cancelling the caller cancels the body as well and throws `CancellationError`.
/// - Parameters:
///   - limit: the longest time without an answer (continuous clock).
///   - expired: the error thrown on expiry.
///   - body: the work; it calls ``Deadline/answered()`` on progress that should extend it.
func withDeadline<T: Sendable>(_ limit: Duration, expired: @escaping @Sendable () -> any Error,
                               _ body: @escaping @Sendable (Deadline) async throws -> T) async throws -> T {
    let deadline = Deadline(limit: limit)
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            guard race.start(continuation) else { return }
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await body(deadline)) } catch { result = .failure(error) }
                race.finish(result)
            }
            let timer = Task {
                while true {
                    let instant = deadline.instant
                    if ContinuousClock.now >= instant { break }
                    // Cancelled: the work finished first.
                    do { try await Task.sleep(until: instant, clock: .continuous) } catch { return }
                }
                race.finish(.failure(expired()))
            }
            race.adopt([work, timer])
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of the work, the timer and the caller's cancellation to finish resumes the
/// caller once; the others' tasks are then cancelled.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        /// An outcome that came before the continuation (the caller was already cancelled).
        var early: Result<T, any Error>?
        var finished = false
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Installs the caller's continuation; false when the race is already over (the
    /// continuation has then been resumed and no task must be started).
    func start(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
        let early = state.withLock { s -> Result<T, any Error>? in
            if let early = s.early {
                s.finished = true
                return early
            }
            s.continuation = continuation
            return nil
        }
        guard let early else { return true }
        continuation.resume(with: early)
        return false
    }

    /// Keeps the racing tasks, to cancel them when the race ends (at once if it has ended).
    func adopt(_ tasks: [Task<Void, Never>]) {
        let finished = state.withLock { s -> Bool in
            if !s.finished { s.tasks = tasks }
            return s.finished
        }
        if finished { for task in tasks { task.cancel() } }
    }

    /// Ends the race with `result` unless it has ended already.
    func finish(_ result: Result<T, any Error>) {
        let winner = state.withLock { s -> (CheckedContinuation<T, any Error>, [Task<Void, Never>])? in
            if s.finished { return nil }
            guard let continuation = s.continuation else {
                if s.early == nil { s.early = result }
                return nil
            }
            s.finished = true
            s.continuation = nil
            defer { s.tasks = [] }
            return (continuation, s.tasks)
        }
        guard let (continuation, tasks) = winner else { return }
        continuation.resume(with: result)
        for task in tasks { task.cancel() }
    }
}
