import Crypto
import Foundation

/// An API key: `b4b-<id>-<secret>`, where `<id>` (12 lowercase hex digits) names the account
/// and `<secret>` is 32 random bytes in hex.
///
/// The id is the account's user id in the defense (so transforms derive from the server secret
/// and the id, never from the key). Only the SHA-256 of the whole key is stored: a stolen
/// database does not give usable keys, and, the key being 256 random bits, the unsalted hash
/// cannot be reversed by search. The key is shown once, at creation.
public struct APIKey: Sendable, CustomStringConvertible {
    /// The account id (12 lowercase hex digits).
    public let id: String
    /// The full key text. Never log it.
    public let text: String

    /// A fresh key from the system's cryptographic generator.
    public static func generate() -> APIKey {
        var rng = SystemRandomNumberGenerator()
        let idBytes = (0..<6).map { _ in UInt8.random(in: 0 ... .max, using: &rng) }
        let secretBytes = (0..<32).map { _ in UInt8.random(in: 0 ... .max, using: &rng) }
        let id = hex(idBytes)
        return APIKey(id: id, text: "b4b-\(id)-\(hex(secretBytes))")
    }

    private init(id: String, text: String) {
        self.id = id
        self.text = text
    }

    /// The key presented by a client, if it has the key's shape (nil otherwise).
    public init?(presented text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "b4b", parts[1].utf8.count == 12, parts[2].utf8.count == 64,
              parts[1].utf8.allSatisfy(Self.isHex), parts[2].utf8.allSatisfy(Self.isHex) else { return nil }
        self.init(id: String(parts[1]), text: text)
    }

    /// SHA-256 of the key text, hex: what the store keeps.
    public var hash: String { Self.hash(text) }

    /// SHA-256 of `text`, hex.
    public static func hash(_ text: String) -> String { hex(Array(SHA256.hash(data: Array(text.utf8)))) }

    /// Whether this key hashes to `storedHash`, compared in constant time.
    public func matches(storedHash: String) -> Bool {
        let a = Array(hash.utf8), b = Array(storedHash.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// Never prints the key itself.
    public var description: String { "APIKey(id: \(id))" }

    static func isHex(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A stored account: the key's id and hash, never the key.
public struct APIKeyRecord: Sendable, Equatable {
    /// The account id (the user id in the defense).
    public var id: String
    /// SHA-256 of the key, hex.
    public var keyHash: String
    /// A label chosen by the operator.
    public var name: String
    /// When the key was created.
    public var createdAt: Date
    /// When the key was revoked (nil while it is valid).
    public var revokedAt: Date?

    public init(id: String, keyHash: String, name: String, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.keyHash = keyHash
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}
