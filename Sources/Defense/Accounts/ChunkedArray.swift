/// An append-only-at-the-end array stored in fixed-size chunks, for per-account arrays that grow
/// to millions of elements: growing never copies or frees earlier elements, so it leaves no
/// freed-but-resident blocks behind (a doubling array copies itself about as many bytes as it
/// holds, and the blocks it frees stay resident until reused), and at most one chunk is partly
/// empty. (Package access for the tests.)
package struct ChunkedArray<Element>: Sendable where Element: Sendable {
    /// Elements per chunk (a power of two).
    private let chunkShift: Int
    private var chunks: [[Element]] = []
    /// Number of elements.
    package private(set) var count = 0

    /// An empty array in chunks of `2^chunkShift` elements.
    package init(chunkShift: Int) {
        precondition((0...24).contains(chunkShift), "chunks of 2^0 to 2^24 elements")
        self.chunkShift = chunkShift
    }

    /// Element `i` (`0 <= i < count`).
    package subscript(i: Int) -> Element {
        get { chunks[i >> chunkShift][i & ((1 << chunkShift) - 1)] }
        _modify { yield &chunks[i >> chunkShift][i & ((1 << chunkShift) - 1)] }
    }

    /// Adds `element` at the end.
    package mutating func append(_ element: Element) {
        if count == chunks.count << chunkShift {
            var chunk = [Element]()
            chunk.reserveCapacity(1 << chunkShift)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(element)
        count += 1
    }

    /// Removes the last element (the array is not empty); frees its chunk when it empties.
    package mutating func removeLast() {
        chunks[chunks.count - 1].removeLast()
        if chunks[chunks.count - 1].isEmpty { chunks.removeLast() }
        count -= 1
    }

    /// Exchanges elements `i` and `j`.
    package mutating func swapAt(_ i: Int, _ j: Int) {
        guard i != j else { return }
        let a = self[i]
        self[i] = self[j]
        self[j] = a
    }
}
