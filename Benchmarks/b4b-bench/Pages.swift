import Foundation
import NumericKernels
#if canImport(Glibc)
import Glibc
#endif

/// What backs the benchmark's large buffers (the row pools, and output buffers of 4 MiB or
/// more) on both sides. NumPy advises the kernel to back its own arrays of 4 MiB or more with
/// transparent huge pages (2 MiB), so its 16 MiB pool of rows is read through a few dozen TLB
/// entries; the same pool on base pages (4 KiB) takes thousands.
enum PageKind: String, Codable, Sendable, CaseIterable {
    /// Both sides advise huge pages (`madvise(MADV_HUGEPAGE)`), as NumPy does by itself; whether
    /// the kernel grants them is its choice (`/sys/kernel/mm/transparent_hugepage/enabled`).
    case huge
    /// Both sides stay on base pages: ours are not advised, and NumPy is told not to advise.
    case base
}

/// Memory for the benchmark's large buffers, advised as a ``PageKind`` says.
enum PageAdvisedMemory {
    /// Buffers from this size on are advised (bytes): NumPy's own threshold, 4 MiB.
    static let threshold = 4 << 20
    /// Alignment of every buffer (bytes): a huge page, so that an advised buffer's pages are
    /// whole huge pages from its start.
    static let alignment = 2 << 20

    /// `bytes` of zeroed memory at a 2 MiB boundary, advised for huge pages when `pages` is
    /// ``PageKind/huge`` and the buffer reaches ``threshold``. The advice comes before the
    /// zeroing, which faults every page in. Free it with ``deallocate(_:)``.
    static func allocate(bytes: Int, pages: PageKind) -> UnsafeMutableRawPointer {
        let size = max(bytes, 1)
        var memory: UnsafeMutableRawPointer?
        let status = posix_memalign(&memory, alignment, size)
        guard status == 0, let memory else { fatalError("cannot allocate \(size) bytes (posix_memalign: \(status))") }
        #if os(Linux)
        if pages == .huge && size >= threshold {
            // Refused (a kernel without transparent huge pages) leaves base pages; the run
            // reports how much it got (`hugePageBytesInUse`).
            _ = madvise(memory, size, Int32(MADV_HUGEPAGE))
        }
        #endif
        memset(memory, 0, size)
        return memory
    }

    static func deallocate(_ memory: UnsafeMutableRawPointer) { free(memory) }

    /// This process's anonymous memory on huge pages (bytes; `AnonHugePages` of
    /// `/proc/self/smaps_rollup`), or nil where the kernel does not say.
    static func hugePageBytesInUse() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("AnonHugePages:") }),
              let kibibytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kibibytes * 1024
    }
}

/// One worker's pool of input rows, uniformly distributed on the unit sphere (queries spread
/// over the whole space), in page-advised memory. Rows
/// start 48 bytes past a cache line, where a large Swift array's elements start (a 16-byte
/// allocation header, then the array's 32-byte one): the pools' place before their pages were
/// chosen, so that the choice changes the pages and nothing else.
final class RowPool: @unchecked Sendable {
    let rows: Int
    let columns: Int
    private let memory: UnsafeMutableRawPointer
    private let start: UnsafeMutablePointer<Float>

    /// Offset of the first row from the buffer's start (bytes).
    static let offset = 48

    init(unitRows rows: Int, columns: Int, seed: UInt64, pages: PageKind) {
        self.rows = rows
        self.columns = columns
        let count = rows * columns
        memory = PageAdvisedMemory.allocate(bytes: Self.offset + count * MemoryLayout<Float>.stride, pages: pages)
        start = (memory + Self.offset).bindMemory(to: Float.self, capacity: count)
        var g = RandomGenerator(seed: RandomSeed(seed, 7, 7, 7))
        let generated = Matrix.gaussian(rows: rows, columns: columns, using: &g).rowsNormalized()
        generated.withUnsafeBufferPointer { source in
            _ = UnsafeMutableBufferPointer(start: start, count: count).update(fromContentsOf: source)
        }
    }

    deinit { PageAdvisedMemory.deallocate(memory) }

    func withView<R>(_ body: (MatrixView) -> R) -> R {
        body(MatrixView(start: start, rows: rows, columns: columns, rowStride: columns))
    }
}
