// Everything a training run is: the model, the data, the recipe and where it writes. Built by the
// CLI from flags, written to RUN_DIR/config.json, and read back by a resumed run.
import Data
import WaveMix

public struct TrainingOptions: Codable, Equatable, Sendable {
    public var model: WaveMixConfig
    /// `--data` spec (e.g. `fashion-mnist`, `idx:DIR`).
    public var data: String
    /// `--image-size` for image-file and packed data sets (nil: the loader's default).
    public var imageSize: Int?
    /// Samples per rank per micro-batch.
    public var batchSize: Int
    /// Micro-batches per optimizer step (gradients are reduced once per step).
    public var gradientAccumulation: Int = 1
    public var epochs: Int
    /// Stop after this many optimizer steps (before the epochs run out).
    public var maxSteps: Int?
    public var optimizer: OptimizerSettings
    public var learningRate: Double
    public var schedule: ScheduleKind = .constant
    public var warmupSteps: Int = 0
    public var stepSize: Int = 1
    public var gamma: Double = 0.1
    public var minLearningRate: Double = 0
    public var clipGradNorm: Double?
    public var seed: UInt64 = 0
    public var cropPadding: Int = 0
    public var horizontalFlip: Bool = false
    /// torchvision's TrivialAugmentWide after the flip.
    public var trivialAugment: Bool = false
    public var syncBatchNorm: Bool = false
    /// Steps between progress lines (and train entries in metrics.jsonl).
    public var logEvery: Int = 50
    /// Also write the metrics as TensorBoard event files in RUN_DIR/tensorboard.
    public var tensorBoard: Bool = false
    /// Evaluate on the test split after every this many epochs (0: only at the end).
    public var evalEvery: Int = 1
    public var evalBatchSize: Int = 256
    /// Gradient bucket size for the all-reduce, in MiB.
    public var bucketMiB: Double = 4
    /// Checkpoint every this many steps (0: only at epoch ends and when stopped).
    public var checkpointEvery: Int = 0
    /// Checkpoints kept in RUN_DIR/checkpoints (besides the `best` one).
    public var keepCheckpoints: Int = 3
    /// `--val-split` and the model selection it enables (nil: evaluate on the test set, no selection).
    public var selection: ModelSelection?
    /// Stop (checkpoint and exit) after this many steps in this invocation; the schedule is unchanged.
    public var stopAfterSteps: Int?
    public var runDirectory: String

    public init(model: WaveMixConfig, data: String, batchSize: Int, epochs: Int, optimizer: OptimizerSettings,
                learningRate: Double, runDirectory: String) {
        self.model = model; self.data = data; self.batchSize = batchSize; self.epochs = epochs
        self.optimizer = optimizer; self.learningRate = learningRate; self.runDirectory = runDirectory
    }

    /// The official examples' recipe: AdamW, lr 1e-3, weight decay 0.01.
    public static let officialOptimizer = OptimizerSettings(kind: .adamw, weightDecay: 0.01)

    public var augmentation: Augmentation {
        get { Augmentation(cropPadding: cropPadding, horizontalFlip: horizontalFlip, trivialAugment: trivialAugment) }
        set { (cropPadding, horizontalFlip, trivialAugment) = (newValue.cropPadding, newValue.horizontalFlip, newValue.trivialAugment) }
    }

    public var scheduleSettings: ScheduleSettings {
        get { ScheduleSettings(kind: schedule, warmupSteps: warmupSteps, stepSize: stepSize, gamma: gamma, minLR: minLearningRate) }
        set {
            (schedule, warmupSteps, stepSize) = (newValue.kind, newValue.warmupSteps, newValue.stepSize)
            (gamma, minLearningRate) = (newValue.gamma, newValue.minLR)
        }
    }

    /// Images per optimizer step over all ranks (with worldSize 1: one rank's images per step).
    public func globalBatch(worldSize: Int) -> Int { batchSize * gradientAccumulation * worldSize }

