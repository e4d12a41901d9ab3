// The files of a run directory, named in one place: what `wavemix train` writes there and what
// `wavemix eval` and resumed runs look for.
import Checkpoint

public struct RunLayout: Sendable {
    public let directory: String

    public init(_ directory: String) { self.directory = directory }

    /// The options, world size, version and kernels of the run (JSON).
    public var config: String { directory + "/config.json" }
    /// One JSON object a line: progress and evaluation records.
    public var metrics: String { directory + "/metrics.jsonl" }
    /// One row per epoch (see SummaryRow).
    public var summary: String { directory + "/summary.csv" }
    /// The newest test evaluation, per class.
    public var evalPerClass: String { directory + "/eval-per-class.csv" }
    /// The run's final (or, with a validation split, selected) state dict.
    public var model: String { directory + "/model.safetensors" }
    /// TensorBoard event files (with --tensorboard).
    public var tensorBoard: String { directory + "/tensorboard" }
    /// checkpoints/step-<N>.wmx with their `latest` and `best` pointers.
    public var checkpoints: CheckpointDirectory { CheckpointDirectory(runDirectory: directory) }
}
