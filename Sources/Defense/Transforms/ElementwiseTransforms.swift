import NumericKernels

/// The per-dimension affine transform `y_j = s_j x_j + b_j` (the O(d) variant of
/// ``AffineTransform``): scales log-uniform in a bounded range, translations uniform.
public struct ScaleShiftTransform: RepresentationTransform {
    /// Per-dimension scales `s`.
    public let scales: [Float]
    /// Per-dimension translations `b` (representation units).
    public let shifts: [Float]

    public var inputDimension: Int { scales.count }
    public var outputDimension: Int { scales.count }
    public var byteCount: Int { scales.count * 8 }
    public var isRowLocal: Bool { true }

    /// Derives the transform from `seed`.
    public init(dimension d: Int, scaleRange: ClosedRange<Float>, translation: Float, seed: RandomSeed) {
        var generator = RandomGenerator(seed: seed)
        scales = randomScales(count: d, range: scaleRange, generator: &generator)
        shifts = randomSymmetric(count: d, magnitude: translation, generator: &generator)
    }

    public func apply(_ input: MatrixView, into output: MutableMatrixView) {
        checkShapes(input, output)
        let d = inputDimension
        scales.withUnsafeBufferPointer { s in
            shifts.withUnsafeBufferPointer { b in
                for i in 0..<input.rows {
                    let (x, y) = (input.row(i), output.row(i))
                    for j in 0..<d { y[j] = s[j] * x[j] + b[j] }
                }
            }
        }
    }
}

/// Padding: `p` constant dimensions appended after the representation (`y = [x, c]`).
/// The constants carry no information, so utility is untouched, but the output
/// dimension and layout differ from the encoder's.
public struct PadTransform: RepresentationTransform, GatherTransform {
    /// The appended constants (representation units).
    public let constants: [Float]
    public let inputDimension: Int
    public var outputDimension: Int { inputDimension + constants.count }
    public var byteCount: Int { constants.count * 4 }
    public var isRowLocal: Bool { true }
    var map: GatherMap {
        var sources = [Int32]()
        sources.reserveCapacity(inputDimension + constants.count)
        for j in 0..<inputDimension { sources.append(Int32(j)) }
        for k in 0..<constants.count { sources.append(Int32(-k - 1)) }
        return GatherMap(sources: sources, constants: constants, inputDimension: inputDimension)
    }

    /// Derives `count` constants uniform in `[-magnitude, magnitude]` from `seed`.
    public init(dimension d: Int, count: Int, magnitude: Float, seed: RandomSeed) {
        var generator = RandomGenerator(seed: seed)
        inputDimension = d
        constants = randomSymmetric(count: count, magnitude: magnitude, generator: &generator)
    }

    public func apply(_ input: MatrixView, into output: MutableMatrixView) {
        checkShapes(input, output)
        let d = inputDimension
        constants.withUnsafeBufferPointer { c in
            for i in 0..<input.rows {
                let y = output.row(i).baseAddress!
                if d > 0 { y.update(from: input.row(i).baseAddress!, count: d) }
                if !c.isEmpty { (y + d).update(from: c.baseAddress!, count: c.count) }
            }
        }
    }
}

/// A gather `y_j = x[source_j]` where `source_j < 0` means "the constant `constants[-source_j - 1]`".
/// Padding, add-constants and shuffle are all expressed with it, so consecutive stages of
/// these kinds compose into one gather (``composed(after:)``): one pass instead of several.
struct GatherMap: Sendable {
    let sources: [Int32]
    let constants: [Float]
    let inputDimension: Int
    // The gather in two branch-free passes straight from the input row: every output takes
    // `x[inputSources[j]]` (a constant's slot takes x[0] for now), then the constants' slots
    // are overwritten (`constantSlots[k]` receives `constantValues[k]`).
    private let inputSources: [Int32]
    private let constantSlots: [Int32]
    private let constantValues: [Float]

