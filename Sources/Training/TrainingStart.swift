// Starting a training run, whatever the front end: refuse a model that cannot run on the data before
// anything is written; choose and create the run directory; find and check the checkpoint to resume
// from; write config.json; build the trainer and restore it (or load --init-from weights). Until the
// first step, a failure takes back what this start wrote, so the same command can simply be run
// again. Then the run, and the line that sums it up.
import Comm
import Data
import Foundation
import WaveMix

public struct TrainingStart {
    /// The run's options; `runDirectory` is replaced by the directory chosen.
    public var options: TrainingOptions
    /// --run-dir (nil: runs/<data>-<date>-<time>, chosen by rank 0).
    public var requestedRunDirectory: String?
    public var resume: ResumeRequest?
    /// Weights to start from when there is no checkpoint to resume (a state dict or a checkpoint).
    public var initFrom: String?

    public init(options: TrainingOptions, requestedRunDirectory: String?, resume: ResumeRequest?, initFrom: String?) {
        self.options = options
        self.requestedRunDirectory = requestedRunDirectory
        self.resume = resume
        self.initFrom = initFrom
    }

    /// One line for the user when the model or the augmentation cannot work on `data`'s images.
    public static func check(_ options: TrainingOptions, data: DataSet) throws {
        let config = options.model, images = data.train
        do { try config.validate(height: images.height, width: images.width) } catch { throw InputError(error.description) }
        if let problem = SampleTransform.channelMismatch(inputChannels: images.channels, outputChannels: config.inChans,
                                                         data: options.data) {
            throw InputError(problem + "; train with --in-chans \(images.channels)")
        }
        if options.trivialAugment && ![1, 3].contains(images.channels) {
            throw InputError("--trivial-augment works on 1- and 3-channel images (as PIL's L and RGB); \(options.data) has "
                             + "\(images.channels) channels")
        }
        guard config.numClasses >= data.numClasses else {
            throw InputError("--num-classes \(config.numClasses): \(options.data) has \(data.numClasses) classes "
                             + "(labels 0-\(data.numClasses - 1)); a model needs at least that many outputs")
        }
    }

    /// Trains on `data` (every rank calls it) and returns the summary and the run directory.
    public func run(data: DataSet, comm: Communicator) throws -> (summary: TrainingSummary, runDirectory: String) {
        try Self.check(options, data: data)
        let (runDirectory, created) = try RunDirectory.create(requestedRunDirectory, dataName: data.spec.kind.rawValue, comm: comm,
                                                              resuming: resume != nil)
        let layout = RunLayout(runDirectory)
        // The files this start is about to create (rank 0's view): only those go if it fails.
        func isNew(_ path: String) -> Bool { comm.rank == 0 && !FileManager.default.fileExists(atPath: path) }
        var written: [String] = []
        let trainer: Trainer
        do {
            var options = self.options
            options.runDirectory = runDirectory
            let say = { (line: String) in if comm.rank == 0 { Console.out(line) } }
            let point = try resume.flatMap { try Resume.locate($0, runDirectory: runDirectory, comm: comm, say: say) }
            if let point {
                try Resume.check(point.metadata, options: options, worldSize: comm.size,
                                 imageHeight: data.train.height, imageWidth: data.train.width)
            }
            written += [layout.config].filter(isNew)
            try RunDirectory.writeConfig(options, worldSize: comm.size, comm: comm)
            StopSignals.install()
            written += [layout.metrics, layout.summary, layout.tensorBoard].filter(isNew)
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
        return (try trainer.run(), runDirectory)
    }
}

extension TrainingSummary {
    /// "done: 936 steps in 5m25s (370.1 img/s training, 21.9 s evaluating); test top-1 85.65%", or
    /// nil when the run stopped early or had nothing left to do.
    public var doneLine: String? {
        guard stoppedEarly == nil, let eval = finalEvaluation else { return nil }
        let stepText = stepsThisRun == steps ? "\(steps) steps" : "\(steps) steps (\(stepsThisRun) in this run)"
        let test = selected.map { String(format: "test top-1 %.2f%% of the model selected at epoch %d (validation top-1 %.2f%%)",
                                         100 * eval.top1, $0.epoch, 100 * $0.validationTop1) }
            ?? String(format: "test top-1 %.2f%%", 100 * eval.top1)
        return String(format: "done: %@ in %@ (%.1f img/s training, %.1f s evaluating); %@", stepText,
                      formatElapsed(seconds), imagesPerSecond, evaluationSeconds, test)
    }
}

/// "4m05s", "12s".
public func formatElapsed(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
}
