import Defense
import Foundation
import Logging
import NumericKernels
import Synchronization

/// The gateway: authenticates each request's key, obtains the vectors (from the upstream, or
/// from the request for `/v1/protect`), protects them for the key's account with B4B, makes
/// the account's occupancy durable, and answers in the OpenAI format.
///
/// Order of a request, and what each failure changes:
/// 1. body size (413), key (401), body parsing and limits (400/413): nothing changed;
/// 2. upstream call (502/504): nothing changed;
/// 3. `protect` records the rows in the account's in-memory occupancy and prices them;
/// 4. the occupancy is committed through the ``OccupancyJournal`` (group commit); the answer
///    is sent only when the commit is as durable as the ``CommitPolicy`` demands (by default:
///    every bucket of the account durable, query counts within a short delay). If the commit
///    fails the answer is 503 and withheld; the buckets stay recorded in memory (they price
///    later requests higher, never lower) and go to the store with the account's next commit.
///
/// With a shared PostgreSQL store, each commit returns the accounts' merged occupancy (with
/// buckets other replicas recorded), which is merged back into memory.
public final class EmbeddingsGateway: Sendable {
    /// The validated configuration.
    public let configuration: GatewayConfiguration
    /// The defense (one per process; accounts are keyed by API key id).
    public let defense: B4BDefense
    /// Counters and histograms for `/metrics`.
    public let metrics: GatewayMetrics
    private let store: any GatewayStore
    private let journal: OccupancyJournal
    private let keys: KeyCache
    private let upstream: UpstreamClient?
    private let logger: Logger
    /// Set by ``close()``: requests still arriving then are answered 503.
    private let closing = Atomic<Bool>(false)

    /// Opens the store (creating tables and the server secret if absent), builds the defense
    /// and loads every account's occupancy.
    /// - Throws: ``GatewayConfigurationError``, ``StoreError``, or when stored occupancy was
    ///   recorded under another hasher (a configuration change that would reset every
    ///   account's coverage: refused).
    public init(configuration: GatewayConfiguration, store: any GatewayStore, logger: Logger) async throws {
        let configuration = try configuration.validated()
        self.configuration = configuration
        self.store = store
        self.logger = logger
        try await store.prepare()
        let secret = try await store.loadOrCreateSecret()
        let defense = try B4BDefense(configuration: configuration.defense, secret: secret)
        self.defense = defense
        let stored = try await store.occupancies()
        for (user, snapshot) in stored {
            do { try defense.importOccupancy(snapshot, for: user, mode: .merge) } catch {
                throw StoreError("\(store.location) holds occupancy of account '\(user)' that does not fit this defense configuration (\(error)); starting would reset coverage, so the gateway refuses. Restore the configuration the state was recorded with.")
            }
        }
        let metrics = GatewayMetrics()
        self.metrics = metrics
        journal = OccupancyJournal(
            store: store, durable: stored, policy: configuration.resolvedCommitPolicy,
            onCommit: { _, requests, seconds, failed in metrics.commit(requests: requests, seconds: seconds, failed: failed) },
            onMerged: { merged in
                // Buckets other replicas recorded (shared store) join this process's view.
                for (user, snapshot) in merged { try? defense.importOccupancy(snapshot, for: user, mode: .merge) }
            })
        keys = KeyCache(store: store, ttlSeconds: configuration.keyCacheSeconds, logger: logger)
        upstream = try configuration.upstream.map { try UpstreamClient(baseURL: $0, timeout: configuration.upstreamTimeoutSeconds) }
        logger.info("loaded state", metadata: ["store": "\(store.location)", "accounts": "\(stored.count)"])
    }

    /// The route name of a path, for metrics (a bounded set: unknown paths are `other`).
    static func route(of path: String) -> String {
        switch path {
        case "/v1/embeddings", "/embeddings": return "/v1/embeddings"
        case "/v1/protect", "/health", "/metrics": return path
        default: return "other"
        }
    }

    /// Records an answer once the HTTP server has written it: the time the request spent in
    /// the process, HTTP included, and, for an answer the HTTP layer gave without the handler
    /// (a malformed or timed-out request, a failed expectation), its count by status, which
    /// ``handle(_:)`` records for the others.
    public func record(_ answer: HTTPServer.Answered) {
        let route = Self.route(of: answer.path)
        metrics.inProcess(route: route, seconds: answer.seconds)
        if !answer.byHandler { metrics.request(route: route, status: answer.status, seconds: answer.seconds) }
    }

