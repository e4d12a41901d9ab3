// `wavemix train`: options in (a group per concern, each becoming a value), TrainingOptions out,
// then Training's start and run. Runs the same as a plain process or as one rank of an mpirun job.
import ArgumentParser
import Comm
import Data
import Foundation
import Training
import WaveMix

struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Data set: \(DataSpec.Kind.usageList).", valueName: "spec"))
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
            RUN_DIR/config.json, RUN_DIR/metrics.jsonl (one JSON object a line), RUN_DIR/summary.csv (a row per epoch) \
            and RUN_DIR/model.safetensors (the official state dict names). Under mpirun every rank trains on its \
            shard: --batch-size is per rank.
            """)

    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Data") var dataOptions: DataOptions
    @OptionGroup(title: "Runtime") var runtime: RuntimeOptions
    @OptionGroup(title: "Run") var control: RunControlOptions
    @OptionGroup(title: "Optimizer") var optimizer: OptimizerOptions
    @OptionGroup(title: "Learning-rate schedule") var schedule: ScheduleOptions
    @OptionGroup(title: "Augmentation") var augmentation: AugmentationOptions
    @OptionGroup(title: "Model selection") var selection: SelectionOptions
    @OptionGroup(title: "Checkpoints") var checkpoints: CheckpointOptions

    func validate() throws {
        try require(checkpoints.resume == nil || control.runDir != nil, "--resume needs --run-dir (the run to continue)")
    }

    func run() throws {
        try withMPI { comm in
            comm.timeout = control.commTimeout
            comm.stopRequested = { StopSignals.pending != 0 }
            try train(comm)
        }
    }

    private func train(_ comm: Communicator) throws {
        ComputeThreads.configure(runtime.threads ?? ComputeThreads.defaultCount(ranksOnHost: comm.localSize))
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
        let start = TrainingStart(options: trainingOptions(model: config), requestedRunDirectory: control.runDir,
                                  resume: checkpoints.resumeRequest, initFrom: checkpoints.initFrom)
        let (summary, runDirectory) = try start.run(data: data, comm: comm)
        guard comm.rank == 0 else { return }
        if summary.stoppedEarly != nil && control.runDir == nil {
            Console.out("(the run directory was chosen for this run: add --run-dir \(runDirectory) to continue it)")
        }
        if let line = summary.doneLine { Console.out(line) }
    }

    /// The options as the value Training takes (its run directory is chosen when the run starts).
    private func trainingOptions(model config: WaveMixConfig) -> TrainingOptions {
        var options = TrainingOptions(model: config, data: dataOptions.data, batchSize: control.batchSize, epochs: control.epochs,
                                      optimizer: optimizer.settings, learningRate: optimizer.lr, runDirectory: "")
        options.imageSize = dataOptions.imageSize
        options.maxSteps = control.maxSteps
        options.gradientAccumulation = control.gradAccum
        options.scheduleSettings = schedule.settings
        options.clipGradNorm = control.clipGradNorm
        options.seed = control.seed
        options.augmentation = augmentation.augmentation
        options.selection = selection.selection
        options.syncBatchNorm = control.syncBn
        options.logEvery = control.logEvery
        options.tensorBoard = control.tensorboard
        options.evalEvery = control.evalEvery
        options.evalBatchSize = control.evalBatchSize ?? control.batchSize
        options.bucketMiB = control.bucketMib
        options.checkpointEvery = checkpoints.checkpointEvery
        options.keepCheckpoints = checkpoints.keep
        options.stopAfterSteps = checkpoints.stopAfterSteps
        return options
    }
}
