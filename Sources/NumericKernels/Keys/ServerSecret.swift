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

    private let bytes: [UInt8]
    /// HMAC-SHA256 keyed with the HKDF pseudorandom key, its key pads hashed once: every
    /// derivation starts from a copy.
    private let keyed: KeyedHMAC

    /// A secret from stored bytes.
    /// - Throws: ``SecretError`` when fewer than ``minimumByteCount`` bytes are given.
    public init(bytes: [UInt8]) throws {
        guard bytes.count >= Self.minimumByteCount else {
            throw SecretError(message: "server secret must be at least \(Self.minimumByteCount) bytes, got \(bytes.count)")
        }
        self.bytes = bytes
        // HKDF-Extract once; each derivation is then one HKDF-Expand.
        let prk = HKDF<SHA256>.extract(inputKeyMaterial: SymmetricKey(data: bytes), salt: Array("b4b.v1".utf8))
        self.keyed = KeyedHMAC(hmac: HMAC<SHA256>(key: SymmetricKey(data: prk.withUnsafeBytes { Array($0) })))
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
    /// context from being confused with a longer purpose. The expansion is RFC 5869's
    /// `T(n) = HMAC(PRK, T(n - 1) | info | n)`, computed from the pre-keyed HMAC (the same
    /// bytes as `HKDF<SHA256>.expand`, without re-hashing the key's pads per call).
    /// - Precondition: `count` in 1...8160 (255 blocks of 32 bytes, HKDF's limit).
    public func derive(_ purpose: SeedPurpose, context: some Sequence<UInt8>, count: Int = 32) -> [UInt8] {
        precondition((1...255 * 32).contains(count), "HKDF-SHA256 derives 1...8160 bytes, asked for \(count)")
        var info = Array("b4b/".utf8)
        info.append(contentsOf: purpose.rawValue.utf8)
        info.append(0)
        info.append(contentsOf: context)
        var output: [UInt8] = []
        output.reserveCapacity(count)
        var previous: [UInt8] = []
        var block: UInt8 = 1
        while output.count < count {
            var mac = keyed.hmac
            mac.update(data: previous)
            mac.update(data: info)
            mac.update(data: [block])
            previous = mac.finalize().withUnsafeBytes { Array($0) }
            output.append(contentsOf: previous.prefix(count - output.count))
            block &+= 1
        }
        return output
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

/// The pre-keyed HMAC, shareable between threads: `HMAC<SHA256>` is a value type whose hash
/// states are copy-on-write (swift-crypto copies a state before mutating it unless uniquely
/// referenced), so copies taken from this immutable value on any number of threads never
/// mutate what they share. swift-crypto does not mark it `Sendable`, hence the unchecked
/// conformance.
private struct KeyedHMAC: @unchecked Sendable {
    let hmac: HMAC<SHA256>
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
