/// Base64 (RFC 4648, standard alphabet, padded) of little-endian float32 vectors: the
/// OpenAI `encoding_format: "base64"` representation of an embedding.
public enum Base64Floats {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    /// Decodes `text` into float32 values appended to `out`.
    /// - Returns: the number of floats decoded, or nil when the text is not base64 or its
    ///   length is not a whole number of float32 values.
    public static func decode(_ text: String, appendingTo out: inout [Float]) -> Int? {
        var text = text
        return text.withUTF8 { utf8 -> Int? in
            var n = utf8.count
            guard n % 4 == 0 else { return nil }
            var padding = 0
            while n > 0 && padding < 2 && utf8[n - 1] == UInt8(ascii: "=") { n -= 1; padding += 1 }
            let byteCount = (utf8.count / 4) * 3 - padding
            guard byteCount % 4 == 0 else { return nil }
            var bytes = [UInt8](repeating: 0, count: byteCount + 3)
            var o = 0
            var i = 0
            return reverse.withUnsafeBufferPointer { table -> Int? in
                while i + 4 <= n {
                    let a = table[Int(utf8[i])], b = table[Int(utf8[i + 1])], c = table[Int(utf8[i + 2])], d = table[Int(utf8[i + 3])]
                    guard (a | b | c | d) & 0xC0 == 0 else { return nil }
                    let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    bytes[o] = UInt8(truncatingIfNeeded: v >> 16)
                    bytes[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    bytes[o + 2] = UInt8(truncatingIfNeeded: v)
                    o += 3
                    i += 4
                }
                let rest = n - i
                if rest == 2 || rest == 3 {
                    var v: UInt32 = 0
                    for k in 0..<rest {
                        let x = table[Int(utf8[i + k])]
                        guard x & 0xC0 == 0 else { return nil }
                        v |= UInt32(x) << UInt32(18 - 6 * k)
                    }
                    bytes[o] = UInt8(truncatingIfNeeded: v >> 16)
                    if rest == 3 { bytes[o + 1] = UInt8(truncatingIfNeeded: v >> 8) }
                } else if rest != 0 {
                    return nil
                }
                let count = byteCount / 4
                out.reserveCapacity(out.count + count)
                for k in 0..<count {
                    let bits = UInt32(bytes[4 * k]) | UInt32(bytes[4 * k + 1]) << 8 | UInt32(bytes[4 * k + 2]) << 16 | UInt32(bytes[4 * k + 3]) << 24
                    out.append(Float(bitPattern: bits))
                }
                return count
            }
        }
    }

    /// Appends the quoted base64 of `values` (little-endian float32) to `out`.
    public static func appendQuoted(_ values: UnsafeBufferPointer<Float>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let byteCount = values.count * 4
        out.reserveCapacity(out.count + (byteCount + 2) / 3 * 4 + 1)
        func byte(_ i: Int) -> UInt32 {
            UInt32(truncatingIfNeeded: values[i >> 2].bitPattern.littleEndian >> (UInt32(i & 3) * 8)) & 0xFF
        }
        alphabet.withUnsafeBufferPointer { a in
            var i = 0
            while i + 3 <= byteCount {
                let v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2)
                out.append(a[Int(v >> 18)]); out.append(a[Int(v >> 12 & 63)])
                out.append(a[Int(v >> 6 & 63)]); out.append(a[Int(v & 63)])
                i += 3
            }
            let rest = byteCount - i
            if rest == 1 {
                let v = byte(i) << 16
                out.append(a[Int(v >> 18)]); out.append(a[Int(v >> 12 & 63)])
                out.append(UInt8(ascii: "=")); out.append(UInt8(ascii: "="))
            } else if rest == 2 {
                let v = byte(i) << 16 | byte(i + 1) << 8
                out.append(a[Int(v >> 18)]); out.append(a[Int(v >> 12 & 63)])
                out.append(a[Int(v >> 6 & 63)]); out.append(UInt8(ascii: "="))
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