    init(sources: [Int32], constants: [Float], inputDimension d: Int) {
        self.sources = sources
        self.constants = constants
        self.inputDimension = d
        var inputSources = [Int32](repeating: 0, count: sources.count)
        var constantSlots = [Int32](), constantValues = [Float]()
        constantSlots.reserveCapacity(constants.count)
        constantValues.reserveCapacity(constants.count)
        sources.withUnsafeBufferPointer { src in
            inputSources.withUnsafeMutableBufferPointer { out in
                for j in src.indices {
                    let s = src[j]
                    if s >= 0 {
                        out[j] = s
                    } else {
                        constantSlots.append(Int32(j))
                        constantValues.append(constants[Int(-s - 1)])
                    }
                }
            }
        }
        self.inputSources = inputSources
        self.constantSlots = constantSlots
        self.constantValues = constantValues
    }

    func apply(_ input: MatrixView, into output: MutableMatrixView) {
        let (d, m) = (inputDimension, sources.count)
        precondition(input.columns == d, "gather expects \(d) columns, got \(input.columns)")
        inputSources.withUnsafeBufferPointer { src in
            constantSlots.withUnsafeBufferPointer { slots in
                constantValues.withUnsafeBufferPointer { values in
                    for i in 0..<input.rows {
                        let y = output.row(i).baseAddress!
                        if d > 0 {
                            let x = input.row(i).baseAddress!
                            for j in 0..<m { y[j] = x[Int(src[j])] }
                        }
                        for k in 0..<slots.count { y[Int(slots[k])] = values[k] }
                    }
                }
            }
        }
    }

    /// The single gather equal to applying `first`, then `self`.
    func composed(after first: GatherMap) -> GatherMap {
        var constants = first.constants
        var sources = [Int32](repeating: 0, count: self.sources.count)
        self.sources.withUnsafeBufferPointer { outer in
            first.sources.withUnsafeBufferPointer { inner in
                sources.withUnsafeMutableBufferPointer { out in
                    for j in outer.indices {
                        let s = outer[j]
                        if s >= 0 {
                            out[j] = inner[Int(s)]
                        } else {
                            constants.append(self.constants[Int(-s - 1)])
                            out[j] = Int32(-constants.count)
                        }
                    }
                }
            }
        }
        return GatherMap(sources: sources, constants: constants, inputDimension: first.inputDimension)
    }
}

/// A stage that is a pure gather (padding, constants, shuffle).
protocol GatherTransform: RepresentationTransform {
    var map: GatherMap { get }
}

/// Several consecutive gather stages fused into one pass (built by the pipeline derivation).
public struct FusedGatherTransform: RepresentationTransform {
    let map: GatherMap
    public let inputDimension: Int
    public var outputDimension: Int { map.sources.count }
    public var byteCount: Int { map.sources.count * 4 + map.constants.count * 4 }
    public var isRowLocal: Bool { true }

    init(_ map: GatherMap, inputDimension: Int) {
        self.map = map
        self.inputDimension = inputDimension
    }

    public func apply(_ input: MatrixView, into output: MutableMatrixView) {
        checkShapes(input, output)
        map.apply(input, into: output)
    }
}

extension FusedGatherTransform: GatherTransform {}

/// Replaces each run of consecutive gather stages by one ``FusedGatherTransform``
/// (same output, one pass over the data instead of one per stage).
func fusingGathers(_ stages: [any RepresentationTransform]) -> [any RepresentationTransform] {
    var result: [any RepresentationTransform] = []
    for stage in stages {
        if let g = stage as? any GatherTransform, let previous = result.last as? any GatherTransform {
            result[result.count - 1] = FusedGatherTransform(g.map.composed(after: previous.map), inputDimension: previous.inputDimension)
        } else {
            result.append(stage)
        }
    }
    return result
}

/// Constants inserted at random positions: the output has `d + p` dimensions, `p` of them
/// (at secret positions) constants, the rest the representation in its original order.
public struct AddConstantsTransform: RepresentationTransform, GatherTransform {
    let map: GatherMap
    public let inputDimension: Int
    public var outputDimension: Int { map.sources.count }
    public var byteCount: Int { map.sources.count * 4 + map.constants.count * 4 }
    public var isRowLocal: Bool { true }
    /// Output positions holding constants, ascending.
    public var constantPositions: [Int] { map.sources.indices.filter { map.sources[$0] < 0 } }

