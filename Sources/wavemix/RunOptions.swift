// `wavemix train`'s run-control options: how long, in what batches, how it reports, where it
// writes, how it checkpoints and resumes. None of them changes what a step computes except the
// batch size; a resumed run may change the others.
import ArgumentParser
import Training

struct RunControlOptions: ParsableArguments {
    @Option(help: "Directory for config.json, metrics.jsonl, summary.csv and weights (default: runs/<data>-<date>-<time>).")
    var runDir: String?
    @Option(parsing: .unconditional, help: "Epochs over the training set.") var epochs = 2
    @Option(parsing: .unconditional, help: "Stop after this many optimizer steps.") var maxSteps: Int?
    @Option(parsing: .unconditional, help: "Images per rank per micro-batch.") var batchSize = 128
    @Option(name: [.customLong("grad-accum"), .customLong("accumulate")], parsing: .unconditional,
            help: "Micro-batches per optimizer step (gradients all-reduced once per step).")
    var gradAccum = 1
    @Option(parsing: .unconditional, help: "Clip the global gradient norm to this value.") var clipGradNorm: Double?
    @Option(help: "Seed for initialisation, shuffling, augmentation, dropout and the validation split.") var seed: UInt64 = 0
    @Flag(help: "Synchronise BatchNorm batch statistics across ranks.") var syncBn = false
    @Option(parsing: .unconditional, help: "Steps between progress lines.") var logEvery = 50
    @Flag(help: "Also write the metrics as TensorBoard event files in RUN_DIR/tensorboard (tensorboard --logdir RUN_DIR/tensorboard).")
    var tensorboard = false
    @Option(parsing: .unconditional, help: "Evaluate on the test set after every N epochs (0: only at the end; with --val-split the validation set is evaluated after every epoch instead).")
    var evalEvery = 1
    @Option(parsing: .unconditional, help: "Images per rank per evaluation batch (default: --batch-size).") var evalBatchSize: Int?
    @Option(parsing: .unconditional, help: "Gradient all-reduce bucket size in MiB.") var bucketMib = 4.0
    @Option(parsing: .unconditional, help: "Abort the job if a collective waits longer than this many seconds (default: wait forever).")
    var commTimeout: Double?

    func validate() throws {
        try require(epochs >= 1, "--epochs must be at least 1")
        if let maxSteps { try require(maxSteps >= 1, "--max-steps must be at least 1") }
        try require(batchSize >= 1, "--batch-size must be at least 1")
        try require(gradAccum >= 1, "--grad-accum must be at least 1")
        if let clipGradNorm { try require(clipGradNorm > 0 && clipGradNorm.isFinite, "--clip-grad-norm must be a positive number") }
        try require(logEvery >= 1, "--log-every must be at least 1")
        try require(evalEvery >= 0, "--eval-every must be 0 or more")
        if let evalBatchSize { try require(evalBatchSize >= 1, "--eval-batch-size must be at least 1") }
        try require(bucketMib > 0 && bucketMib.isFinite, "--bucket-mib must be a positive number")
        if let commTimeout { try require(commTimeout > 0 && commTimeout.isFinite, "--comm-timeout must be a positive number") }
    }
}

struct CheckpointOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Continue a run: 'auto' (the newest valid checkpoint in --run-dir; a fresh start if there is none) or a checkpoint file.", valueName: "auto|path"))
    var resume: String?
    @Option(parsing: .unconditional, help: "Also checkpoint every N steps (always: at epoch ends, at the end, and on SIGTERM/SIGINT/SIGUSR1).")
    var checkpointEvery = 0
    @Option(parsing: .unconditional, help: "Checkpoints to keep in RUN_DIR/checkpoints (besides the best one).") var keep = 3
    @Option(parsing: .unconditional, help: "Checkpoint and stop after N steps of this invocation (the schedule is unchanged; resume later).")
    var stopAfterSteps: Int?
    @Option(help: "Start from these weights (a safetensors state dict or a checkpoint) instead of a random initialisation (with --resume: only when there is no checkpoint yet).")
    var initFrom: String?

    func validate() throws {
        try require(checkpointEvery >= 0, "--checkpoint-every must be 0 or more")
        try require(keep >= 1, "--keep must be at least 1")
        if let stopAfterSteps { try require(stopAfterSteps >= 1, "--stop-after-steps must be at least 1") }
    }

    var resumeRequest: ResumeRequest? { resume.map(ResumeRequest.init) }
}
