// `wavemix debug-step`: one eval forward and one training step of a model whose configuration,
// weights and batch come from files (the format of scripts/make_fixtures.py), writing what the
// official package computes so the two can be compared tensor by tensor.
import Checkpoint
import Data
import Foundation
import WaveMix

public enum DebugStepRunner {
    /// A configuration file: the official constructor's arguments plus `in_chans` and `image_size` [H, W].
    public struct ConfigFile: Decodable {
        public let model: WaveMixConfig
        public let imageSize: [Int]?
        enum CodingKeys: String, CodingKey { case imageSize = "image_size" }
        public init(from decoder: Decoder) throws {
            model = try WaveMixConfig(from: decoder)
            imageSize = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([Int].self, forKey: .imageSize)
        }

        /// The keys a configuration may hold: the official constructor's arguments, image_size, and
        /// the batch_size the parity scripts record. Any other key is a typo that would silently
        /// leave a default in place.
        static let knownKeys: Set<String> = ["num_classes", "depth", "mult", "ff_channel", "final_dim", "dropout", "level",
                                             "initial_conv", "patch_size", "stride", "in_chans", "image_size", "batch_size"]
    }

    public static func readConfig(_ path: String) throws -> ConfigFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw InputError("\(path): cannot read: \(fileErrorReason(error))")
        }
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            let unknown = Set(object.keys).subtracting(ConfigFile.knownKeys).sorted()
            guard unknown.isEmpty else {
                throw InputError("\(path): unknown key(s) \(unknown.joined(separator: ", ")); a model configuration has "
                                 + ConfigFile.knownKeys.sorted().joined(separator: ", "))
            }
        }
        do { return try JSONDecoder().decode(ConfigFile.self, from: data) } catch {
            throw InputError("\(path): not a valid model configuration: \(describe(error))")
        }
    }

    /// Runs the step and returns the outputs (logits_eval, logits_train, loss, grad.*, after.*).
    public static func run(configPath: String, weightsPath: String, batchPath: String) throws -> [StateTensor] {
        let config = try readConfig(configPath)
        let batch = try SafeTensorsFile(contentsOf: batchPath)
        guard let shape = batch.shape("input"), shape.count == 4 else {
            throw InputError("\(batchPath): needs an F32 tensor 'input' of shape [batch, channels, height, width]")
        }
        let (h, w) = (shape[2], shape[3])
        if let size = config.imageSize, size != [h, w] {
            throw InputError("\(batchPath): input is \(h)x\(w) but \(configPath) says image_size \(size)")
        }
        guard shape[1] == config.model.inChans else {
            throw InputError("\(batchPath): input has \(shape[1]) channels but in_chans is \(config.model.inChans)")
        }
        let model = try WaveMixModel(config: config.model, imageHeight: h, imageWidth: w)
        try model.loadStateDict(try StateDictFiles.read(weightsPath))
        let labels = try batch.int64s("labels")
        guard labels.count == shape[0] else {
            throw InputError("\(batchPath): \(labels.count) labels for a batch of \(shape[0])")
        }
        var masks: [String: [Float]] = [:]
        for name in batch.names where name.hasPrefix("dropout.") {
            masks[String(name.dropFirst("dropout.".count))] = try batch.floats(name)
        }
        return try model.debugStep(DebugBatch(inputNCHW: try batch.floats("input"), labels: labels.map { Int32(clamping: $0) },
                                              dropoutMasksNCHW: masks))
    }
}

/// A decoding error as one line (DecodingError's own description is a multi-line dump).
func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): return "missing key '\(key.stringValue)'"
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
        return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
    case DecodingError.dataCorrupted(let context):
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
    default: return "\(error)"
    }
}
