import Defense
import NumericKernels

extension DefenseSetting {
    /// A fresh defense of this setting for representations of dimension `dimension`, taking
    /// requests of up to `requestRows` rows; nil for no defense.
    func makeDefense(dimension: Int, requestRows: Int, secret: ServerSecret) throws -> B4BDefense? {
        guard var c = configuration else { return nil }
        c.dimension = dimension
        c.maxBatchRows = max(c.maxBatchRows, requestRows)
        return try B4BDefense(configuration: c, secret: secret)
    }
}

/// The four scores of a stolen encoder, in one account's space (see ``SingleAccountStealing``).
struct StolenEncoderScores {
    var fidelity: Double
    var centredFidelity: Double
    var dropInAccuracy: Double
    var stolenProbeAccuracy: Double
}

/// Scores stolen encoders against one account's noiseless answers. Everything that does not
/// depend on the stolen encoder (the references, their mean, the drop-in probe) is computed
/// once, here.
struct StolenEncoderScoring {
    private let heldFeatures: Matrix
    private let reference: Matrix
    private let referenceMean: [Float]
    private let dropInProbe: any RepresentationClassifier
    private let data: StealingData

    /// - Parameters:
    ///   - accountSpace: the account's noiseless view of encoder representations (its
    ///     transform, or the identity without a defense).
    ///   - held: pool rows held out for fidelity.
    init(data: StealingData, held: [Int], accountSpace: (Matrix) -> Matrix, trainClassifier: ClassifierTrainer) throws {
        self.data = data
        heldFeatures = gather(data.poolFeatures, held)
        reference = accountSpace(gather(data.poolRepresentations, held))
        referenceMean = columnMeans(reference)
        dropInProbe = try trainClassifier(accountSpace(data.taskTrainRepresentations), data.taskTrainLabels)
    }

    /// Fidelity and centred fidelity on the held-out texts, drop-in and own-probe accuracy on the task.
    func score(_ surrogate: RidgeSurrogate, trainClassifier: ClassifierTrainer) throws -> StolenEncoderScores {
        let stolen = surrogate.predict(features: heldFeatures)
        let stolenTest = surrogate.predict(features: data.taskTestFeatures)
        let ownProbe = try trainClassifier(surrogate.predict(features: data.taskTrainFeatures), data.taskTrainLabels)
        return StolenEncoderScores(
            fidelity: meanCosineSimilarity(stolen, reference),
            centredFidelity: meanCosineSimilarity(shifted(stolen, by: referenceMean), shifted(reference, by: referenceMean)),
            dropInAccuracy: accuracy(try dropInProbe.predict(stolenTest), data.taskTestLabels),
            stolenProbeAccuracy: accuracy(try ownProbe.predict(stolenTest), data.taskTestLabels))
    }

    /// Plain fidelity of a copy that always answers `answer`.
    func constantFidelity(_ answer: [Float]) -> Double {
        meanCosineSimilarity(Matrix(rows: reference.rows, columns: reference.columns) { _, j in answer[j] }, reference)
    }
}