    /// Derives positions and constants (uniform in `[-magnitude, magnitude]`) from `seed`.
    public init(dimension d: Int, count: Int, magnitude: Float, seed: RandomSeed) {
        var generator = RandomGenerator(seed: seed)
        let constants = randomSymmetric(count: count, magnitude: magnitude, generator: &generator)
        // Choose which of the d + p output slots hold constants: a random subset of size p.
        var slots = Array(0..<(d + count))
        generator.shuffle(&slots)
        var isConstant = [Bool](repeating: false, count: d + count)
        for s in slots.prefix(count) { isConstant[s] = true }
        var sources = [Int32]()
        sources.reserveCapacity(d + count)
        var (next, nextConstant) = (0, 0)
        for slot in 0..<(d + count) {
            if isConstant[slot] {
                nextConstant += 1
                sources.append(Int32(-nextConstant))
            } else {
                sources.append(Int32(next))
                next += 1
            }
        }
        inputDimension = d
        map = GatherMap(sources: sources, constants: constants, inputDimension: d)
    }

    public func apply(_ input: MatrixView, into output: MutableMatrixView) {
        checkShapes(input, output)
        map.apply(input, into: output)
    }
}

/// A secret permutation of the dimensions: `y_j = x[π(j)]`.
public struct ShuffleTransform: RepresentationTransform, GatherTransform {
    let map: GatherMap
    public var inputDimension: Int { map.sources.count }
    public var outputDimension: Int { map.sources.count }
    public var byteCount: Int { map.sources.count * 4 }
    public var isRowLocal: Bool { true }
    /// The permutation `π`: output dimension `j` is input dimension `permutation[j]`.
    public var permutation: [Int] { map.sources.map(Int.init) }

    /// Derives a uniformly random permutation from `seed`.
    public init(dimension d: Int, seed: RandomSeed) {
        var generator = RandomGenerator(seed: seed)
        var p = [Int32](repeating: 0, count: d)
        for j in 0..<d { p[j] = Int32(j) }
        generator.shuffle(&p)
        map = GatherMap(sources: p, constants: [], inputDimension: d)
    }

    public func apply(_ input: MatrixView, into output: MutableMatrixView) {
        checkShapes(input, output)
        map.apply(input, into: output)
    }
}

/// The binary transform: `m` random hyperplanes through a centre, output bit `j` (as 0 or 1)
/// is whether the representation lies above hyperplane `j`. A longer output keeps more of
/// the representation's geometry (angles are preserved in expectation); computed with one GEMM.
public struct BinaryTransform: RepresentationTransform {
    /// `d x m` hyperplane normals.
    public let normals: Matrix
    /// `m` thresholds (`centre · normal_j`).
    public let thresholds: [Float]
    public var inputDimension: Int { normals.rows }
    public var outputDimension: Int { normals.columns }
    public var byteCount: Int { normals.elements.count * 4 + thresholds.count * 4 }
    public var isRowLocal: Bool { false }

    /// Derives `outputDimension` Gaussian hyperplanes through `centre` (the origin if nil) from `seed`.
    public init(dimension d: Int, outputDimension m: Int, centre: [Float]?, seed: RandomSeed) {
        var generator = RandomGenerator(seed: seed)
        var n = Matrix(rows: d, columns: m)
        n.withUnsafeMutableBufferPointer { generator.fillGaussian($0) }
        normals = n
        if let centre {
            thresholds = Matrix.product(Matrix(rows: 1, columns: d, elements: centre), n).elements
        } else {
            thresholds = [Float](repeating: 0, count: m)
        }
    }

    public func apply(_ input: MatrixView, into output: MutableMatrixView) {
        checkShapes(input, output)
        normals.withView { h in
            if input.rows < smallBatchRows {
                for i in 0..<input.rows { gemv(h, .transpose, input.row(i), into: output.row(i)) }
            } else {
                gemm(input, .none, h, .none, into: output)
            }
        }
        let m = outputDimension
        thresholds.withUnsafeBufferPointer { t in
            for i in 0..<output.rows {
                let y = output.row(i)
                for j in 0..<m { y[j] = y[j] > t[j] ? 1 : 0 }
            }
        }
    }
}
