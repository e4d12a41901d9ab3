// `wavemix train`'s model-selection options: a validation split carved from the training set, the
// plateau that ends a phase, and the second phase's optimizer. They become a ModelSelection value.
import ArgumentParser
import Data
import Training
import WaveMix

struct SelectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Hold out this many training images (or this fraction, e.g. 0.1) for validation after every epoch; the best validation top-1 selects the model, and the test set is evaluated once, at the end, on it.",
                               valueName: "N|fraction"))
    var valSplit: String?
    @Option(parsing: .unconditional, help: "With --val-split: end a phase after N epochs without a better validation top-1 (--epochs stays the limit).")
    var patience: Int?
    @Option(help: "With --patience: after the first plateau, continue from the best model with this optimizer (the official recipe: sgd).")
    var thenOptimizer: OptimizerKind?
    @Option(parsing: .unconditional, help: "The second phase's constant learning rate.") var thenLr = 1e-3
    @Option(parsing: .unconditional, help: "The second phase's SGD momentum.") var thenMomentum = 0.9
    @Option(parsing: .unconditional, help: "The second phase's weight decay.") var thenWeightDecay = 0.0
    @Flag(help: "With --val-split: also evaluate the test set after every epoch (reported as test, never used to select).")
    var testEveryEpoch = false

    func validate() throws {
        if let valSplit {
            try require(ValidationSize(parsing: valSplit) != nil,
                        "--val-split must be a number of images (at least 1) or a fraction between 0 and 1, got '\(valSplit)'")
        }
        if let patience { try require(patience >= 1, "--patience must be at least 1") }
        try require(patience == nil || valSplit != nil, "--patience needs --val-split (model selection never looks at the test set)")
        try require(!testEveryEpoch || valSplit != nil, "--test-every-epoch needs --val-split (without it the test set is evaluated every epoch)")
        try require(thenOptimizer == nil || patience != nil, "--then-optimizer needs --patience (the plateau that starts it)")
        try require(thenLr > 0 && thenLr.isFinite, "--then-lr must be a positive number")
        try require(thenMomentum >= 0 && thenMomentum.isFinite, "--then-momentum must be 0 or more")
        try require(thenWeightDecay >= 0 && thenWeightDecay.isFinite, "--then-weight-decay must be 0 or more")
    }

    /// nil without --val-split.
    var selection: ModelSelection? {
        guard let valSplit, let size = ValidationSize(parsing: valSplit) else { return nil }
        let second = thenOptimizer.map { kind in
            var settings = OptimizerSettings.defaults(for: kind)
            settings.weightDecay = thenWeightDecay
            if kind == .sgd { settings.momentum = thenMomentum }
            return PhaseRecipe(optimizer: settings, learningRate: thenLr)
        }
        return ModelSelection(validationSize: size, patience: patience, secondPhase: second, testEveryEpoch: testEveryEpoch)
    }
}
