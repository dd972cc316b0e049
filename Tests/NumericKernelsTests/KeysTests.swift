import Crypto
import Foundation
import NumericKernels
import Testing

@Suite("Keyed seeds and row hashing")
struct KeysTests {
    let secret = try! ServerSecret(bytes: Array(repeating: 7, count: 32))

    @Test("The same (secret, user, purpose) gives the same seed; any change gives another")
    func derivation() throws {
        let again = try ServerSecret(bytes: Array(repeating: 7, count: 32))
        let other = try ServerSecret(bytes: Array(repeating: 8, count: 32))
        let p = SeedPurpose("noise")
        #expect(secret.seed(p, user: "alice") == again.seed(p, user: "alice"))
        #expect(secret.seed(p, user: "alice") != secret.seed(p, user: "bob"))
        #expect(secret.seed(p, user: "alice") != secret.seed(SeedPurpose("transform"), user: "alice"))
        #expect(secret.seed(p, user: "alice") != other.seed(p, user: "alice"))
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        #expect(secret.seed(SeedPurpose("ab"), user: "c") != secret.seed(SeedPurpose("a"), user: "bc"))
    }

    @Test("Derivation is HKDF-SHA256 (RFC 5869): extract with salt \"b4b.v1\", expand with the purpose and context")
    func hkdfVector() throws {
        // Computed independently with Python's hmac/hashlib:
        // prk = HMAC(b"b4b.v1", bytes([7])*32); okm = HMAC(prk, b"b4b/noise\x00alice\x01")
        let okm = secret.derive(SeedPurpose("noise"), context: Array("alice".utf8), count: 32)
        let hex = okm.map { String(format: "%02x", $0) }.joined()
        #expect(hex == Self.expectedHex)
    }

    @Test("Every output length equals swift-crypto's HKDF-Expand, across block boundaries",
          arguments: [1, 31, 32, 33, 64, 65, 100, 255 * 32])
    func expandMatchesHKDF(_ count: Int) {
        let prk = HKDF<SHA256>.extract(inputKeyMaterial: SymmetricKey(data: Array(repeating: UInt8(7), count: 32)),
                                       salt: Array("b4b.v1".utf8))
        for context in ["", "alice", String(repeating: "long user id ", count: 30)] {
            let info = Array("b4b/transform/1/shuffle".utf8) + [0] + Array(context.utf8)
            let expected = HKDF<SHA256>.expand(pseudoRandomKey: prk, info: info, outputByteCount: count).withUnsafeBytes { Array($0) }
            let derived = secret.derive(SeedPurpose("transform/1/shuffle"), context: Array(context.utf8), count: count)
            #expect(derived == expected, "count \(count), context of \(context.utf8.count) bytes")
        }
    }

    static let expectedHex = "ae87909966db4657878881a4f11bc7c3d37ba0bb5c64777f943d85f4fde3fae2"

    @Test("Secrets shorter than 32 bytes are rejected; description never shows the bytes")
    func shortSecret() {
        #expect(throws: SecretError.self) { try ServerSecret(bytes: [1, 2, 3]) }
        #expect(!"\(secret)".contains("7"))
        #expect(ServerSecret.generate().rawBytes != ServerSecret.generate().rawBytes)
    }

    @Test("Row hash depends on every element, on the key, and is deterministic")
    func rowHash() {
        let h = RowHash(key: RandomSeed(1, 2, 3, 4))
        let h2 = RowHash(key: RandomSeed(1, 2, 3, 5))
        for n in [1, 7, 8, 9, 384, 2048] {
            var x = (0..<n).map { Float($0) * 0.25 - 3 }
            let base = x.withUnsafeBufferPointer { h.hash($0) }
            #expect(base == x.withUnsafeBufferPointer { h.hash($0) })
            #expect(base != x.withUnsafeBufferPointer { h2.hash($0) })
            for i in Set([0, n / 2, n - 1]) {
                let saved = x[i]
                x[i] = x[i].nextUp
                #expect(x.withUnsafeBufferPointer { h.hash($0) } != base, "changing element \(i) of \(n) left the hash unchanged")
                x[i] = saved
            }
        }
    }
}
