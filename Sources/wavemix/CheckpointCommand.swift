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
        @Flag(help: "Replace the file if it exists.") var force = false

        func run() throws {
            try refuseToReplace(safetensors, force: force)
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
        @Option(help: "The checkpoint file to write (not inside a run's checkpoints directory).") var out: String
        @Flag(help: "Replace the file if it exists.") var force = false

        func run() throws {
            // A weights-only checkpoint among a run's would be taken for a training state by --resume.
            let directory = URL(fileURLWithPath: out).deletingLastPathComponent()
            if directory.lastPathComponent == "checkpoints",
               ["config.json", "metrics.jsonl"].contains(where: {
                   FileManager.default.fileExists(atPath: directory.deletingLastPathComponent().appendingPathComponent($0).path) }) {
                throw InputError("\(out): inside a run's checkpoints directory, where --resume would take it for a training state; "
                                 + "write it elsewhere")
            }
            try refuseToReplace(out, force: force)
            let file = try DebugStepRunner.readConfig(config)
            guard let size = file.imageSize, size.count == 2 else {
                throw InputError("\(config): needs \"image_size\": [height, width] (the input size the model is for)")
            }
            let model = try WaveMixModel(config: file.model, imageHeight: size[0], imageWidth: size[1])
            do { try model.loadStateDict(try StateDictFiles.read(safetensors)) } catch let error as StateDictError {
                throw InputError("\(safetensors): \(error) (for the model in \(config))")
            }
            try CheckpointImport.write(model, to: out)
            print("wrote \(out): \(model.parameterCount) parameters")
        }
    }
}

/// Nothing a user wrote is overwritten without --force, and the file's directory must exist.
func refuseToReplace(_ path: String, force: Bool) throws {
    if !force && FileManager.default.fileExists(atPath: path) {
        throw InputError("\(path) exists; pass --force to replace it")
    }
    var isDirectory: ObjCBool = false
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw InputError("\(path): the directory \(directory) does not exist")
    }
}
