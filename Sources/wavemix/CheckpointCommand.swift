// `wavemix checkpoint`: look inside a checkpoint, and move weights between checkpoints and the
// safetensors state dicts PyTorch users exchange.
import ArgumentParser
import Checkpoint
import Foundation
import Training
import WaveMix

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Inspect checkpoints; export them to, and import them from, safetensors state dicts.",
        subcommands: [Inspect.self, Export.self, Import.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a checkpoint's metadata, sections, sizes, compression ratio and checksum status.")
        @Argument(help: "The checkpoint file.") var path: String
        @Flag(help: "Skip reading every byte to verify checksums.") var noVerify = false

        func run() throws {
            let report = try CheckpointReader(contentsOf: path).inspect(verifyChecksums: !noVerify)
            print("\(report.path): format \(report.formatVersion), \(report.fileBytes) bytes (header \(report.headerBytes))")
            print("metadata:\n\(report.metadataJSON)")
            print("sections:")
            for s in report.sections {
                let status: String
                switch s.checksum {
                case .verified: status = "checksums ok"
                case .mismatch(let chunk): status = "CHECKSUM MISMATCH in chunk \(chunk)"
                case .notChecked: status = "not checked"
                }
                print("  " + s.section.name.padding(toLength: 28, withPad: " ", startingAt: 0)
                      + String(format: " %@ x %11d  raw %12d  stored %12d  ratio %.3f  %@", s.section.kind.rawValue, s.section.count,
                               s.section.rawBytes, s.section.storedBytes, s.section.compressionRatio, status))
            }
            print(String(format: "total: raw %d bytes, stored %d bytes, ratio %.3f", report.rawBytes, report.storedBytes,
                         report.compressionRatio))
            if report.sections.contains(where: { if case .mismatch = $0.checksum { true } else { false } }) {
                throw InputError("\(path): corrupt (checksum mismatch)")
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a checkpoint's weights as a safetensors state dict with the official PyTorch names.",
            discussion: "The official model loads it with load_state_dict(strict=True) (for in_chans 3).")
        @Argument(help: "The checkpoint file.") var path: String
        @Option(help: "The safetensors file to write.") var safetensors: String

        func run() throws {
            let (model, metadata) = try WeightFiles.model(fromCheckpoint: path)
            try StateDictFiles.write(model.stateDict(), to: safetensors, metadata: ["format": "pt", "step": "\(metadata.step)"])
            print("wrote \(safetensors): \(model.parameterCount) parameters of step \(metadata.step)")
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a weights-only checkpoint from a safetensors state dict and a model configuration.",
            discussion: "The configuration is JSON with the official constructor's arguments, in_chans and image_size [H, W]; "
                + "the result works with `wavemix eval --checkpoint` and `wavemix train --init-from`.")
        @Argument(help: "The safetensors state dict.") var safetensors: String
        @Option(help: "Model configuration (JSON).") var config: String
        @Option(help: "The checkpoint file to write.") var out: String

        func run() throws {
            let file = try DebugStepRunner.readConfig(config)
            guard let size = file.imageSize, size.count == 2 else {
                throw InputError("\(config): needs \"image_size\": [height, width] (the input size the model is for)")
            }
            let model = try WaveMixModel(config: file.model, imageHeight: size[0], imageWidth: size[1])
            try model.loadStateDict(try StateDictFiles.read(safetensors))
            try CheckpointImport.write(model, to: out)
            print("wrote \(out): \(model.parameterCount) parameters")
        }
    }
}
