import NumericKernels

/// Block 3 of B4B: a utility-preserving map applied to one account's representations,
/// different for every account, so that answers from several (sybil) accounts cannot be
/// pooled without first learning a remapping between them.
///
/// Implementations are immutable once derived and safe to share between threads.
public protocol RepresentationTransform: Sendable {
    /// Dimension of the rows it accepts.
    var inputDimension: Int { get }
    /// Dimension of the rows it produces.
    var outputDimension: Int { get }
    /// Transforms a batch: `input` is `B x inputDimension`, `output` is `B x outputDimension`
    /// (distinct memory).
    func apply(_ input: MatrixView, into output: MutableMatrixView)
    /// Approximate memory held by the transform's parameters, in bytes (for cache accounting).
    var byteCount: Int { get }
    /// Whether each output row depends on its input row alone through O(d) work, so a large
    /// batch is best processed in small cache-resident blocks of rows. False for the GEMM
    /// transforms, which are most efficient on the whole batch at once.
    var isRowLocal: Bool { get }
}

extension RepresentationTransform {
    /// Transforms a batch into a new matrix.
    public func apply(_ input: Matrix) -> Matrix {
        var output = Matrix(rows: input.rows, columns: outputDimension)
        input.withView { i in output.withMutableView { apply(i, into: $0) } }
        return output
    }

    @inlinable
    func checkShapes(_ input: MatrixView, _ output: MutableMatrixView) {
        precondition(input.columns == inputDimension, "\(Self.self): input has \(input.columns) columns, expected \(inputDimension)")
        precondition(output.columns == outputDimension, "\(Self.self): output has \(output.columns) columns, expected \(outputDimension)")
        precondition(output.rows == input.rows, "\(Self.self): \(input.rows) input rows but \(output.rows) output rows")
    }
}

/// Transforms applied one after the other (the paper's compositions, e.g. affine + pad + shuffle).
public struct TransformPipeline: RepresentationTransform {
    /// The stages, applied first to last.
    public let stages: [any RepresentationTransform]
    public let inputDimension: Int
    public let outputDimension: Int

    /// A pipeline over `stages` (each stage's input dimension must be the previous one's output).
    public init(stages: [any RepresentationTransform], inputDimension: Int) {
        var d = inputDimension
        for (i, s) in stages.enumerated() {
            precondition(s.inputDimension == d, "stage \(i) accepts \(s.inputDimension) columns, previous stage gives \(d)")
            d = s.outputDimension
        }
        self.stages = stages
        self.inputDimension = inputDimension
        self.outputDimension = d
    }

    public var byteCount: Int { stages.reduce(0) { $0 + $1.byteCount } }
    public var isRowLocal: Bool { stages.allSatisfy(\.isRowLocal) }

    public func apply(_ input: MatrixView, into output: MutableMatrixView) {
        checkShapes(input, output)
        guard !stages.isEmpty else {
            output.copy(from: input)
            return
        }
        // Intermediate results in scratch matrices allocated once per batch (not zeroed:
        // every stage writes all of its output).
        var previous: Matrix?
        for (k, stage) in stages.enumerated() {
            let isLast = k == stages.count - 1
            var next = isLast ? nil : Matrix(uninitializedRows: input.rows, columns: stage.outputDimension)
            func run(_ source: MatrixView) {
                if isLast { stage.apply(source, into: output) } else { next!.withMutableView { stage.apply(source, into: $0) } }
            }
            if let previous { previous.withView(run) } else { run(input) }
            previous = next
        }
    }
}
