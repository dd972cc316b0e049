/// Equal-sized bit sets, the dense occupancies of one shard's accounts, packed into large
/// chunks and addressed by block number.
///
/// A dense account's bit sets then cost their own bytes (512 B at 2^12 buckets and one table)
/// and nothing more: as a separate array each set would add a 32 B header and about 16 B of
/// allocator overhead. A freed block is cleared and handed out again before the slab grows;
/// the slab never shrinks (its high-water mark stays resident). (Package access for the tests.)
package struct BitSetSlab: Sendable {
    /// Words (`UInt64`) per block: the occupancy's `T · max(1, 2^k / 64)`.
    package let wordsPerBlock: Int
    /// Blocks per chunk: about 32 KiB of words, at least one block.
    private let blocksPerChunk: Int
    private var chunks: [[UInt64]] = []
    /// Cleared blocks that were handed out and freed.
    private var freeBlocks: [UInt32] = []
    /// Blocks ever handed out from the chunks (the high-water mark).
    private var issued = 0

    /// The largest block number, kept free as a marker for "no block".
    package static let none = UInt32.max

    /// An empty slab of `wordsPerBlock`-word blocks (`wordsPerBlock > 0`).
    package init(wordsPerBlock: Int) {
        precondition(wordsPerBlock > 0, "a bit-set block needs at least one word")
        self.wordsPerBlock = wordsPerBlock
        self.blocksPerChunk = max(1, 4096 / wordsPerBlock)
    }

    /// Blocks currently handed out.
    package var count: Int { issued - freeBlocks.count }

    /// The number of a block whose words are all zero, now owned by the caller.
    package mutating func allocate() -> UInt32 {
        if let block = freeBlocks.popLast() { return block }
        precondition(issued < Int(Self.none), "bit-set slab is full")
        if issued == chunks.count * blocksPerChunk {
            chunks.append([UInt64](repeating: 0, count: blocksPerChunk * wordsPerBlock))
        }
        issued += 1
        return UInt32(issued - 1)
    }

    /// Clears `block` (handed out by ``allocate()``) and takes it back.
    package mutating func free(_ block: UInt32) {
        withBlock(block) { $0.update(repeating: 0) }
        freeBlocks.append(block)
    }

    /// Calls `body` with the words of `block` (handed out by ``allocate()``), to change them.
    @inline(__always)
    package mutating func withBlock<R>(_ block: UInt32, _ body: (UnsafeMutableBufferPointer<UInt64>) -> R) -> R {
        let (chunk, start) = location(block)
        let n = wordsPerBlock
        return chunks[chunk].withUnsafeMutableBufferPointer { words in
            body(UnsafeMutableBufferPointer(rebasing: words[start ..< start + n]))
        }
    }

    /// A copy of the words of `block` (handed out by ``allocate()``).
    package func words(of block: UInt32) -> [UInt64] {
        let (chunk, start) = location(block)
        return Array(chunks[chunk][start ..< start + wordsPerBlock])
    }

    /// Chunk index and first word of `block`.
    private func location(_ block: UInt32) -> (chunk: Int, start: Int) {
        precondition(Int(block) < issued, "bit-set block \(block) was never handed out")
        let b = Int(block)
        return (b / blocksPerChunk, (b % blocksPerChunk) * wordsPerBlock)
    }
}
