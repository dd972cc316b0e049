import Defense

/// One point of the pipeline the benchmark measures: hashing and tracking, then noise, then one
/// transform (each transform stage is noise plus that transform alone), or the default pipeline.
enum Stage: String, CaseIterable, Codable, Sendable {
    /// Validation, LSH hashing (the projection kernel) and occupancy tracking (`track`):
    /// coverage per row, no price (the stage runs without a cost, as NumPy's hash stage and the
    /// reference tracking price nothing), no representations produced.
    case hash = "hash"
    /// + Gaussian noise keyed by (secret, user, row).
    case noise = "noise"
    /// + dense per-user affine transform (one d x d GEMM).
    case affine = "affine"
    /// + per-dimension scale and shift.
    case scaleShift = "scale-shift"
    /// + 64 padded constants and a shuffle of all dimensions.
    case padShuffle = "pad-shuffle"
    /// + 4096 random-hyperplane bits (one d x 4096 GEMM).
    case binary = "binary"
    /// The default configuration (noise + dense affine), as a pipeline embeds it.
    case full = "full"

    /// The defense configuration of this stage at dimension `d`, its LSH normals drawn as
    /// `normals` says (hyperplanes through the origin, as the default configuration).
    func configuration(dimension d: Int, maxBatch: Int, normals: NormalEntries) -> DefenseConfiguration {
        var c = DefenseConfiguration()
        c.dimension = d
        c.hasher = normals == .signs ? .signs(centred: false) : .random(centred: false)
        c.maxBatchRows = max(maxBatch, 1)
        switch self {
        case .hash:
            c.cost = .none
            c.transforms = []
        case .noise: c.transforms = []
        case .affine: c.transforms = [.affine()]
        case .scaleShift: c.transforms = [.scaleShift()]
        case .padShuffle: c.transforms = [.pad(count: 64), .shuffle]
        case .binary: c.transforms = [.binary(outputDimension: 4096)]
        case .full: break
        }
        return c
    }

    /// Useful floating-point operations per row of the stage's GEMMs (hashing plus transform),
    /// nil for the stages whose cost is not dominated by a GEMM.
    func gemmFlopsPerRow(dimension d: Int) -> Double? {
        let hash = 2.0 * Double(d) * 12
        switch self {
        case .affine, .full: return hash + 2.0 * Double(d) * Double(d)
        case .binary: return hash + 2.0 * Double(d) * 4096
        case .hash, .noise, .scaleShift, .padShuffle: return nil
        }
    }

    /// The shape `(d, n)` of the bare sgemm `(B x d)·(d x n)` this stage is compared with.
    func bareShape(dimension d: Int) -> (Int, Int)? {
        switch self {
        case .affine, .full: (d, d)
        case .binary: (d, 4096)
        case .hash: (d, 12)
        case .noise, .scaleShift, .padShuffle: nil
        }
    }

    /// The NumPy counterpart's extra reference points timed alongside this stage: the paper's
    /// reference bucket tracking for hashing, noise keyed per row for the noise.
    var numpyReferences: [String] {
        switch self {
        case .hash: ["hash-reference"]
        case .noise: ["noise-keyed"]
        case .affine, .scaleShift, .padShuffle, .binary, .full: []
        }
    }
}
