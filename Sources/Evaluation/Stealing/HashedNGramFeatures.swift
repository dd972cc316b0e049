import Foundation
import NumericKernels

/// The thief's input features: hashed character n-gram TF-IDF vectors computed from a text
/// alone, the input of the stolen encoder (``RidgeSurrogate``).
///
/// The same kind of features as scikit-learn's
/// `HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=F, alternate_sign=False,
/// norm=None)` followed by `TfidfTransformer(sublinear_tf=True)` (smooth idf, L2 rows), with
/// this project's own, fully specified hash. The recipe, for a text:
///
/// 1. **Lower-casing** (``Configuration/lowercase``): every Unicode scalar is replaced by its
///    full lower-case mapping (Unicode `Lowercase_Mapping`, e.g. `İ` → `i̇`, two scalars),
///    scalar by scalar, without context rules (so `Σ` → `σ` everywhere, no final-sigma rule).
///    No other normalisation (no NFC, no accent stripping).
/// 2. **Words**: maximal runs of scalars that are not whitespace, whitespace being the Unicode
///    `White_Space` property: U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A,
///    U+2028, U+2029, U+202F, U+205F, U+3000. A text without a word (empty, whitespace only)
///    has no n-grams and gives a zero row.
/// 3. **char_wb n-grams**: each word is padded with one space on each side; with `L` the padded
///    length in scalars, its n-grams are all windows of `n` consecutive scalars for each `n` in
///    ``Configuration/ngramLengths`` with `n <= L`; if `L` is below the shortest length, the
///    whole padded word is the one n-gram (scikit-learn's `char_wb` rule). An n-gram is the
///    concatenated UTF-8 bytes of its scalars.
/// 4. **Hashing**: an n-gram goes to column `NGramHash.hash(bytes, seed) mod F`; `c_j` is the
///    number of n-gram occurrences of the text in column `j` (collisions add up, no sign).
/// 5. **Sublinear tf**: `tf_j = 1 + ln(c_j)` where `c_j > 0`, else 0.
/// 6. **idf**, fitted on the training texts only (``fit(texts:configuration:)``): with `n`
///    training texts and `df_j` the number of them with `c_j > 0`,
///    `idf_j = ln((1 + n) / (1 + df_j)) + 1`.
/// 7. **Row**: `x_j = tf_j · idf_j`, divided by its Euclidean norm (a zero row stays zero).
///
/// Computed in Double per row, stored as Float. Single-threaded and allocation-free per row
/// after the first (one scratch analyser per call); the output is dense because the engine's
/// batch type is, although a row has only a few hundred non-zero columns.
public struct HashedNGramFeatures: Sendable {
    /// The recipe's parameters.
    public struct Configuration: Sendable, Equatable {
        /// `F`, the number of columns (hash buckets). Default 4096.
        public var featureCount: Int
        /// The n-gram lengths in Unicode scalars, padding spaces included. Default `2 ... 4`.
        public var ngramLengths: ClosedRange<Int>
        /// Whether texts are lower-cased first (step 1). Default `true`.
        public var lowercase: Bool
        /// The hash seed (``NGramHash``). Default 0.
        public var seed: UInt64

        /// - Precondition: `featureCount >= 1`, `ngramLengths.lowerBound >= 1`.
        public init(featureCount: Int = 4096, ngramLengths: ClosedRange<Int> = 2 ... 4,
                    lowercase: Bool = true, seed: UInt64 = 0) {
            precondition(featureCount >= 1, "HashedNGramFeatures: featureCount must be >= 1, got \(featureCount)")
            precondition(ngramLengths.lowerBound >= 1,
                         "HashedNGramFeatures: n-gram lengths must be >= 1, got \(ngramLengths)")
            self.featureCount = featureCount
            self.ngramLengths = ngramLengths
            self.lowercase = lowercase
            self.seed = seed
        }
    }

    /// The recipe's parameters.
    public let configuration: Configuration
    /// `idf_j` for each of the `F` columns (step 6), at least 1.
    public let inverseDocumentFrequency: [Double]

    /// `F`, the number of feature columns.
    public var featureCount: Int { configuration.featureCount }

    /// A featuriser with explicit idf weights.
    /// - Precondition: `inverseDocumentFrequency.count == configuration.featureCount`.
    public init(configuration: Configuration, inverseDocumentFrequency: [Double]) {
        precondition(inverseDocumentFrequency.count == configuration.featureCount,
                     "HashedNGramFeatures: \(inverseDocumentFrequency.count) idf weights for \(configuration.featureCount) columns")
        self.configuration = configuration
        self.inverseDocumentFrequency = inverseDocumentFrequency
    }

    /// Learns the idf weights (step 6) from the training texts, e.g. the thief's queries.
    /// With no texts every weight is 1.
    /// - Complexity: O(total characters · number of n-gram lengths).
    public static func fit(texts: [String], configuration: Configuration = Configuration()) -> HashedNGramFeatures {
        let f = configuration.featureCount
        var documentFrequency = [Int](repeating: 0, count: f)
        // lastSeen[j] = 1 + the last text index that had column j: counts each text once per column.
        var lastSeen = [Int](repeating: 0, count: f)
        var analyzer = NGramAnalyzer(configuration: configuration)
        for (i, text) in texts.enumerated() {
            analyzer.analyze(text)
            for column in analyzer.columns where lastSeen[column] != i + 1 {
                lastSeen[column] = i + 1
                documentFrequency[column] += 1
            }
        }
        let n = Double(texts.count)
        let idf = documentFrequency.map { log((1 + n) / (1 + Double($0))) + 1 }
        return HashedNGramFeatures(configuration: configuration, inverseDocumentFrequency: idf)
    }