    /// Answers one request; never throws (every failure is an answer).
    public func handle(_ request: GatewayRequest) async -> GatewayResponse {
        let started = ContinuousClock.now
        let route: String
        let response: GatewayResponse
        switch (request.method, request.path) {
        case ("POST", "/v1/embeddings"), ("POST", "/embeddings"):
            route = "/v1/embeddings"
            response = await answer(request, route: route) { try await self.embeddings(request, user: $0) }
        case ("POST", "/v1/protect"):
            route = "/v1/protect"
            response = await answer(request, route: route) { try await self.protect(request, user: $0) }
        case ("GET", "/health"), ("HEAD", "/health"):
            route = "/health"
            response = GatewayResponse(status: 200, body: Array("{\"status\":\"ok\",\"accounts\":\(defense.userCount)}".utf8))
        case ("GET", "/metrics"), ("HEAD", "/metrics"):
            route = "/metrics"
            let users = defense.users
            response = GatewayResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                                       body: Array(metrics.render(userCoverages: users.map { defense.coverage(of: $0) }).utf8))
        case (_, "/v1/embeddings"), (_, "/embeddings"), (_, "/v1/protect"):
            route = "other"
            response = Self.methodNotAllowed(request, allow: "POST")
        case (_, "/health"), (_, "/metrics"):
            route = "other"
            response = Self.methodNotAllowed(request, allow: "GET, HEAD")
        default:
            route = "other"
            response = GatewayResponse(GatewayError(.notFound, "unknown route \(request.method) \(request.path)"))
        }
        metrics.request(route: route, status: response.status, seconds: (ContinuousClock.now - started).seconds)
        return response
    }

    /// The 405 answer, with the `Allow` header naming the route's methods.
    private static func methodNotAllowed(_ request: GatewayRequest, allow: String) -> GatewayResponse {
        var response = GatewayResponse(GatewayError(.methodNotAllowed, "\(request.method) is not allowed on \(request.path) (allowed: \(allow))"))
        response.headers.append(("allow", allow))
        return response
    }

    /// Runs an authenticated route, turning every error into its answer.
    private func answer(_ request: GatewayRequest, route: String, _ body: (String) async throws -> GatewayResponse) async -> GatewayResponse {
        var user = "-"
        do {
            guard !request.bodyTooLarge else {
                throw GatewayError(.tooLarge, "request body is larger than the limit of \(configuration.maxBodyBytes) bytes")
            }
            guard !closing.load(ordering: .acquiring) else {
                throw GatewayError(.shuttingDown, "the gateway is shutting down; retry on another replica or after its restart")
            }
            user = try await keys.authenticate(request.authorization)
            let response = try await body(user)
            logger.debug("answered", metadata: ["route": "\(route)", "account": "\(user)", "status": "\(response.status)"])
            return response
        } catch let error as GatewayError {
            let level: Logger.Level = error.kind.status >= 500 ? .warning : .info
            logger.log(level: level, "refused", metadata: ["route": "\(route)", "account": "\(user)", "status": "\(error.kind.status)", "error": "\(error.message)"])
            return GatewayResponse(error)
        } catch {
            logger.error("internal error", metadata: ["route": "\(route)", "account": "\(user)", "error": "\(error)"])
            return GatewayResponse(GatewayError(.internalError, "internal error"))
        }
    }

    private func embeddings(_ request: GatewayRequest, user: String) async throws -> GatewayResponse {
        let parsed = try request.body.withUnsafeBytes {
            try EmbeddingsRequest(body: $0, maxInputs: configuration.maxInputs, outputDimension: defense.configuration.outputDimension)
        }
        guard let upstream else { throw GatewayError(.badUpstream, "this gateway has no upstream configured; use /v1/protect") }
        let started = ContinuousClock.now
        let answer: UpstreamEmbeddings
        do {
            let body = try await upstream.post(parsed.upstreamBody(defaultModel: configuration.upstreamModel))
            answer = try body.withUnsafeBytes {
                try UpstreamEmbeddings(body: $0, expectedCount: parsed.texts.count, dimension: configuration.defense.dimension,
                                       largestMagnitude: configuration.defense.largestInputMagnitude)
            }
            metrics.upstream(seconds: (ContinuousClock.now - started).seconds, error: nil)
        } catch let failure as UpstreamClient.Failure {
            // The client learns what kind of failure it was; the details (addresses, socket
            // errors, the upstream's own body) go to the log only.
            let seconds = (ContinuousClock.now - started).seconds
            let kind: String, answer: GatewayError
            switch failure {
            case .unreachable, .stale:
                (kind, answer) = ("unreachable", GatewayError(.badUpstream, "the upstream embeddings service is unreachable"))
            case .timeout(let limit):
                (kind, answer) = ("timeout", GatewayError(.upstreamTimeout, "the upstream embeddings service timed out (no answer within \(limit) s)"))
            case .status(let status, _):
                (kind, answer) = ("status", GatewayError(.badUpstream, "the upstream embeddings service answered with an error (status \(status))"))
            case .tooLarge:
                (kind, answer) = ("garbage", GatewayError(.badUpstream, "the upstream embeddings service answered with an unusable body"))
            }
            metrics.upstream(seconds: seconds, error: kind)
            logger.warning("upstream call failed", metadata: ["upstream": "\(upstream.url)", "kind": "\(kind)", "error": "\(Self.describe(failure))"])
            throw answer
        } catch let error as GatewayError {
            metrics.upstream(seconds: (ContinuousClock.now - started).seconds, error: "garbage")
            logger.warning("upstream call failed", metadata: ["upstream": "\(upstream.url)", "kind": "garbage", "error": "\(error.message)"])
            throw GatewayError(.badUpstream, "the upstream embeddings service answered with an unusable body")
        }
        return try await protectAndAnswer(answer.vectors, user: user, format: parsed.format,
                                          model: parsed.model ?? answer.model ?? "b4b", promptTokens: answer.promptTokens)
    }

    /// An upstream failure with its details, for the log.
    private static func describe(_ failure: UpstreamClient.Failure) -> String {
        switch failure {
        case .unreachable(let why): return "unreachable: \(why)"
        case .stale: return "closed the connection"
        case .timeout(let limit): return "no answer within \(limit) s"
        case .status(let status, let start): return "HTTP \(status): \(start)"
        case .tooLarge(let limit): return "answered more than \(limit) bytes"
        }
    }

    private func protect(_ request: GatewayRequest, user: String) async throws -> GatewayResponse {
        let parsed = try request.body.withUnsafeBytes {
            try ProtectRequest(body: $0, dimension: configuration.defense.dimension, maxInputs: configuration.maxInputs,
                               largestMagnitude: configuration.defense.largestInputMagnitude)
        }
        return try await protectAndAnswer(parsed.vectors, user: user, format: parsed.format, model: "b4b-protect", promptTokens: 0)
    }

    private func protectAndAnswer(_ vectors: Matrix, user: String, format: EmbeddingFormat, model: String, promptTokens: Int) async throws -> GatewayResponse {
        let protected: ProtectedBatch
        do { protected = try defense.protect(vectors, user: user) } catch let error as ProtectError {
            throw GatewayError(.invalidVectors, error.message)
        }
        // Durable before answering, as the commit policy demands: the update carries the
        // account's whole occupancy (a superset of what this request added) and its row count.
        let snapshot = defense.exportOccupancy(of: user)
        do {
            let waited = try await journal.commit(OccupancyUpdate(user: user, snapshot: snapshot, queryDelta: vectors.rows))
            metrics.answered(waitedForCommit: waited)
        } catch {
            logger.error("occupancy commit failed; answer withheld", metadata: ["account": "\(user)", "error": "\(error)"])
            throw GatewayError(.storeUnavailable, "the account's state could not be saved; the answer is withheld, retry later")
        }
        let body = EmbeddingsResponse.body(protected.representations, format: format, model: model, promptTokens: promptTokens)
        return GatewayResponse(status: 200, body: body, headers: [
            ("x-b4b-coverage", String(protected.coverage.last ?? 0)),
            ("x-b4b-sigma", String(protected.sigma.last ?? 0)),
        ])
    }

    /// Commits queued query counts, then closes the upstream's idle connections and the
    /// store's connections. Requests handled from then on are answered 503.
    public func close() async {
        closing.store(true, ordering: .releasing)
        await journal.flush()
        upstream?.shutdown()
        await store.close()
    }
}