    // Fields added after the first release decode with their defaults, so older checkpoints load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(WaveMixConfig.self, forKey: .model)
        data = try c.decode(String.self, forKey: .data)
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        gradientAccumulation = try c.decode(Int.self, forKey: .gradientAccumulation)
        epochs = try c.decode(Int.self, forKey: .epochs)
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
        optimizer = try c.decode(OptimizerSettings.self, forKey: .optimizer)
        learningRate = try c.decode(Double.self, forKey: .learningRate)
        schedule = try c.decode(ScheduleKind.self, forKey: .schedule)
        warmupSteps = try c.decode(Int.self, forKey: .warmupSteps)
        stepSize = try c.decode(Int.self, forKey: .stepSize)
        gamma = try c.decode(Double.self, forKey: .gamma)
        minLearningRate = try c.decode(Double.self, forKey: .minLearningRate)
        clipGradNorm = try c.decodeIfPresent(Double.self, forKey: .clipGradNorm)
        seed = try c.decode(UInt64.self, forKey: .seed)
        cropPadding = try c.decode(Int.self, forKey: .cropPadding)
        horizontalFlip = try c.decode(Bool.self, forKey: .horizontalFlip)
        trivialAugment = try c.decodeIfPresent(Bool.self, forKey: .trivialAugment) ?? false
        syncBatchNorm = try c.decode(Bool.self, forKey: .syncBatchNorm)
        logEvery = try c.decode(Int.self, forKey: .logEvery)
        tensorBoard = try c.decodeIfPresent(Bool.self, forKey: .tensorBoard) ?? false
        evalEvery = try c.decode(Int.self, forKey: .evalEvery)
        evalBatchSize = try c.decode(Int.self, forKey: .evalBatchSize)
        bucketMiB = try c.decode(Double.self, forKey: .bucketMiB)
        checkpointEvery = try c.decode(Int.self, forKey: .checkpointEvery)
        keepCheckpoints = try c.decode(Int.self, forKey: .keepCheckpoints)
        selection = try c.decodeIfPresent(ModelSelection.self, forKey: .selection)
        stopAfterSteps = try c.decodeIfPresent(Int.self, forKey: .stopAfterSteps)
        runDirectory = try c.decode(String.self, forKey: .runDirectory)
    }

    /// What a resumed run must share with the run that wrote the checkpoint: everything that
    /// shapes the computation. Run control (epochs, steps, logging, checkpointing, batch split
    /// across ranks, buckets) may change. Returns one line per difference.
    public func recipeDifferences(from other: TrainingOptions) -> [String] {
        var out: [String] = []
        func check<T: Equatable>(_ name: String, _ a: T, _ b: T) { if a != b { out.append("\(name): checkpoint \(b), now \(a)") } }
        // Field by field, under the option names a user types (a struct dump names none of them).
        check("--num-classes", model.numClasses, other.model.numClasses)
        check("--depth", model.depth, other.model.depth)
        check("--mult", model.mult, other.model.mult)
        check("--ff-channel", model.ffChannel, other.model.ffChannel)
        check("--final-dim", model.finalDim, other.model.finalDim)
        check("--dropout", model.dropout, other.model.dropout)
        check("--level", model.level, other.model.level)
        check("--stem", model.initialConv, other.model.initialConv)
        check("--patch-size", model.patchSize, other.model.patchSize)
        check("--stride", model.stride, other.model.stride)
        check("--in-chans", model.inChans, other.model.inChans)
        check("--data", data, other.data)
        check("--image-size", imageSize.map(String.init) ?? "default", other.imageSize.map(String.init) ?? "default")
        check("--optimizer", optimizer.kind, other.optimizer.kind)
        check("--weight-decay", optimizer.weightDecay, other.optimizer.weightDecay)
        check("--beta1", optimizer.beta1, other.optimizer.beta1)
        check("--beta2", optimizer.beta2, other.optimizer.beta2)
        check("--eps", optimizer.eps, other.optimizer.eps)
        check("--momentum", optimizer.momentum, other.optimizer.momentum)
        check("--nesterov", optimizer.nesterov, other.optimizer.nesterov)
        check("dampening", optimizer.dampening, other.optimizer.dampening)
        check("--lr", learningRate, other.learningRate)
        check("--schedule", schedule, other.schedule)
        check("--warmup-steps", warmupSteps, other.warmupSteps)
        check("--step-size", stepSize, other.stepSize)
        check("--gamma", gamma, other.gamma)
        check("--min-lr", minLearningRate, other.minLearningRate)
        check("--clip-grad-norm", clipGradNorm.map { "\($0)" } ?? "none", other.clipGradNorm.map { "\($0)" } ?? "none")
        check("--seed", seed, other.seed)
        check("--crop-padding", cropPadding, other.cropPadding)
        check("--hflip", horizontalFlip, other.horizontalFlip)
        check("--trivial-augment", trivialAugment, other.trivialAugment)
        check("--val-split", selection?.validationSize.description ?? "none", other.selection?.validationSize.description ?? "none")
        check("--patience", selection?.patience.map(String.init) ?? "none", other.selection?.patience.map(String.init) ?? "none")
        check("--then-optimizer", selection?.secondPhase?.optimizer.kind.rawValue ?? "none",
              other.selection?.secondPhase?.optimizer.kind.rawValue ?? "none")
        if let now = selection?.secondPhase, let then = other.selection?.secondPhase {
            check("--then-lr", now.learningRate, then.learningRate)
            check("--then-momentum", now.optimizer.momentum, then.optimizer.momentum)
            check("--then-weight-decay", now.optimizer.weightDecay, then.optimizer.weightDecay)
        }
        check("--sync-bn", syncBatchNorm, other.syncBatchNorm)
        return out
    }
}
