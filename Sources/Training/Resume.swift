// Finding the checkpoint a run continues from. Rank 0 looks (`--resume auto`: the newest valid
// checkpoint of the run directory, skipping corrupt or truncated ones with a warning; `--resume
// PATH`: that file) and shares the metadata with every rank, so all ranks decide alike and only
// rank 0 needs the file. The recipe must match the checkpoint's; the split of the global batch
// over ranks may change.
import Checkpoint
import Comm
import Foundation

public enum ResumeRequest: Equatable, Sendable {
    case auto
    case path(String)

    public init(_ argument: String) { self = argument == "auto" ? .auto : .path(argument) }
}

public struct ResumePoint {
    /// The open checkpoint on rank 0, nil on the other ranks.
    public let reader: CheckpointReader?
    public let metadata: CheckpointMetadata
}

public enum Resume {
    /// The checkpoint to continue from, or nil when `--resume auto` finds none (a fresh start).
    public static func locate(_ request: ResumeRequest, runDirectory: String, comm: Communicator,
                              say: (String) -> Void) throws -> ResumePoint? {
        var reader: CheckpointReader?
        // Rank 0's metadata JSON, or "" for nothing found.
        let message = try comm.decidedByRankZero {
            switch request {
            case .auto:
                reader = try CheckpointDirectory(runDirectory: runDirectory).newestValid { skipped in
                    say("warning: skipping checkpoint: \(skipped)")
                }
                if reader == nil { say("no checkpoint in \(runDirectory)/checkpoints: starting from step 0") }
            case .path(let path):
                reader = try CheckpointReader(contentsOf: path)
                try reader!.verify()
            }
            return try reader?.metadataJSON() ?? ""
        }
        if message.isEmpty { return nil }
        let metadata: CheckpointMetadata
        do { metadata = try JSONDecoder().decode(CheckpointMetadata.self, from: Data(message.utf8)) } catch {
            throw InputError("checkpoint metadata is not a wavemix training checkpoint's: \(error)")
        }
        return ResumePoint(reader: reader, metadata: metadata)
    }

    /// Rank 0: the checkpoints of the run directory newer than the one this run continues from
    /// belong to an abandoned branch; they are moved aside (not deleted) so that `--resume auto`
    /// follows the new branch.
    public static func setAsideNewerCheckpoints(than point: ResumePoint, runDirectory: String, comm: Communicator,
                                                say: (String) -> Void) throws {
        guard comm.rank == 0 else { return }
        do {
            if let moved = try CheckpointDirectory(runDirectory: runDirectory).setAside(after: point.metadata.step) {
                say("continuing from step \(point.metadata.step): the newer checkpoints of the earlier run moved to \(moved)")
            }
        } catch {
            throw InputError("\(error)")
        }
    }

    /// Refuses a checkpoint this run cannot continue bitwise: another kind, model, recipe or global batch.
    public static func check(_ metadata: CheckpointMetadata, options: TrainingOptions, worldSize: Int,
                             imageHeight: Int, imageWidth: Int) throws {
        guard metadata.kind == CheckpointMetadata.trainingKind, let saved = metadata.options else {
            throw InputError("the checkpoint holds weights only (kind '\(metadata.kind)'); use --init-from to start a run from it")
        }
        let differences = options.recipeDifferences(from: saved)
        guard differences.isEmpty else {
            throw InputError("--resume: this command line differs from the checkpoint's run (\(differences.joined(separator: "; "))); "
                             + "use the same options, or start a new run")
        }
        guard metadata.imageHeight == imageHeight, metadata.imageWidth == imageWidth else {
            throw InputError("--resume: the checkpoint was trained on \(metadata.imageHeight)x\(metadata.imageWidth) images, the data is \(imageHeight)x\(imageWidth)")
        }
        let global = options.globalBatch(worldSize: worldSize)
        guard global == metadata.globalBatch else {
            throw InputError("--resume: global batch \(global) (\(worldSize) rank(s) x --batch-size \(options.batchSize) x --grad-accum "
                             + "\(options.gradientAccumulation)) differs from the checkpoint's \(metadata.globalBatch); "
                             + "choose --batch-size \(metadata.globalBatch / max(1, worldSize * options.gradientAccumulation)) so the sample order continues")
        }
    }
}