    /// The features of `texts`: an `n x F` matrix, row `i` for `texts[i]`, each row of unit
    /// Euclidean norm or zero (a text without words). Deterministic.
    /// - Complexity: O(total characters · number of n-gram lengths + n · F) (the dense zero fill).
    public func transform(texts: [String]) -> Matrix {
        let f = configuration.featureCount
        var features = Matrix(rows: texts.count, columns: f)
        var analyzer = NGramAnalyzer(configuration: configuration)
        var touched = [Int]()
        var values = [Double]()
        inverseDocumentFrequency.withUnsafeBufferPointer { idf in
            features.withUnsafeMutableBufferPointer { out in
                for (i, text) in texts.enumerated() {
                    analyzer.analyze(text)
                    let row = out.baseAddress! + i * f
                    touched.removeAll(keepingCapacity: true)
                    values.removeAll(keepingCapacity: true)
                    // Counts are small integers, exact in Float.
                    for column in analyzer.columns {
                        if row[column] == 0 { touched.append(column) }
                        row[column] += 1
                    }
                    var squaredNorm = 0.0
                    for column in touched {
                        let value = (1 + log(Double(row[column]))) * idf[column]
                        values.append(value)
                        squaredNorm += value * value
                    }
                    guard squaredNorm > 0 else { continue }
                    let scale = 1 / squaredNorm.squareRoot()
                    for (column, value) in zip(touched, values) { row[column] = Float(value * scale) }
                }
            }
        }
        return features
    }

    /// The column of every n-gram occurrence of `text` (steps 1–4), in order of the words,
    /// then of start position, then of length: what ``transform(texts:)`` counts.
    public func ngramColumns(_ text: String) -> [Int] {
        var analyzer = NGramAnalyzer(configuration: configuration)
        analyzer.analyze(text)
        return analyzer.columns
    }
}

/// Steps 1–4 of the ``HashedNGramFeatures`` recipe with reusable scratch buffers.
struct NGramAnalyzer {
    let featureCount: UInt64
    let minimumLength: Int
    let maximumLength: Int
    let lowercase: Bool
    let seed: UInt64

    /// The columns of the last analysed text's n-grams.
    private(set) var columns: [Int] = []
    /// UTF-8 bytes of the current padded word.
    private var bytes: [UInt8] = []
    /// Start offset in `bytes` of each scalar of the current padded word, then the end offset.
    private var starts: [Int] = []

    init(configuration: HashedNGramFeatures.Configuration) {
        featureCount = UInt64(configuration.featureCount)
        minimumLength = configuration.ngramLengths.lowerBound
        maximumLength = configuration.ngramLengths.upperBound
        lowercase = configuration.lowercase
        seed = configuration.seed
    }

    /// Fills ``columns`` with the columns of `text`'s n-grams.
    mutating func analyze(_ text: String) {
        columns.removeAll(keepingCapacity: true)
        beginWord()
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value < 0x80 {
                if value == 0x20 || (value >= 0x09 && value <= 0x0D) {
                    endWord()
                } else {
                    let isUpper = lowercase && value >= 0x41 && value <= 0x5A
                    append(byte: UInt8(truncatingIfNeeded: isUpper ? value + 0x20 : value))
                }
            } else if Self.isNonASCIIWhitespace(value) {
                endWord()
            } else if lowercase && scalar.properties.changesWhenLowercased {
                for lower in scalar.properties.lowercaseMapping.unicodeScalars { append(scalar: lower) }
            } else {
                append(scalar: scalar)
            }
        }
        endWord()
    }

    /// The non-ASCII scalars with the Unicode `White_Space` property.
    private static func isNonASCIIWhitespace(_ value: UInt32) -> Bool {
        switch value {
        case 0x85, 0xA0, 0x1680, 0x2000 ... 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }

    private mutating func beginWord() {
        bytes.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        append(byte: 0x20)
    }

    private mutating func append(byte: UInt8) {
        starts.append(bytes.count)
        bytes.append(byte)
    }

    private mutating func append(scalar: Unicode.Scalar) {
        starts.append(bytes.count)
        for unit in UTF8.encode(scalar)! { bytes.append(unit) }
    }

    /// Pads the current word, appends its n-grams' columns and starts a new word. Does nothing
    /// when the word is empty (only the leading pad).
    private mutating func endWord() {
        guard starts.count > 1 else { return }
        append(byte: 0x20)
        starts.append(bytes.count)
        let length = starts.count - 1
        bytes.withUnsafeBufferPointer { bytes in
            starts.withUnsafeBufferPointer { starts in
                if length < minimumLength {
                    // scikit-learn's char_wb: a padded word shorter than every n-gram is one n-gram.
                    var state = NGramHash.initialState(seed: seed)
                    for byte in bytes { NGramHash.absorb(byte, into: &state) }
                    columns.append(Int(NGramHash.finalize(state) % featureCount))
                    return
                }
                for first in 0 ..< length {
                    var state = NGramHash.initialState(seed: seed)
                    for n in 1 ... min(maximumLength, length - first) {
                        for k in starts[first + n - 1] ..< starts[first + n] { NGramHash.absorb(bytes[k], into: &state) }
                        if n >= minimumLength { columns.append(Int(NGramHash.finalize(state) % featureCount)) }
                    }
                }
            }
        }
        beginWord()
    }
}
