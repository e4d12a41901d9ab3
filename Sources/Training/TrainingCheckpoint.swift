// What a training checkpoint holds and how it maps onto the trainer: metadata (the full options,
// image size, world size, step, epoch, position inside the epoch, optimizer step count) and
// sections `parameters`, `buffers` (BatchNorm running statistics), `counters` (num_batches_tracked)
// and `optimizer.<state>` (AdamW/Lion moments, SGD momentum). Restoring all of it makes the next
// step bitwise the same as in an uninterrupted run (same threads per rank).
import Checkpoint
import WaveMix

public struct CheckpointMetadata: Codable, Sendable {
    public static let trainingKind = "training"
    public static let weightsKind = "weights"

    /// "training" (resumable) or "weights" (imported: parameters, buffers and counters only).
    public var kind: String
    public var libraryVersion: String
    public var model: WaveMixConfig
    public var imageHeight: Int
    public var imageWidth: Int
    public var parameterCount: Int
    public var options: TrainingOptions?
    public var step: Int
    public var epoch: Int
    public var positionInEpoch: Int
    public var worldSize: Int
    public var globalBatch: Int
    public var optimizerSteps: Int
    public var optimizerState: [String]
    public var counterNames: [String]
    /// The summary and selection state at this step (nil in checkpoints of older versions and imports).
    public var progress: RunProgress?

    enum CodingKeys: String, CodingKey {
        case kind, libraryVersion = "library_version", model, imageHeight = "image_height", imageWidth = "image_width"
        case parameterCount = "parameter_count", options, step, epoch, positionInEpoch = "position_in_epoch"
        case worldSize = "world_size", globalBatch = "global_batch", optimizerSteps = "optimizer_steps"
        case optimizerState = "optimizer_state", counterNames = "counter_names", progress
    }
}

/// What a run has measured beyond the model's and optimizer's state, so that a resumed run's
/// summary and model selection go on exactly as if it had not stopped.
public struct RunProgress: Codable, Equatable, Sendable {
    public var selection = SelectionState()
    /// Wall time of the run so far, over every sitting.
    public var elapsedSeconds = 0.0
    /// The current epoch so far: the sum of its steps' losses (averaged over ranks), those steps,
    /// and the seconds they took.
    public var epochLossSum = 0.0
    public var epochSteps = 0
    public var epochTrainingSeconds = 0.0
    /// The run reached its end and wrote its results (a later invocation with more epochs goes on).
    public var completed = false

    public init() {}

    enum CodingKeys: String, CodingKey {
        case selection, elapsedSeconds = "elapsed_seconds", epochLossSum = "epoch_loss_sum", epochSteps = "epoch_steps"
        case epochTrainingSeconds = "epoch_training_seconds", completed
    }
}

enum CheckpointSections {
    static let parameters = "parameters", buffers = "buffers", counters = "counters"
    static func optimizer(_ name: String) -> String { "optimizer.\(name)" }

    /// A writer holding the model's state (and the optimizer's, when given).
    static func writer(model: WaveMixModel, optimizer: Optimizer?, metadata: CheckpointMetadata) -> CheckpointWriter {
        var writer = CheckpointWriter(metadata: metadata)
        writer.add(parameters, floats: UnsafeBufferPointer(model.parameters))
        writer.add(buffers, floats: UnsafeBufferPointer(model.buffers))
        writer.add(counters, int64s: model.batchCounters)
        if let optimizer {
            for name in optimizer.settings.stateNames {
                writer.add(Self.optimizer(name), floats: UnsafeBufferPointer(optimizer.state[name]!))
            }
        }
        return writer
    }

    /// Loads parameters, buffers and counters into `model`, checking sizes first.
    static func restoreModel(_ model: WaveMixModel, from reader: CheckpointReader) throws {
        try reader.readFloats(parameters, into: model.parameters)
        try reader.readFloats(buffers, into: model.buffers)
        let loaded = try reader.int64s(counters)
        guard loaded.count == model.batchCounters.count else {
            throw InputError("\(reader.path): \(loaded.count) BatchNorm counters, the model has \(model.batchCounters.count)")
        }
        model.batchCounters = loaded
    }

    static func restoreOptimizer(_ optimizer: Optimizer, steps: Int, from reader: CheckpointReader) throws {
        for name in optimizer.settings.stateNames {
            try reader.readFloats(Self.optimizer(name), into: optimizer.state[name]!)
        }
        optimizer.stepCount = steps
    }
}

extension CheckpointReader {
    /// The metadata, or a one-line error saying this is not a wavemix checkpoint.
    public func trainingMetadata() throws -> CheckpointMetadata {
        do { return try metadata(as: CheckpointMetadata.self) } catch {
            throw InputError("\(path): not a wavemix training checkpoint (\(error))")
        }
    }
}

/// Weights-only checkpoints (from `wavemix checkpoint import`).
public enum CheckpointImport {
    public static func write(_ model: WaveMixModel, to path: String) throws {
        let metadata = CheckpointMetadata(
            kind: CheckpointMetadata.weightsKind, libraryVersion: libraryVersion, model: model.config,
            imageHeight: model.imageHeight, imageWidth: model.imageWidth, parameterCount: model.parameterCount,
            options: nil, step: 0, epoch: 0, positionInEpoch: 0, worldSize: 1, globalBatch: 0, optimizerSteps: 0,
            optimizerState: [], counterNames: model.counterNames, progress: nil)
        try CheckpointSections.writer(model: model, optimizer: nil, metadata: metadata).write(to: path)
    }
}
