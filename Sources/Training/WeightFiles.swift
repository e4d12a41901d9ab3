// Model weights from either file kind a user has: a safetensors state dict (e.g. exported from
// PyTorch) or a wavemix checkpoint (training or weights-only).
import Checkpoint
import WaveMix

public enum WeightFiles {
    /// The state dict in `path`; checkpoints are recognised by their magic number.
    public static func read(_ path: String) throws -> [StateTensor] {
        if CheckpointFormat.hasMagic(path: path) { return try model(fromCheckpoint: path).0.stateDict() }
        return try StateDictFiles.read(path)
    }

    /// A model (configuration and image size from the checkpoint) with the checkpoint's weights.
    public static func model(fromCheckpoint path: String) throws -> (WaveMixModel, CheckpointMetadata) {
        let reader = try CheckpointReader(contentsOf: path)
        let metadata = try reader.trainingMetadata()
        let model = try WaveMixModel(config: metadata.model, imageHeight: metadata.imageHeight, imageWidth: metadata.imageWidth)
        try CheckpointSections.restoreModel(model, from: reader)
        return (model, metadata)
    }
}
