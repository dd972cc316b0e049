import CBLASShim

/// The number of threads OpenBLAS may use inside one call.
///
/// This is process-wide state owned by OpenBLAS, not by the engine: setting it
/// affects every BLAS/LAPACK call in the process. The engine's threading model
/// (see the README) is that a host calling from several threads at once keeps
/// this at 1, so parallelism comes from the host's threads and BLAS never
/// oversubscribes the cores; a single-threaded host may raise it.
public enum BLASThreads {
    /// The current OpenBLAS thread count.
    public static var count: Int { Int(openblas_get_num_threads()) }

    /// Sets the OpenBLAS thread count. OpenBLAS caps it at the number of threads it was built
    /// for (``processorCount`` or its build's maximum).
    /// - Precondition: `n` in 1...`Int32.max`.
    public static func set(_ n: Int) {
        precondition((1...Int(Int32.max)).contains(n), "BLAS thread count must be in 1...\(Int32.max), got \(n)")
        openblas_set_num_threads(Int32(n))
    }

    /// Number of processors OpenBLAS detected.
    public static var processorCount: Int { Int(openblas_get_num_procs()) }
}
