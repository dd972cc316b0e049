import Foundation
import NumericKernels

/// Progress of a long run, on standard error so it never mixes with results: a bar redrawn
/// in place when standard error is a terminal, plain lines (at most about 20 per run, plus
/// the last) when it is not, e.g. in CI logs or when redirected to a file.
final class ProgressReporter {
    private let total: Int
    private let title: String
    private let isTerminal: Bool
    private var done = 0
    private var lastPlainStep = -1
    private let started = ContinuousClock.now

    /// - Parameters:
    ///   - title: what is being done (`remap`, `protect`).
    ///   - total: number of steps.
    init(_ title: String, total: Int) {
        self.title = title
        self.total = max(total, 1)
        self.isTerminal = isatty(STDERR_FILENO) != 0
    }

    /// Records `steps` more steps done; `note` says what the last one was.
    func advance(by steps: Int = 1, _ note: String = "") {
        done = min(total, done + steps)
        let elapsed = (ContinuousClock.now - started) / .seconds(1)
        let fraction = Double(done) / Double(total)
        let remaining = done > 0 ? elapsed / fraction - elapsed : 0
        let timing = String(format: "%.0fs elapsed, ~%.0fs left", elapsed, remaining)
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let line = "\r\(title) [\(bar)] \(done)/\(total) \(timing) \(note)"
            // Pad to erase a longer previous line; keep within a typical terminal width.
            emit(String(line.prefix(160)).padding(toLength: 160, withPad: " ", startingAt: 0))
            if done == total { emit("\n") }
        } else {
            let step = Int(fraction * 20)
            guard step != lastPlainStep || done == total else { return }
            lastPlainStep = step
            emit("\(title): \(done)/\(total) (\(timing)) \(note)\n")
        }
    }

    private func emit(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// A message on standard error (warnings and notes that are not results).
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Sets OpenBLAS's thread count for a command (1 where the command serves or protects, as a
/// server would; every core for the single-threaded measurements) and, when OpenBLAS runs its
/// generic kernels on this CPU (``BLASLibrary/genericKernelsWarning``), says so on standard
/// error with the `OPENBLAS_CORETYPE` that fixes it: every GEMM is then several times slower.
func useBLAS(threads: Int) {
    BLASThreads.set(threads)
    if let warning = BLASLibrary.genericKernelsWarning { note("warning: \(warning)") }
}
