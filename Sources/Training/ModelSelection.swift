// Model selection on a validation set carved from the training split (`--val-split`): after every
// epoch the model is evaluated there, the checkpoint with the best validation top-1 is kept as the
// run's `best` one, and with `--patience N` a phase ends after N epochs without a better top-1 — the
// official WaveMix recipe: AdamW (or Lion) until the plateau, then SGD from the best weights until
// the next one. The test set is evaluated once, at the end, on the selected model.
import Data
import WaveMix

public struct ModelSelection: Codable, Equatable, Sendable {
    public var validationSize: ValidationSize
    /// Epochs without a better validation top-1 that end a phase (nil: run every --epochs).
    public var patience: Int?
    /// The second phase (nil: the first plateau ends the run).
    public var secondPhase: PhaseRecipe?
    /// Also evaluate the test set after every epoch (reported as test, never used to select).
    public var testEveryEpoch: Bool = false

    public init(validationSize: ValidationSize, patience: Int? = nil, secondPhase: PhaseRecipe? = nil,
                testEveryEpoch: Bool = false) {
        self.validationSize = validationSize; self.patience = patience; self.secondPhase = secondPhase
        self.testEveryEpoch = testEveryEpoch
    }
}

/// The optimizer and constant learning rate of the phase after the first plateau.
public struct PhaseRecipe: Codable, Equatable, Sendable {
    public var optimizer: OptimizerSettings
    public var learningRate: Double

    public init(optimizer: OptimizerSettings, learningRate: Double) {
        self.optimizer = optimizer; self.learningRate = learningRate
    }
}

/// Where a run stands in its selection; saved in every checkpoint so a resumed run decides alike.
public struct SelectionState: Codable, Equatable, Sendable {
    /// 1, or 2 after the first plateau.
    public var phase = 1
    public var bestTop1: Double?
    public var bestStep: Int?
    public var bestEpoch: Int?
    public var epochsWithoutImprovement = 0
    /// The last plateau has ended the run.
    public var finished = false

    public init() {}

    enum CodingKeys: String, CodingKey {
        case phase, bestTop1 = "best_top1", bestStep = "best_step", bestEpoch = "best_epoch"
        case epochsWithoutImprovement = "epochs_without_improvement", finished
    }

    public enum Decision: Equatable, Sendable {
        /// The best validation top-1 so far (ties included, as the official script counts them).
        case improved
        case noImprovement
        /// The first phase's plateau: continue from the best weights with the second phase's optimizer.
        case startSecondPhase
        /// The last phase's plateau.
        case stop
    }

    /// Records the validation top-1 measured after `epoch` (at `step`) and says what follows.
    public mutating func record(top1: Double, step: Int, epoch: Int, patience: Int?, hasSecondPhase: Bool) -> Decision {
        if bestTop1.map({ top1 >= $0 }) ?? true {
            bestTop1 = top1; bestStep = step; bestEpoch = epoch
            epochsWithoutImprovement = 0
            return .improved
        }
        epochsWithoutImprovement += 1
        guard let patience, epochsWithoutImprovement >= patience else { return .noImprovement }
        epochsWithoutImprovement = 0
        if phase == 1 && hasSecondPhase {
            phase = 2
            return .startSecondPhase
        }
        finished = true
        return .stop
    }
}
