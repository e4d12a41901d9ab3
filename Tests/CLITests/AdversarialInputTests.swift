// Every bad input a user or an adversary can give, as one table: each case runs the wavemix binary
// and must exit with its documented status (64: the command line, 65: input that cannot work), say
// what is wrong on the first line of stderr, leave every file that was there byte for byte as it
// was, and never crash.
import Checkpoint
import Foundation
import TestSupport
import XCTest

final class AdversarialInputTests: XCTestCase {
    struct Case {
        let arguments: [String]
        let status: Int32
        /// Text the first line of stderr must contain.
        let mentions: String
        var environment: [String: String] = [:]
    }

    /// Files the cases use, made once: a small IDX set, a tiny run with a checkpoint, its weights
    /// as safetensors, a model configuration, and damaged copies of each.
    struct Fixtures {
        let dir: String
        let data: String
        let run: String
        let checkpoint: String
        let weights: String
        let config: String
        /// A checkpoint of a model for 32 x 32 grey images.
        let grey32: String
    }

    func makeFixtures() throws -> Fixtures {
        let dir = temporaryDirectory(self, "wavemix-adversarial")
        let data = "\(dir)/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try IDXDataSet.write(to: data, train: 64, test: 16)
        let run = "\(dir)/run"
        let trained = try Programs.run(try Programs.wavemix(),
                                       ["train", "--data", "idx:\(data)", "--final-dim", "16", "--ff-channel", "16", "--depth", "1",
                                        "--batch-size", "16", "--max-steps", "2", "--threads", "1", "--run-dir", run], deadline: 120)
        XCTAssertEqual(trained.status, 0, trained.output)
        let checkpoint = try XCTUnwrap(CheckpointDirectory(runDirectory: run).checkpoints().last).path
        try FileManager.default.createDirectory(atPath: "\(dir)/grey32", withIntermediateDirectories: true)
        try IDXDataSet.write(to: "\(dir)/grey32", train: 32, test: 8, side: 32)
        let grey = try Programs.run(try Programs.wavemix(),
                                    ["train", "--data", "idx:\(dir)/grey32", "--final-dim", "16", "--ff-channel", "16", "--depth", "1",
                                     "--batch-size", "16", "--max-steps", "1", "--threads", "1", "--run-dir", "\(dir)/grey32-run"], deadline: 120)
        XCTAssertEqual(grey.status, 0, grey.output)
        let grey32 = try XCTUnwrap(CheckpointDirectory(runDirectory: "\(dir)/grey32-run").checkpoints().last).path
        let weights = "\(dir)/weights.safetensors"
        let exported = try Programs.run(try Programs.wavemix(), ["checkpoint", "export", checkpoint, "--safetensors", weights])
        XCTAssertEqual(exported.status, 0, exported.output)
        let config = "\(dir)/model.json"
        try #"{"num_classes": 10, "depth": 1, "mult": 2, "ff_channel": 16, "final_dim": 16, "dropout": 0.5, "level": 1, "initial_conv": "strided", "patch_size": 4, "stride": 1, "in_chans": 1, "image_size": [16, 16]}"#
            .write(toFile: config, atomically: true, encoding: .utf8)

        func damaged(_ name: String, from source: String, _ change: (inout [UInt8]) -> Void) throws {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
            change(&bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
        }
        try damaged("truncated.wmx", from: checkpoint) { $0.removeLast($0.count / 2) }
        try damaged("flipped.wmx", from: checkpoint) { $0[$0.count - 100] ^= 0x40 }
        try damaged("magic.wmx", from: checkpoint) { $0[0] ^= 0xFF }
        try damaged("empty.wmx", from: checkpoint) { $0 = [] }
        try damaged("truncated.safetensors", from: weights) { $0.removeLast($0.count / 3) }
        try damaged("header.safetensors", from: weights) { $0[10] = UInt8(ascii: "}") }
        try damaged("huge-header.safetensors", from: weights) { $0[7] = 0x7F }
        try "not json".write(toFile: "\(dir)/garbage.json", atomically: true, encoding: .utf8)
        try #"{"depth": 1, "final_dim": 16, "ff_channel": 16, "image_size": [16, 16], "in_chans": 1, "dept": 3}"#
            .write(toFile: "\(dir)/typo.json", atomically: true, encoding: .utf8)
        try #"{"depth": 1, "final_dim": 16, "ff_channel": 16, "in_chans": 1, "initial_conv": "strided", "stride": 1, "level": 1}"#
            .write(toFile: "\(dir)/no-size.json", atomically: true, encoding: .utf8)
        try #"{"depth": 2, "final_dim": 16, "ff_channel": 16, "image_size": [16, 16], "in_chans": 1, "initial_conv": "strided", "stride": 1, "level": 1, "num_classes": 10}"#
            .write(toFile: "\(dir)/other-depth.json", atomically: true, encoding: .utf8)
        try "text".write(toFile: "\(dir)/a-file", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "\(dir)/empty-dir", withIntermediateDirectories: true)

        // IDX sets with one defect each.
        func idxVariant(_ name: String, _ change: (String) throws -> Void) throws {
            let variant = "\(dir)/\(name)"
            try FileManager.default.createDirectory(atPath: variant, withIntermediateDirectories: true)
            try IDXDataSet.write(to: variant, train: 64, test: 16)
            try change(variant)
        }
        func edit(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            change(&bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        try idxVariant("idx-magic") { try edit("\($0)/train-images-idx3-ubyte") { $0[2] = 0x0D } }
        try idxVariant("idx-truncated") { try edit("\($0)/train-images-idx3-ubyte") { $0.removeLast(100) } }
        try idxVariant("idx-trailing") { try edit("\($0)/train-labels-idx1-ubyte") { $0.append(3) } }
        try idxVariant("idx-count") { try edit("\($0)/train-labels-idx1-ubyte") { $0[7] = 63; $0.removeLast() } }
        try idxVariant("idx-label") { try edit("\($0)/train-labels-idx1-ubyte") { $0[8 + 5] = 255 } }
        try idxVariant("idx-test-label") { try edit("\($0)/t10k-labels-idx1-ubyte") { $0[8 + 3] = 10 } }
        try idxVariant("idx-size") { try edit("\($0)/t10k-images-idx3-ubyte") { $0[11] = 8; $0[15] = 32 } }
        try idxVariant("idx-missing") { try FileManager.default.removeItem(atPath: "\($0)/t10k-labels-idx1-ubyte") }
        try idxVariant("idx-gzip") { variant in
            try Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]).write(to: URL(fileURLWithPath: "\(variant)/train-images-idx3-ubyte.gz"))
            try FileManager.default.removeItem(atPath: "\(variant)/train-images-idx3-ubyte")
        }
        try idxVariant("idx-dims") { try edit("\($0)/train-images-idx3-ubyte") { $0[3] = 2 } }
        // CIFAR-10 with one file short.
        try FileManager.default.createDirectory(atPath: "\(dir)/cifar", withIntermediateDirectories: true)
        try CIFARDataSet.write(to: "\(dir)/cifar")
        try FileManager.default.createDirectory(atPath: "\(dir)/cifar-partial", withIntermediateDirectories: true)
        try CIFARDataSet.write(to: "\(dir)/cifar-partial")
        try edit("\(dir)/cifar-partial/data_batch_3.bin") { $0.removeLast(10) }
        try FileManager.default.createDirectory(atPath: "\(dir)/cifar-label", withIntermediateDirectories: true)
        try CIFARDataSet.write(to: "\(dir)/cifar-label")
        try edit("\(dir)/cifar-label/test_batch.bin") { $0[3073] = 10 }
        // An image folder whose only image is not an image.
        try FileManager.default.createDirectory(atPath: "\(dir)/folder/train/cat", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/folder/val/cat", withIntermediateDirectories: true)
        try "no".write(toFile: "\(dir)/folder/train/cat/a.jpg", atomically: true, encoding: .utf8)
        try "no".write(toFile: "\(dir)/folder/val/cat/a.png", atomically: true, encoding: .utf8)
        return Fixtures(dir: dir, data: "idx:\(data)", run: run, checkpoint: checkpoint, weights: weights, config: config, grey32: grey32)
    }

    func cases(_ f: Fixtures) -> [Case] {
        let d = f.dir
        let small = ["--final-dim", "16", "--ff-channel", "16", "--depth", "1", "--max-steps", "1", "--threads", "1", "--batch-size", "16"]
        func train(_ extra: [String], _ status: Int32, _ mentions: String, env: [String: String] = [:]) -> Case {
            Case(arguments: ["train", "--data", f.data, "--run-dir", "\(d)/new-run"] + small + extra, status: status, mentions: mentions,
                 environment: env)
        }
        func data(_ spec: String, _ mentions: String, _ extra: [String] = []) -> Case {
            Case(arguments: ["train", "--data", spec, "--run-dir", "\(d)/new-run"] + small + extra, status: 65, mentions: mentions)
        }
        var all: [Case] = []
        // The command line (64): every numeric option out of its range, bad names and values.
        for (option, values) in [("--epochs", ["0", "-1"]), ("--max-steps", ["0", "-3"]), ("--batch-size", ["0", "-5"]),
                                 ("--grad-accum", ["0"]), ("--lr", ["0", "-1", "nan", "inf", "abc"]), ("--weight-decay", ["-1", "nan"]),
                                 ("--momentum", ["-0.5"]), ("--beta1", ["1.5", "-0.1", "1"]), ("--beta2", ["1", "2"]),
                                 ("--eps", ["-1", "inf"]), ("--warmup-steps", ["-1"]), ("--step-size", ["0"]), ("--gamma", ["-1"]),
                                 ("--min-lr", ["-1"]), ("--crop-padding", ["-1"]), ("--log-every", ["0", "-2"]),
                                 ("--eval-every", ["-1"]), ("--clip-grad-norm", ["0", "-1"]), ("--eval-batch-size", ["0"]),
                                 ("--comm-timeout", ["0"]), ("--bucket-mib", ["0", "-4"]), ("--checkpoint-every", ["-1"]),
                                 ("--keep", ["0"]), ("--stop-after-steps", ["0"]), ("--depth", ["0"]), ("--final-dim", ["-4"]),
                                 ("--level", ["0", "5"]), ("--dropout", ["1.5", "-0.1", "1"]), ("--num-classes", ["0"]),
                                 ("--threads", ["0", "-1"]), ("--in-chans", ["0"]), ("--image-size", ["0"]), ("--seed", ["-1", "x"]),
                                 ("--optimizer", ["adam"]), ("--schedule", ["linear"]), ("--stem", ["diagonal"]),
                                 ("--mult", ["0"]), ("--stride", ["0"]), ("--patch-size", ["0"])] {
            // A value that parses is answered by the option's own range check; one that does not, by the parser.
            for value in values {
                let parses = Double(value) != nil && !(option == "--seed" || option == "--optimizer")
                all.append(train([option, value], 64, parses ? "Error: \(option) must" : option))
            }
        }
        all += [
            train(["--nesterov"], 64, "--nesterov"),
            train(["--optimizer", "sgd", "--nesterov"], 64, "--nesterov"),
            train(["--preset", "nope"], 64, "unknown preset 'nope'"),
            train(["--no-such-option"], 64, "--no-such-option"),
            train(["--lr"], 64, "--lr"),
            Case(arguments: ["train", "--resume", "auto"], status: 64, mentions: "--resume needs --run-dir"),
            Case(arguments: ["train", "--data", "bogus:/x"], status: 64, mentions: "unknown data set kind"),
            Case(arguments: ["train", "--data", "idx:"], status: 64, mentions: "idx:"),
            train([], 64, "WAVEMIX_THREADS", env: ["WAVEMIX_THREADS": "abc"]),
            train([], 64, "WAVEMIX_THREADS", env: ["WAVEMIX_THREADS": "0"]),
            train([], 64, "WAVEMIX_THREADS", env: ["WAVEMIX_THREADS": "-2"]),
            Case(arguments: ["eval"], status: 64, mentions: "--checkpoint"),
            Case(arguments: ["eval", "--checkpoint", f.checkpoint, "--batch-size", "0"], status: 64, mentions: "--batch-size"),
            Case(arguments: ["bench", "--steps", "0"], status: 64, mentions: "--steps"),
            Case(arguments: ["bench", "--batch-size", "-1"], status: 64, mentions: "--batch-size"),
            Case(arguments: ["checkpoint", "export", f.checkpoint], status: 64, mentions: "--safetensors"),
            Case(arguments: ["checkpoint", "import", f.weights, "--out", "\(d)/x.wmx"], status: 64, mentions: "--config"),
            Case(arguments: ["checkpoint", "frobnicate"], status: 64, mentions: "frobnicate"),
            Case(arguments: ["no-such-command"], status: 64, mentions: "no-such-command"),
        ]
        // Data that cannot work (65): missing, damaged, or not fitting the model.
        all += [
            data("idx:\(d)/nowhere", "\(d)/nowhere"),
            data("idx:\(d)/empty-dir", "\(d)/empty-dir"),
            data("idx:\(d)/idx-magic", "train-images-idx3-ubyte"),
            data("idx:\(d)/idx-truncated", "train-images-idx3-ubyte"),
            data("idx:\(d)/idx-trailing", "train-labels-idx1-ubyte"),
            data("idx:\(d)/idx-count", "train-labels-idx1-ubyte"),
            data("idx:\(d)/idx-label", "label 255 at index 5"),
            data("idx:\(d)/idx-label", "label 255 at index 5 is outside 0..<10", ["--num-classes", "10"]),
            data("idx:\(d)/idx-test-label", "t10k-labels-idx1-ubyte: label 10 at index 3"),
            data("idx:\(d)/idx-size", "t10k-images-idx3-ubyte"),
            data("idx:\(d)/idx-missing", "t10k-labels"),
            data("idx:\(d)/idx-gzip", "train-images-idx3-ubyte.gz"),
            data("idx:\(d)/idx-dims", "train-images-idx3-ubyte"),
            data("mnist:\(d)/nowhere", "\(d)/nowhere"),
            data("cifar10:\(d)/nowhere", "\(d)/nowhere"),
            data("cifar100:\(d)/cifar", "train.bin"),
            data("cifar10:\(d)/cifar-partial", "data_batch_3.bin"),
            data("cifar10:\(d)/cifar-label", "test_batch.bin: label 10 at index 1"),
            data("cifar10:\(d)/cifar", "3-channel images", ["--in-chans", "1"]),
            data("cifar10:\(d)/cifar", "3-channel images", ["--in-chans", "2"]),
            data("imagefolder:\(d)/nowhere", "\(d)/nowhere"),
            data("imagefolder:\(d)/empty-dir", "\(d)/empty-dir"),
            data("imagenet:\(d)/nowhere", "\(d)/nowhere"),
            data("places365:\(d)/nowhere", "\(d)/nowhere"),
            data("packed:\(d)/nowhere", "\(d)/nowhere"),
            data("packed:\(d)/empty-dir", "\(d)/empty-dir"),
            data(f.data, "--num-classes 5", ["--num-classes", "5"]),
            data(f.data, "--num-classes 1", ["--num-classes", "1"]),
            data(f.data, "multiple of", ["--stride", "2", "--level", "3"]),
            data(f.data, "--image-size", ["--image-size", "32"]),
            Case(arguments: ["train", "--data", f.data, "--run-dir", "\(d)/new-run", "--final-dim", "16", "--ff-channel", "16", "--depth", "2",
                             "--max-steps", "1", "--threads", "1", "--batch-size", "16", "--init-from", f.weights], status: 65,
                 mentions: "weights.safetensors"),
            data(f.data, "truncated.safetensors", ["--init-from", "\(d)/truncated.safetensors"]),
            data(f.data, "header.safetensors", ["--init-from", "\(d)/header.safetensors"]),
            data(f.data, "huge-header.safetensors", ["--init-from", "\(d)/huge-header.safetensors"]),
            data(f.data, "\(d)/none.safetensors", ["--init-from", "\(d)/none.safetensors"]),
            data(f.data, "a-file", ["--init-from", "\(d)/a-file"]),
            Case(arguments: ["train", "--data", f.data, "--run-dir", "\(d)/a-file"] + small, status: 65, mentions: "not a directory"),
            Case(arguments: ["train", "--data", f.data, "--run-dir", f.run] + small, status: 65, mentions: "already holds a run"),
            Case(arguments: ["train", "--data", f.data, "--run-dir", f.run, "--resume", "\(d)/truncated.wmx"] + small, status: 65,
                 mentions: "truncated.wmx"),
            Case(arguments: ["train", "--data", f.data, "--run-dir", f.run, "--resume", "\(d)/none.wmx"] + small, status: 65,
                 mentions: "none.wmx"),
            Case(arguments: ["train", "--data", f.data, "--run-dir", f.run, "--resume", "auto", "--final-dim", "32", "--ff-channel", "16",
                             "--depth", "1", "--threads", "1"], status: 65, mentions: "--final-dim"),
            Case(arguments: ["train", "--data", f.data, "--run-dir", f.run, "--resume", "auto", "--lr", "0.5"] + small, status: 65,
                 mentions: "--lr"),
        ]
        // Checkpoints, state dicts and configurations that cannot work (65).
        // (A flipped bit in the optimizer state does not stop eval or export, which do not read it;
        // inspect and --resume, which do, refuse it.)
        for name in ["truncated.wmx", "magic.wmx", "empty.wmx", "none.wmx", "a-file", "weights.safetensors"] {
            all.append(Case(arguments: ["eval", "--checkpoint", "\(d)/\(name)", "--data", f.data], status: 65, mentions: name))
            all.append(Case(arguments: ["checkpoint", "export", "\(d)/\(name)", "--safetensors", "\(d)/out.safetensors"], status: 65,
                            mentions: name))
        }
        for name in ["truncated.wmx", "flipped.wmx", "magic.wmx", "empty.wmx"] {
            all.append(Case(arguments: ["checkpoint", "inspect", "\(d)/\(name)"], status: 65, mentions: name))
        }
        for name in ["truncated.safetensors", "header.safetensors", "huge-header.safetensors", "none.safetensors", "a-file"] {
            all.append(Case(arguments: ["checkpoint", "import", "\(d)/\(name)", "--config", f.config, "--out", "\(d)/out.wmx"], status: 65,
                            mentions: name))
        }
        all += [
            Case(arguments: ["eval", "--checkpoint", "\(d)/empty-dir"], status: 65, mentions: "without checkpoints"),
            Case(arguments: ["eval", "--checkpoint", f.grey32, "--data", "cifar10:\(d)/cifar"], status: 65, mentions: "3-channel images"),
            Case(arguments: ["eval", "--checkpoint", f.checkpoint, "--data", "cifar10:\(d)/cifar"], status: 65, mentions: "16x16"),
            Case(arguments: ["train", "--data", f.data, "--run-dir", f.run, "--resume", "\(d)/flipped.wmx"] + small, status: 65,
                 mentions: "flipped.wmx"),
            Case(arguments: ["eval", "--checkpoint", f.checkpoint, "--data", "idx:\(d)/nowhere"], status: 65, mentions: "\(d)/nowhere"),
            Case(arguments: ["eval", "--checkpoint", f.checkpoint, "--data", f.data, "--per-class", "\(d)/nowhere/classes.csv"], status: 65,
                 mentions: "\(d)/nowhere/classes.csv"),
            Case(arguments: ["checkpoint", "import", f.weights, "--config", "\(d)/garbage.json", "--out", "\(d)/out.wmx"], status: 65,
                 mentions: "garbage.json"),
            Case(arguments: ["checkpoint", "import", f.weights, "--config", "\(d)/typo.json", "--out", "\(d)/out.wmx"], status: 65,
                 mentions: "unknown key(s) dept"),
            Case(arguments: ["checkpoint", "import", f.weights, "--config", "\(d)/no-size.json", "--out", "\(d)/out.wmx"], status: 65,
                 mentions: "image_size"),
            Case(arguments: ["checkpoint", "import", f.weights, "--config", "\(d)/other-depth.json", "--out", "\(d)/out.wmx"], status: 65,
                 mentions: "weights.safetensors"),
            Case(arguments: ["checkpoint", "import", f.weights, "--config", "\(d)/none.json", "--out", "\(d)/out.wmx"], status: 65,
                 mentions: "none.json"),
            Case(arguments: ["checkpoint", "import", f.weights, "--config", f.config, "--out", "\(d)/a-file"], status: 65,
                 mentions: "--force"),
            Case(arguments: ["checkpoint", "import", f.weights, "--config", f.config, "--out", "\(f.run)/checkpoints/step-00000007.wmx",
                             "--force"], status: 65, mentions: "checkpoints directory"),
            Case(arguments: ["checkpoint", "export", f.checkpoint, "--safetensors", "\(d)/a-file"], status: 65, mentions: "--force"),
            Case(arguments: ["checkpoint", "export", f.checkpoint, "--safetensors", f.checkpoint], status: 65, mentions: "--force"),
            Case(arguments: ["checkpoint", "export", f.checkpoint, "--safetensors", "\(d)/nowhere/w.safetensors"], status: 65,
                 mentions: "\(d)/nowhere"),
            Case(arguments: ["debug-step", "--config", "\(d)/typo.json", "--weights", f.weights, "--batch", f.weights,
                             "--out", "\(d)/o.safetensors"], status: 65, mentions: "unknown key(s) dept"),
            Case(arguments: ["debug-step", "--config", f.config, "--weights", f.weights, "--batch", f.weights,
                             "--out", "\(d)/o.safetensors"], status: 65, mentions: "input"),
        ]
        return all
    }

    func testEveryBadInputIsRefusedCleanlyAndChangesNothing() throws {
        let fixtures = try makeFixtures()
        let all = cases(fixtures)
        XCTAssertGreaterThanOrEqual(all.count, 100)
        let binary = try Programs.wavemix()
        let before = try Self.checksums(fixtures.dir)
        var failures: [String] = []
        for c in all {
            let result = try Programs.run(binary, c.arguments, environment: Programs.environment(c.environment), deadline: 120)
            let first = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
            var problems: [String] = []
            if result.status != c.status { problems.append("exit \(result.status), expected \(c.status)") }
            if !first.contains(c.mentions) { problems.append("first line lacks '\(c.mentions)'") }
            for crash in ["Fatal error", "Stack dump", "backtrace", "Segmentation", "Illegal instruction"] where result.output.contains(crash) {
                problems.append("crashed")
            }
            for domain in ["NSCocoaErrorDomain", "warning: warning:", "WaveMixConfig("] where result.output.contains(domain) {
                problems.append("says \(domain)")
            }
            if !problems.isEmpty {
                failures.append("\(c.arguments.joined(separator: " ")): \(problems.joined(separator: "; "))\n    stderr: \(result.stderr.prefix(300))")
            }
        }
        XCTAssertTrue(failures.isEmpty, "\(failures.count) of \(all.count) cases:\n" + failures.joined(separator: "\n"))
        // Nothing that was there changed, and no run directory was left behind by a refused run.
        XCTAssertEqual(try Self.checksums(fixtures.dir), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(fixtures.dir)/new-run"))
        print("adversarial inputs: \(all.count) cases")
    }

    /// Path -> FNV-1a of the contents, for every file under `dir`.
    static func checksums(_ dir: String) throws -> [String: UInt64] {
        var sums: [String: UInt64] = [:]
        let enumerator = FileManager.default.enumerator(atPath: dir)
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: "\(dir)/\(name)", isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)")) { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            sums[name] = hash
        }
        return sums
    }
}
