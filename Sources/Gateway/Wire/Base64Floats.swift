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
    /// - Complexity: O(n), one pass writing straight into the floats' memory.
    public static func decode(_ text: String, appendingTo out: inout [Float]) -> Int? {
        var text = text
        return text.withUTF8 { utf8 -> Int? in
            var n = utf8.count
            guard n % 4 == 0 else { return nil }
            var padding = 0
            while n > 0 && padding < 2 && utf8[n - 1] == UInt8(ascii: "=") { n -= 1; padding += 1 }
            let byteCount = (utf8.count / 4) * 3 - padding
            guard byteCount % 4 == 0 else { return nil }
            let count = byteCount / 4
            var valid = true
            let floats = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                let bytes = UnsafeMutableRawBufferPointer(buffer).bindMemory(to: UInt8.self)
                reverse.withUnsafeBufferPointer { table in
                    var bad: UInt8 = 0
                    var o = 0
                    var i = 0
                    while i + 4 <= n {
                        let a = table[Int(utf8[i])], b = table[Int(utf8[i + 1])], c = table[Int(utf8[i + 2])], d = table[Int(utf8[i + 3])]
                        bad |= a | b | c | d
                        let v = UInt32(a & 63) << 18 | UInt32(b & 63) << 12 | UInt32(c & 63) << 6 | UInt32(d & 63)
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
                            bad |= x
                            v |= UInt32(x & 63) << UInt32(18 - 6 * k)
                        }
                        bytes[o] = UInt8(truncatingIfNeeded: v >> 16)
                        if rest == 3 { bytes[o + 1] = UInt8(truncatingIfNeeded: v >> 8) }
                    } else if rest != 0 {
                        bad = 0xFF
                    }
                    valid = bad & 0xC0 == 0
                }
                // Float32 values travel little-endian: on a little-endian host the decoded bytes
                // are the floats.
                #if _endian(big)
                for k in 0..<count { buffer[k] = Float(bitPattern: buffer[k].bitPattern.byteSwapped) }
                #endif
                initialized = count
            }
            guard valid else { return nil }
            out.append(contentsOf: floats)
            return count
        }
    }

    /// Appends the quoted base64 of `values` (little-endian float32) to `out`.
    /// - Complexity: O(n), one pass into preallocated memory.
    public static func appendQuoted(_ values: UnsafeBufferPointer<Float>, to out: inout [UInt8]) {
        #if _endian(big)
        let swapped = values.map { Float(bitPattern: $0.bitPattern.byteSwapped) }
        swapped.withUnsafeBufferPointer { appendLittleEndian($0, to: &out) }
        #else
        appendLittleEndian(values, to: &out)
        #endif
    }

    private static func appendLittleEndian(_ values: UnsafeBufferPointer<Float>, to out: inout [UInt8]) {
        let bytes = UnsafeRawBufferPointer(values)
        let byteCount = bytes.count
        let encodedCount = (byteCount + 2) / 3 * 4
        let encoded = [UInt8](unsafeUninitializedCapacity: encodedCount + 2) { buffer, initialized in
            alphabet.withUnsafeBufferPointer { a in
                buffer[0] = UInt8(ascii: "\"")
                var o = 1
                var i = 0
                while i + 3 <= byteCount {
                    let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                    buffer[o] = a[Int(v >> 18)]
                    buffer[o + 1] = a[Int(v >> 12 & 63)]
                    buffer[o + 2] = a[Int(v >> 6 & 63)]
                    buffer[o + 3] = a[Int(v & 63)]
                    o += 4
                    i += 3
                }
                let rest = byteCount - i
                if rest > 0 {
                    let v = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
                    buffer[o] = a[Int(v >> 18)]
                    buffer[o + 1] = a[Int(v >> 12 & 63)]
                    buffer[o + 2] = rest == 2 ? a[Int(v >> 6 & 63)] : UInt8(ascii: "=")
                    buffer[o + 3] = UInt8(ascii: "=")
                    o += 4
                }
                buffer[o] = UInt8(ascii: "\"")
                initialized = o + 1
            }
        }
        out.append(contentsOf: encoded)
    }
}
