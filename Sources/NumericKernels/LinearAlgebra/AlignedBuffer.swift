/// A fixed-size, immutable array of `count` trivial values (floats, half-precision bit
/// patterns) whose first element sits at a 64-byte boundary: a cache line, so that a kernel's
/// 32-byte loads from it never straddle two lines. (A Swift array's elements start 32 bytes
/// into a heap block that is only 16-byte aligned: half the time every other load splits.)
///
/// Filled once by its initializer and never written again, so instances are shared between
/// threads freely.
final class AlignedBuffer<Element: BitwiseCopyable>: @unchecked Sendable {
    /// The byte boundary of the first element.
    static var alignment: Int { 64 }

    private let base: UnsafeMutablePointer<Element>
    let count: Int

    /// `count` elements, each written by `fill` (which must initialize all of them).
    init(count: Int, fill: (UnsafeMutableBufferPointer<Element>) -> Void) {
        precondition(count >= 0, "negative count \(count)")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Element>.stride,
                                                   alignment: Self.alignment)
        base = raw.bindMemory(to: Element.self, capacity: max(count, 1))
        self.count = count
        fill(UnsafeMutableBufferPointer(start: base, count: count))
    }

    /// No elements.
    convenience init() { self.init(count: 0) { _ in } }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    var isEmpty: Bool { count == 0 }

    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }
}
