import Defense
import Foundation
import Logging
import NumericKernels
import Gateway

/// A fresh temporary SQLite path (its directory is removed by `cleanup`).
func temporaryStorePath() -> (path: String, cleanup: () -> Void) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("b4b-gateway-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return (dir.appendingPathComponent("state.sqlite").path, { try? FileManager.default.removeItem(at: dir) })
}

/// A small gateway configuration: dimension 8, 6 hash bits, exponential cost reaching sigma
/// 1 at coverage 0.5, scale-shift transforms.
func smallConfiguration(upstream: String? = nil, store: String) -> GatewayConfiguration {
    var c = GatewayConfiguration()
    c.store = store
    c.upstream = upstream
    c.upstreamTimeoutSeconds = 1
    c.maxInputs = 16
    c.keyCacheSeconds = 0
    c.defense.dimension = 8
    c.defense.hashBits = 6
    c.defense.cost = .exponential(ExponentialCost(lambda: 1e-3, alpha: 1, beta: 0.5))
    c.defense.transforms = [.scaleShift()]
    return c
}

let quietLogger: Logger = {
    var l = Logger(label: "b4b.tests")
    l.logLevel = .critical
    return l
}()

/// Adds a key to the store; returns its text and id.
func addKey(_ store: any GatewayStore) async throws -> APIKey {
    let key = APIKey.generate()
    try await store.insertKey(APIKeyRecord(id: key.id, keyHash: key.hash, name: "test", createdAt: Date()))
    return key
}

/// A `/v1/protect` request body with `rows` vectors of dimension `d` (seeded values).
func protectBody(rows: Int, dimension d: Int, seed: Int, spread: Float = 1) -> [UInt8] {
    var w = JSONWriter()
    w.raw("{\"input\":[")
    for i in 0..<rows {
        if i > 0 { w.raw(",") }
        let v = (0..<d).map { j in spread * Float(sin(Double(seed * 7919 + i * 131 + j * 17))) }
        v.withUnsafeBufferPointer { w.floats($0) }
    }
    w.raw("]}")
    return w.bytes
}

func post(_ path: String, key: APIKey?, body: [UInt8]) -> GatewayRequest {
    GatewayRequest(method: "POST", path: path, authorization: key.map { "Bearer \($0.text)" }, body: body)
}
