import Foundation
import NumericKernels

/// Reads the NumPy fixtures committed beside the tests (written by
/// `Tests/Fixtures/make_fixtures.py`). Minimal `.npy` reading: little-endian `<f4`, `<f8`,
/// `<i8`, C order, format versions 1 and 2 — exactly what the fixture script writes.
public enum Fixture {
    /// An array read from a fixture: its shape and its values as Double.
    public struct Array: Sendable {
        public let shape: [Int]
        public let values: [Double]

        /// As a float matrix (2-D, or 1-D as one row).
        public var matrix: Matrix {
            let (r, c) = shape.count == 2 ? (shape[0], shape[1]) : (1, shape.first ?? 0)
            return Matrix(rows: r, columns: c, elements: values.map { Float($0) })
        }
        public var floats: [Float] { values.map { Float($0) } }
        public var ints: [Int] { values.map { Int($0) } }
    }

    /// Loads `name` (e.g. `"lsh_batch.npy"`) from the `Fixtures` folder of the calling test target.
    public static func load(_ name: String, filePath: StaticString = #filePath) throws -> Array {
        let directory = URL(fileURLWithPath: "\(filePath)").deletingLastPathComponent().appendingPathComponent("Fixtures")
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try parse(data, name: name)
    }

    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    static func parse(_ data: Data, name: String) throws -> Array {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, String(decoding: bytes[1..<6], as: UTF8.self) == "NUMPY" else {
            throw FormatError(description: "\(name): not an .npy file")
        }
        let major = bytes[6]
        let (headerLength, headerStart): (Int, Int) = major == 1
            ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
            : (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12)
        let header = String(decoding: bytes[headerStart ..< headerStart + headerLength], as: UTF8.self)
        guard !header.contains("'fortran_order': True") else { throw FormatError(description: "\(name): Fortran order") }
        guard let descrRange = header.range(of: "'descr': '"),
              let shapeOpen = header.range(of: "'shape': ("),
              let shapeClose = header.range(of: ")", range: shapeOpen.upperBound ..< header.endIndex) else {
            throw FormatError(description: "\(name): malformed header \(header)")
        }
        let descr = String(header[descrRange.upperBound...].prefix(3))
        let shape = header[shapeOpen.upperBound ..< shapeClose.lowerBound]
            .split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = headerStart + headerLength
        var values = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                switch descr {
                case "<f4": values[i] = Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: body + 4 * i, as: UInt32.self)))
                case "<f8": values[i] = Double(bitPattern: raw.loadUnaligned(fromByteOffset: body + 8 * i, as: UInt64.self))
                case "<i8": values[i] = Double(raw.loadUnaligned(fromByteOffset: body + 8 * i, as: Int64.self))
                default: break
                }
            }
        }
        guard ["<f4", "<f8", "<i8"].contains(descr) else { throw FormatError(description: "\(name): unsupported dtype \(descr)") }
        guard bytes.count >= body + count * (descr == "<f4" ? 4 : 8) else { throw FormatError(description: "\(name): truncated") }
        return Array(shape: shape, values: values)
    }
}
