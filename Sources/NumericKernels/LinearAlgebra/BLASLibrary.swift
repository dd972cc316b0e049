import CBLASShim
internal import CProjectionKernels

/// Which OpenBLAS kernels this process runs, for reports and for a warning when OpenBLAS's
/// run-time CPU detection did not recognise the CPU.
///
/// OpenBLAS built for several CPUs (Debian's is) picks its kernels once, when it is loaded, from
/// the CPU model. A CPU newer than the build falls back to the generic `Prescott` kernels (SSE3),
/// several times slower for every GEMM: the dense affine transform, the binary transform, the
/// portable hashing path. The cure is the environment variable `OPENBLAS_CORETYPE`, set before
/// the process starts (OpenBLAS reads it only at load time); ``suggestedCoreType`` names the value.
public enum BLASLibrary {
    /// OpenBLAS's name for the kernels it chose (for example `Haswell`, `SkylakeX`, `Zen`).
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// OpenBLAS's description of its build (version, options, build target).
    public static var configuration: String { openblas_get_config().map { String(cString: $0) } ?? "unknown" }

    /// Whether OpenBLAS runs its generic kernels on a CPU that has AVX2: it did not recognise
    /// the CPU, and every GEMM runs several times slower than this CPU allows.
    public static var runsGenericKernels: Bool {
        coreName.lowercased() == "prescott" && b4b_projection_level() >= 1
    }

    /// The `OPENBLAS_CORETYPE` value for this CPU's vector extensions when OpenBLAS runs its
    /// generic kernels (`SkylakeX` with AVX-512, `Haswell` with AVX2); nil otherwise.
    public static var suggestedCoreType: String? {
        guard runsGenericKernels else { return nil }
        return b4b_projection_level() >= 2 ? "SkylakeX" : "Haswell"
    }

    /// A one-line warning for ``runsGenericKernels``, naming the fix; nil when there is nothing to warn of.
    public static var genericKernelsWarning: String? {
        guard let core = suggestedCoreType else { return nil }
        return "OpenBLAS did not recognise this CPU and runs its generic Prescott kernels (every GEMM several times slower); "
            + "start the process with OPENBLAS_CORETYPE=\(core)"
    }
}
