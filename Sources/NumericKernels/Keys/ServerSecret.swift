import Crypto

/// The server's secret: the root of every per-user random choice (hyperplanes,
/// transforms, noise streams).
///
/// Everything random in the defense is derived from `(secret, user, purpose)` with
/// HKDF-SHA256 (RFC 5869), so the same triple always gives the same stream (a
/// restart or a second replica agrees with the first) while nobody without the
/// secret can predict any of them. Keep it out of logs; persist it with
/// ``rawBytes`` in storage only the server can read.
public struct ServerSecret: Sendable {
    /// Minimum accepted length in bytes (256 bits).
    public static let minimumByteCount = 32

    private let pseudoRandomKey: [UInt8]
    private let bytes: [UInt8]

    /// A secret from stored bytes.
    /// - Throws: ``SecretError`` when fewer than ``minimumByteCount`` bytes are given.
    public init(bytes: [UInt8]) throws {
        guard bytes.count >= Self.minimumByteCount else {
            throw SecretError(message: "server secret must be at least \(Self.minimumByteCount) bytes, got \(bytes.count)")
        }
        self.bytes = bytes
        // HKDF-Extract once; each derivation is then one HKDF-Expand (a few HMACs).
        let prk = HKDF<SHA256>.extract(inputKeyMaterial: SymmetricKey(data: bytes), salt: Array("b4b.v1".utf8))
        self.pseudoRandomKey = prk.withUnsafeBytes { Array($0) }
    }

    /// A fresh secret of 32 bytes from the system's cryptographic generator.
    public static func generate() -> ServerSecret {
        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Array($0) }
        // 32 bytes always satisfy the length check.
        return try! ServerSecret(bytes: bytes)
    }

    /// The secret's bytes, for persisting it. Never log them.
    public var rawBytes: [UInt8] { bytes }

    /// `count` bytes derived from `(secret, purpose, context)`.
    ///
    /// `info = "b4b/" + purpose + 0x00 + context`: the zero byte keeps a purpose and a
    /// context from being confused with a longer purpose.
    public func derive(_ purpose: SeedPurpose, context: some Sequence<UInt8>, count: Int = 32) -> [UInt8] {
        var info = Array("b4b/".utf8) + Array(purpose.rawValue.utf8)
        info.append(0)
        info.append(contentsOf: context)
        let key = HKDF<SHA256>.expand(pseudoRandomKey: SymmetricKey(data: pseudoRandomKey), info: info, outputByteCount: count)
        return key.withUnsafeBytes { Array($0) }
    }

    /// The seed of the random stream for `purpose` and `user`.
    /// - Complexity: one HKDF-Expand (two HMAC-SHA256 blocks); cache it when it is on a hot path.
    public func seed(_ purpose: SeedPurpose, user: String) -> RandomSeed {
        RandomSeed(bytes: derive(purpose, context: Array(user.utf8)))
    }

    /// The seed of a server-wide stream for `purpose` (not tied to a user).
    public func seed(_ purpose: SeedPurpose) -> RandomSeed {
        RandomSeed(bytes: derive(purpose, context: [UInt8]()))
    }
}

extension ServerSecret: CustomStringConvertible {
    /// Never prints the secret itself.
    public var description: String { "ServerSecret(<redacted>)" }
}

/// A bad server secret.
public struct SecretError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// What a derived random stream is used for; distinct purposes give independent streams.
public struct SeedPurpose: RawRepresentable, Hashable, Sendable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
}
