// `wavemix train`'s recipe options, one group per concern, each checking itself and becoming the
// value Training takes: OptimizerSettings (with the learning rate), ScheduleSettings, Augmentation.
import ArgumentParser
import Data
import WaveMix

extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}

/// Fails with `message` unless `holds`: one message per option, naming it.
func require(_ holds: Bool, _ message: String) throws {
    if !holds { throw ValidationError(message) }
}

struct OptimizerOptions: ParsableArguments {
    @Option(help: "Optimizer: adamw, sgd or lion.") var optimizer: OptimizerKind = .adamw
    @Option(parsing: .unconditional, help: "Learning rate (peak, after warm-up).") var lr = 1e-3
    @Option(parsing: .unconditional, help: "Weight decay (AdamW and Lion: decoupled; SGD: L2).") var weightDecay = 0.01
    @Option(parsing: .unconditional, help: "SGD momentum.") var momentum = 0.0
    @Flag(help: "SGD with Nesterov momentum.") var nesterov = false
    @Option(parsing: .unconditional, help: "AdamW/Lion beta1.") var beta1: Double?
    @Option(parsing: .unconditional, help: "AdamW/Lion beta2 (default 0.999 for AdamW, 0.99 for Lion).") var beta2: Double?
    @Option(parsing: .unconditional, help: "AdamW epsilon.") var eps = 1e-8

    func validate() throws {
        // The ranges are PyTorch's.
        try require(lr > 0 && lr.isFinite, "--lr must be a positive number")
        try require(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must be 0 or more")
        try require(momentum >= 0 && momentum.isFinite, "--momentum must be 0 or more")
        if let beta1 { try require(beta1 >= 0 && beta1 < 1, "--beta1 must be at least 0 and below 1") }
        if let beta2 { try require(beta2 >= 0 && beta2 < 1, "--beta2 must be at least 0 and below 1") }
        try require(eps >= 0 && eps.isFinite, "--eps must be 0 or more")
        if nesterov { try require(optimizer == .sgd && momentum > 0, "--nesterov needs --optimizer sgd and --momentum > 0") }
    }

    var settings: OptimizerSettings {
        var settings = OptimizerSettings.defaults(for: optimizer)
        settings.weightDecay = weightDecay
        settings.eps = eps
        settings.momentum = momentum
        settings.nesterov = nesterov
        if let beta1 { settings.beta1 = beta1 }
        if let beta2 { settings.beta2 = beta2 }
        return settings
    }
}

struct ScheduleOptions: ParsableArguments {
    @Option(help: "Learning-rate schedule: constant, step or cosine.") var schedule: ScheduleKind = .constant
    @Option(parsing: .unconditional, help: "Linear warm-up steps (from 1% of the rate).") var warmupSteps = 0
    @Option(parsing: .unconditional, help: "Step schedule: steps between decays.") var stepSize = 1000
    @Option(parsing: .unconditional, help: "Step schedule: decay factor.") var gamma = 0.1
    @Option(parsing: .unconditional, help: "Cosine schedule: final learning rate.") var minLr = 0.0

    func validate() throws {
        try require(warmupSteps >= 0, "--warmup-steps must be 0 or more")
        try require(stepSize >= 1, "--step-size must be at least 1")
        try require(gamma >= 0 && gamma.isFinite, "--gamma must be 0 or more")
        try require(minLr >= 0 && minLr.isFinite, "--min-lr must be 0 or more")
    }

    var settings: ScheduleSettings {
        ScheduleSettings(kind: schedule, warmupSteps: warmupSteps, stepSize: stepSize, gamma: gamma, minLR: minLr)
    }
}

struct AugmentationOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Random-crop padding in pixels (0: no crop).") var cropPadding = 0
    @Flag(help: "Random horizontal flips.") var hflip = false
    @Flag(help: "Standard augmentation: --crop-padding 4 and --hflip.") var augment = false
    @Flag(help: "torchvision's TrivialAugmentWide (after the crop and flip), as the official WaveMix recipe trains.")
    var trivialAugment = false

    func validate() throws {
        try require(cropPadding >= 0, "--crop-padding must be 0 or more")
    }

    var augmentation: Augmentation {
        Augmentation(cropPadding: augment && cropPadding == 0 ? 4 : cropPadding, horizontalFlip: hflip || augment,
                     trivialAugment: trivialAugment)
    }
}
