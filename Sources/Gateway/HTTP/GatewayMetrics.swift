import Synchronization

/// The gateway's counters and histograms, rendered in the Prometheus text exposition format
/// (version 0.0.4) by `GET /metrics`.
///
/// Durations are in seconds. Updates take one short lock; rendering reads a copy.
public final class GatewayMetrics: Sendable {
    /// Upper bounds (seconds) of the latency histograms' buckets.
    public static let latencyBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    /// Upper bounds of the coverage histogram's buckets (fractions of buckets occupied).
    public static let coverageBounds: [Double] = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1]

    struct Histogram {
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0
        let bounds: [Double]
        init(bounds: [Double]) {
            self.bounds = bounds
            counts = [UInt64](repeating: 0, count: bounds.count)
        }
        mutating func observe(_ v: Double) {
            if let i = bounds.firstIndex(where: { v <= $0 }) { counts[i] += 1 }
            sum += v
            count += 1
        }
    }

    struct RequestKey: Hashable {
        var route: String
        var status: Int
    }

    struct Values {
        var requests: [RequestKey: UInt64] = [:]
        var latency: [String: Histogram] = [:]
        var inProcess: [String: Histogram] = [:]
        var upstreamErrors: [String: UInt64] = [:]
        var upstreamLatency = Histogram(bounds: GatewayMetrics.latencyBounds)
        var commitTransactions: UInt64 = 0
        var commitFailures: UInt64 = 0
        var committedRequests: UInt64 = 0
        var commitLatency = Histogram(bounds: GatewayMetrics.latencyBounds)
        var answersWaited: UInt64 = 0
        var answersDeferred: UInt64 = 0
    }

    private let values = Mutex(Values())

    public init() {}

    /// Records one answered request.
    public func request(route: String, status: Int, seconds: Double) {
        values.withLock { v in
            v.requests[RequestKey(route: route, status: status), default: 0] += 1
            v.latency[route, default: Histogram(bounds: Self.latencyBounds)].observe(seconds)
        }
    }

    /// Records the time one request spent in the process, from reading its head to handing
    /// the whole answer to the socket (HTTP parsing and writing included).
    public func inProcess(route: String, seconds: Double) {
        values.withLock { v in
            v.inProcess[route, default: Histogram(bounds: Self.latencyBounds)].observe(seconds)
        }
    }

    /// Records one upstream call (its duration) or failure kind.
    public func upstream(seconds: Double, error: String?) {
        values.withLock { v in
            v.upstreamLatency.observe(seconds)
            if let error { v.upstreamErrors[error, default: 0] += 1 }
        }
    }

    /// Records one group-commit transaction.
    public func commit(requests: Int, seconds: Double, failed: Bool) {
        values.withLock { v in
            v.commitTransactions += 1
            if failed { v.commitFailures += 1 }
            v.committedRequests += UInt64(requests)
            v.commitLatency.observe(seconds)
        }
    }

    /// Records one protected answer: whether it waited for its commit or was sent at once
    /// (its query count committed shortly after; see ``CommitPolicy``).
    public func answered(waitedForCommit: Bool) {
        values.withLock { v in
            if waitedForCommit { v.answersWaited += 1 } else { v.answersDeferred += 1 }
        }
    }

    /// The exposition text, with the defense's current users and their coverage.
    public func render(userCoverages: [Double]) -> String {
        let v = values.withLock { $0 }
        var out = ""
        func histogram(_ name: String, _ h: Histogram, labels: String = "") {
            let prefix = labels.isEmpty ? "" : labels + ","
            var cumulative: UInt64 = 0
            for (i, bound) in h.bounds.enumerated() {
                cumulative += h.counts[i]
                out += "\(name)_bucket{\(prefix)le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(h.count)\n"
            let braces = labels.isEmpty ? "" : "{\(labels)}"
            out += "\(name)_sum\(braces) \(h.sum)\n\(name)_count\(braces) \(h.count)\n"
        }
        out += "# HELP b4b_requests_total HTTP requests answered, by route and status.\n# TYPE b4b_requests_total counter\n"
        for (key, n) in v.requests.sorted(by: { ($0.key.route, $0.key.status) < ($1.key.route, $1.key.status) }) {
            out += "b4b_requests_total{route=\"\(key.route)\",status=\"\(key.status)\"} \(n)\n"
        }
        out += "# HELP b4b_request_duration_seconds Time from a request's arrival to its answer, by route.\n# TYPE b4b_request_duration_seconds histogram\n"
        for (route, h) in v.latency.sorted(by: { $0.key < $1.key }) { histogram("b4b_request_duration_seconds", h, labels: "route=\"\(route)\"") }
        out += "# HELP b4b_http_request_duration_seconds Time from reading a request's head to handing its whole answer to the socket, by route (the gateway's own time, HTTP included).\n# TYPE b4b_http_request_duration_seconds histogram\n"
        for (route, h) in v.inProcess.sorted(by: { $0.key < $1.key }) { histogram("b4b_http_request_duration_seconds", h, labels: "route=\"\(route)\"") }
        out += "# HELP b4b_upstream_errors_total Failed upstream calls, by kind (unreachable, timeout, status, garbage).\n# TYPE b4b_upstream_errors_total counter\n"
        for kind in ["unreachable", "timeout", "status", "garbage"] {
            out += "b4b_upstream_errors_total{kind=\"\(kind)\"} \(v.upstreamErrors[kind] ?? 0)\n"
        }
        out += "# HELP b4b_upstream_duration_seconds Duration of upstream embedding calls.\n# TYPE b4b_upstream_duration_seconds histogram\n"
        histogram("b4b_upstream_duration_seconds", v.upstreamLatency)
        out += "# HELP b4b_commit_transactions_total Group-commit transactions of occupancy.\n# TYPE b4b_commit_transactions_total counter\n"
        out += "b4b_commit_transactions_total \(v.commitTransactions)\n"
        out += "# HELP b4b_commit_failures_total Group-commit transactions that failed.\n# TYPE b4b_commit_failures_total counter\n"
        out += "b4b_commit_failures_total \(v.commitFailures)\n"
        out += "# HELP b4b_committed_requests_total Requests whose occupancy was made durable (waiting or not).\n# TYPE b4b_committed_requests_total counter\n"
        out += "b4b_committed_requests_total \(v.committedRequests)\n"
        out += "# HELP b4b_protected_answers_total Protected answers, by whether they waited for their occupancy commit (waited) or were sent with every bucket already durable (deferred: query count committed shortly after).\n# TYPE b4b_protected_answers_total counter\n"
        out += "b4b_protected_answers_total{commit=\"waited\"} \(v.answersWaited)\n"
        out += "b4b_protected_answers_total{commit=\"deferred\"} \(v.answersDeferred)\n"
        out += "# HELP b4b_commit_duration_seconds Duration of group-commit transactions.\n# TYPE b4b_commit_duration_seconds histogram\n"
        histogram("b4b_commit_duration_seconds", v.commitLatency)
        out += "# HELP b4b_users_tracked Accounts with occupancy in this process.\n# TYPE b4b_users_tracked gauge\n"
        out += "b4b_users_tracked \(userCoverages.count)\n"
        var coverage = Histogram(bounds: Self.coverageBounds)
        for c in userCoverages { coverage.observe(c) }
        out += "# HELP b4b_user_coverage Distribution of the tracked accounts' coverage (fraction of buckets occupied).\n# TYPE b4b_user_coverage histogram\n"
        histogram("b4b_user_coverage", coverage)
        return out
    }
}
