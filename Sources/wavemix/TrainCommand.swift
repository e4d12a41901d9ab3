// `wavemix train`: options in, TrainingOptions out, then the Trainer. Runs the same as a plain
// process or as one rank of an mpirun job.
import ArgumentParser
import Comm
import Data
import Foundation
import Training
import WaveMix

extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}

struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Data set: fashion-mnist (default path), mnist:DIR, idx:DIR, cifar10:DIR, cifar100:DIR, imagefolder:DIR, imagenet:DIR, places365:DIR, packed:DIR.", valueName: "spec"))
    var data = "fashion-mnist"

    @Option(help: "Input channels the model sees (default: the data set's; 3 repeats a grey channel, as the PyTorch examples do).")
    var inChans: Int?

    @Option(help: "Side of the square training/evaluation images of image-file and packed data sets (default 224; IDX and CIFAR keep their own size).")
    var imageSize: Int?

    @Flag(help: "Stop at the first unreadable or corrupt image instead of substituting the next good one (with a warning).")
    var strict = false

    func validate() throws {
        if let inChans, inChans < 1 { throw ValidationError("--in-chans must be at least 1") }
        if let imageSize, imageSize < 1 { throw ValidationError("--image-size must be at least 1") }
        _ = try parsedSpec()
    }

    func parsedSpec() throws -> DataSpec {
        do { return try DataSpec(parsing: data) } catch { throw ValidationError(error.description) }
    }

    /// Loads the data set; warnings about bad images carry the rank that met them.
    func load(rank: Int, numClasses: Int?) throws -> DataSet {
        try parsedSpec().load(loadOptions(rank: rank, numClasses: numClasses))
    }

    /// `numClasses`: the user's --num-classes, which a set without a class list (idx:) is read with.
    func loadOptions(rank: Int, numClasses: Int? = nil) -> LoadOptions {
        var options = LoadOptions(imageSize: imageSize, badImages: strict ? .stop : .substitute,
                                  warn: { Console.err("rank \(rank): \($0)") })
        options.numClasses = numClasses
        return options
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a WaveMix model (one process, or one rank of an mpirun job).",
        discussion: """
            With no options: WaveMix-Lite (lite-64-4) on Fashion-MNIST with the official recipe (AdamW, lr 1e-3, \
            weight decay 0.01), batch 128, 2 epochs, evaluating on the test set after each epoch. Writes \
            RUN_DIR/config.json, RUN_DIR/metrics.jsonl (one JSON object a line) and RUN_DIR/model.safetensors \
            (the official state dict names). Under mpirun every rank trains on its shard: --batch-size is per rank.
            """)

    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Data") var dataOptions: DataOptions
    @OptionGroup(title: "Runtime") var runtime: RuntimeOptions
    @OptionGroup(title: "Model selection") var selectionOptions: SelectionOptions

    @Option(help: "Directory for config.json, metrics.jsonl and weights (default: runs/<data>-<date>-<time>).")
    var runDir: String?
    @Option(parsing: .unconditional, help: "Epochs over the training set.") var epochs = 2
    @Option(parsing: .unconditional, help: "Stop after this many optimizer steps.") var maxSteps: Int?
    @Option(parsing: .unconditional, help: "Images per rank per micro-batch.") var batchSize = 128
    @Option(name: [.customLong("grad-accum"), .customLong("accumulate")], parsing: .unconditional,
            help: "Micro-batches per optimizer step (gradients all-reduced once per step).")
    var gradAccum = 1
    @Option(help: "Optimizer: adamw, sgd or lion.") var optimizer: OptimizerKind = .adamw
    @Option(parsing: .unconditional, help: "Learning rate (peak, after warm-up).") var lr = 1e-3
    @Option(parsing: .unconditional, help: "Weight decay (AdamW and Lion: decoupled; SGD: L2).") var weightDecay = 0.01
    @Option(parsing: .unconditional, help: "SGD momentum.") var momentum = 0.0
    @Flag(help: "SGD with Nesterov momentum.") var nesterov = false
    @Option(parsing: .unconditional, help: "AdamW/Lion beta1.") var beta1: Double?
    @Option(parsing: .unconditional, help: "AdamW/Lion beta2 (default 0.999 for AdamW, 0.99 for Lion).") var beta2: Double?
    @Option(parsing: .unconditional, help: "AdamW epsilon.") var eps = 1e-8
    @Option(help: "Learning-rate schedule: constant, step or cosine.") var schedule: ScheduleKind = .constant
    @Option(parsing: .unconditional, help: "Linear warm-up steps (from 1% of the rate).") var warmupSteps = 0
    @Option(parsing: .unconditional, help: "Step schedule: steps between decays.") var stepSize = 1000
    @Option(parsing: .unconditional, help: "Step schedule: decay factor.") var gamma = 0.1
    @Option(parsing: .unconditional, help: "Cosine schedule: final learning rate.") var minLr = 0.0
    @Option(parsing: .unconditional, help: "Clip the global gradient norm to this value.") var clipGradNorm: Double?
    @Option(help: "Seed for initialisation, shuffling, augmentation and dropout.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Random-crop padding in pixels (0: no crop).") var cropPadding = 0
    @Flag(help: "Random horizontal flips.") var hflip = false
    @Flag(help: "Standard augmentation: --crop-padding 4 and --hflip.") var augment = false
    @Flag(help: "torchvision's TrivialAugmentWide (after the crop and flip), as the official WaveMix recipe trains.")
    var trivialAugment = false
    @Flag(help: "Synchronise BatchNorm batch statistics across ranks.") var syncBn = false
    @Option(parsing: .unconditional, help: "Steps between progress lines.") var logEvery = 50
    @Flag(help: "Also write the metrics as TensorBoard event files in RUN_DIR/tensorboard (tensorboard --logdir RUN_DIR/tensorboard).")
    var tensorboard = false
    @Option(parsing: .unconditional, help: "Evaluate on the test set after every N epochs (0: only at the end; with --val-split the validation set is evaluated after every epoch instead).") var evalEvery = 1
    @Option(parsing: .unconditional, help: "Images per rank per evaluation batch (default: --batch-size).") var evalBatchSize: Int?
    @Option(parsing: .unconditional, help: "Gradient all-reduce bucket size in MiB.") var bucketMib = 4.0
    @Option(parsing: .unconditional, help: "Abort the job if a collective waits longer than this many seconds (default: wait forever).")
    var commTimeout: Double?
    @Option(help: ArgumentHelp("Continue a run: 'auto' (the newest valid checkpoint in --run-dir; a fresh start if there is none) or a checkpoint file.", valueName: "auto|path"))
    var resume: String?
    @Option(parsing: .unconditional, help: "Also checkpoint every N steps (always: at epoch ends, at the end, and on SIGTERM/SIGINT/SIGUSR1).")
    var checkpointEvery = 0
    @Option(parsing: .unconditional, help: "Checkpoints to keep in RUN_DIR/checkpoints.") var keep = 3
    @Option(parsing: .unconditional, help: "Checkpoint and stop after N steps of this invocation (the schedule is unchanged; resume later).")
    var stopAfterSteps: Int?
    @Option(help: "Start from these weights (a safetensors state dict or a checkpoint) instead of a random initialisation (with --resume: only when there is no checkpoint yet).")
    var initFrom: String?

    func validate() throws {
        // One message per option, naming it; the ranges are PyTorch's where it has one.
        func require(_ holds: Bool, _ message: String) throws { if !holds { throw ValidationError(message) } }
        try require(epochs >= 1, "--epochs must be at least 1")
        if let maxSteps { try require(maxSteps >= 1, "--max-steps must be at least 1") }
        try require(batchSize >= 1, "--batch-size must be at least 1")
        try require(gradAccum >= 1, "--grad-accum must be at least 1")
        try require(lr > 0 && lr.isFinite, "--lr must be a positive number")
        try require(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must be 0 or more")
        try require(momentum >= 0 && momentum.isFinite, "--momentum must be 0 or more")
        if let beta1 { try require(beta1 >= 0 && beta1 < 1, "--beta1 must be at least 0 and below 1") }
        if let beta2 { try require(beta2 >= 0 && beta2 < 1, "--beta2 must be at least 0 and below 1") }
        try require(eps >= 0 && eps.isFinite, "--eps must be 0 or more")
        try require(warmupSteps >= 0, "--warmup-steps must be 0 or more")
        try require(stepSize >= 1, "--step-size must be at least 1")
        try require(gamma >= 0 && gamma.isFinite, "--gamma must be 0 or more")
        try require(minLr >= 0 && minLr.isFinite, "--min-lr must be 0 or more")
        try require(cropPadding >= 0, "--crop-padding must be 0 or more")
        try require(logEvery >= 1, "--log-every must be at least 1")
        try require(evalEvery >= 0, "--eval-every must be 0 or more")
        if nesterov { try require(optimizer == .sgd && momentum > 0, "--nesterov needs --optimizer sgd and --momentum > 0") }
        if let clipGradNorm { try require(clipGradNorm > 0 && clipGradNorm.isFinite, "--clip-grad-norm must be a positive number") }
        if let evalBatchSize { try require(evalBatchSize >= 1, "--eval-batch-size must be at least 1") }
        if let commTimeout { try require(commTimeout > 0 && commTimeout.isFinite, "--comm-timeout must be a positive number") }
        try require(bucketMib > 0 && bucketMib.isFinite, "--bucket-mib must be a positive number")
        try require(checkpointEvery >= 0, "--checkpoint-every must be 0 or more")
        try require(keep >= 1, "--keep must be at least 1")
        if let stopAfterSteps { try require(stopAfterSteps >= 1, "--stop-after-steps must be at least 1") }
        try require(resume == nil || runDir != nil, "--resume needs --run-dir (the run to continue)")
    }

    func run() throws {
        let comm = try Communicator.initialize()
        comm.timeout = commTimeout
        comm.stopRequested = { StopSignals.pending != 0 }
        do {
            try train(comm)
        } catch {
            // One readable line per failing rank; the other ranks must not wait for it forever.
            if comm.size > 1 { comm.abort(code: exitStatus(for: error), message: "\(error)") }
            comm.finalize()
            throw error
        }
        comm.finalize()
    }

    private func train(_ comm: Communicator) throws {
        ComputeThreads.configure(runtime.threads ?? ComputeThreads.defaultCount(ranksOnHost: comm.localSize))
        let spec = try dataOptions.parsedSpec()
        let data: DataSet
        do { data = try dataOptions.load(rank: comm.rank, numClasses: model.numClasses) } catch let error as DataError {
            // A label past the user's own count is that option's problem: say so first.
            if case .labelOutOfRange(_, _, _, let classes) = error, classes == model.numClasses {
                throw InputError("--num-classes \(classes): \(error)")
            }
            throw error
        }
        let config = model.config(defaultPreset: "lite-64-4", numClasses: data.numClasses,
                                  inChans: dataOptions.inChans ?? data.train.channels)
        // Refuse a model that cannot run on these images before anything is written.
        do { try config.validate(height: data.train.height, width: data.train.width) } catch { throw InputError(error.description) }
        if let problem = SampleTransform.channelMismatch(inputChannels: data.train.channels, outputChannels: config.inChans,
                                                         data: dataOptions.data) {
            throw InputError(problem + "; train with --in-chans \(data.train.channels)")
        }
        if trivialAugment && ![1, 3].contains(data.train.channels) {
            throw InputError("--trivial-augment works on 1- and 3-channel images (as PIL's L and RGB); \(dataOptions.data) has "
                             + "\(data.train.channels) channels")
        }
        guard config.numClasses >= data.numClasses else {
            throw InputError("--num-classes \(config.numClasses): \(dataOptions.data) has \(data.numClasses) classes "
                             + "(labels 0-\(data.numClasses - 1)); a model needs at least that many outputs")
        }
        var settings = OptimizerSettings(kind: optimizer, weightDecay: weightDecay, eps: eps, momentum: momentum, nesterov: nesterov)
        settings.beta1 = beta1 ?? 0.9
        settings.beta2 = beta2 ?? (optimizer == .lion ? 0.99 : 0.999)
        let (runDirectory, created) = try RunDirectory.create(runDir, dataName: spec.kind.rawValue, comm: comm, resuming: resume != nil)
        // Whether this command is about to create `name` in the run directory (rank 0's view).
        func isNew(_ name: String) -> Bool { comm.rank == 0 && !FileManager.default.fileExists(atPath: runDirectory + "/" + name) }
        // Until the first step, a failure takes back what this command wrote, so the same command
        // can simply be run again.
        let trainer: Trainer
        var written: [String] = []
        do {
            var options = TrainingOptions(model: config, data: dataOptions.data, batchSize: batchSize, epochs: epochs,
                                          optimizer: settings, learningRate: lr, runDirectory: runDirectory)
            options.imageSize = dataOptions.imageSize
            options.maxSteps = maxSteps
            options.gradientAccumulation = gradAccum
            options.schedule = schedule
            options.warmupSteps = warmupSteps
            options.stepSize = stepSize
            options.gamma = gamma
            options.minLearningRate = minLr
            options.clipGradNorm = clipGradNorm
            options.seed = seed
            options.cropPadding = augment && cropPadding == 0 ? 4 : cropPadding
            options.horizontalFlip = hflip || augment
            options.trivialAugment = trivialAugment
            options.selection = selectionOptions.selection
            options.syncBatchNorm = syncBn
            options.logEvery = logEvery
            options.tensorBoard = tensorboard
            options.evalEvery = evalEvery
            options.evalBatchSize = evalBatchSize ?? batchSize
            options.bucketMiB = bucketMib
            options.checkpointEvery = checkpointEvery
            options.keepCheckpoints = keep
            options.stopAfterSteps = stopAfterSteps
            let say = { (line: String) in if comm.rank == 0 { Console.out(line) } }
            let point = try resume.flatMap { try Resume.locate(ResumeRequest($0), runDirectory: runDirectory, comm: comm, say: say) }
            if let point {
                try Resume.check(point.metadata, options: options, worldSize: comm.size,
                                 imageHeight: data.train.height, imageWidth: data.train.width)
            }
            if isNew("config.json") { written.append("config.json") }
            try RunDirectory.writeConfig(options, worldSize: comm.size, comm: comm)
            StopSignals.install()
            written += ["metrics.jsonl", "summary.csv", "tensorboard"].filter(isNew)
            trainer = try Trainer(options: options, comm: comm, data: data, resuming: resume != nil)
            if let point {
                // A checkpoint wins over --init-from: that is where this run already got to.
                try trainer.restore(from: point.reader, metadata: point.metadata)
                // Only now that the run goes on from this checkpoint does it start a branch.
                try Resume.setAsideNewerCheckpoints(than: point, runDirectory: runDirectory, comm: comm, say: say)
            } else if let initFrom {
                do { try trainer.initializeWeights(try WeightFiles.read(initFrom)) } catch let error as StateDictError {
                    throw InputError("--init-from \(initFrom): \(error)")
                }
            }
        } catch {
            RunDirectory.discardUnstarted(runDirectory, created: created, written: written, comm: comm)
            throw error
        }
        let summary = try trainer.run()
        guard comm.rank == 0 else { return }
        if summary.stoppedEarly != nil && runDir == nil {
            Console.out("(the run directory was chosen for this run: add --run-dir \(runDirectory) to continue it)")
        }
        if summary.stoppedEarly == nil, let eval = summary.finalEvaluation {
            let steps = summary.stepsThisRun == summary.steps ? "\(summary.steps) steps"
                : "\(summary.steps) steps (\(summary.stepsThisRun) in this run)"
            let test = summary.selected.map { String(format: "test top-1 %.2f%% of the model selected at epoch %d (validation top-1 %.2f%%)",
                                                    100 * eval.top1, $0.epoch, 100 * $0.validationTop1) }
                ?? String(format: "test top-1 %.2f%%", 100 * eval.top1)
            Console.out(String(format: "done: %@ in %@ (%.1f img/s training, %.1f s evaluating); %@", steps,
                               formatElapsed(summary.seconds), summary.imagesPerSecond, summary.evaluationSeconds, test))
        }
    }
}

func formatElapsed(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
}
