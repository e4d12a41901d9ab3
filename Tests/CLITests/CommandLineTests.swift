// The command line as users meet it: help texts pinned (scripts rely on the names), and bad input
// answered with one line on stderr and a non-zero exit, never a crash or a backtrace.
import Foundation
import TestSupport
import XCTest

final class CommandLineTests: XCTestCase {
    func wavemix(_ arguments: [String]) throws -> ChildResult {
        try Programs.run(try Programs.wavemix(), arguments, deadline: 120)
    }

    func testHelpListsEveryCommandAndTheDocumentedOptions() throws {
        let root = try wavemix(["--help"])
        XCTAssertEqual(root.status, 0)
        for command in ["train (default)", "eval", "checkpoint", "bench", "debug-step"] {
            XCTAssertTrue(root.stdout.contains(command), "wavemix --help lacks \(command)")
        }
        let train = try wavemix(["train", "--help"])
        for flag in ["--data", "--preset", "--depth", "--final-dim", "--ff-channel", "--mult", "--level", "--stem", "--patch-size",
                     "--stride", "--dropout", "--num-classes", "--in-chans", "--epochs", "--max-steps", "--batch-size",
                     "--run-dir", "--resume", "--seed", "--threads", "--sync-bn", "--optimizer", "--lr", "--weight-decay",
                     "--momentum", "--schedule", "--warmup-steps", "--clip-grad-norm", "--grad-accum", "--augment",
                     "--checkpoint-every", "--keep", "--comm-timeout"] {
            XCTAssertTrue(train.stdout.contains(flag), "train --help lacks \(flag)")
        }
        let checkpoint = try wavemix(["checkpoint", "--help"])
        for sub in ["inspect", "export", "import"] { XCTAssertTrue(checkpoint.stdout.contains(sub), "checkpoint --help lacks \(sub)") }
    }

    /// Every bad input: non-zero exit, one "Error: ..." line naming the problem, no crash report.
    func assertCleanFailure(_ arguments: [String], mentions: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try wavemix(arguments)
        XCTAssertNotEqual(result.status, 0, "expected failure: \(arguments)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage:") && !$0.contains("--help' for more") }
        XCTAssertEqual(lines.count, 1, "stderr: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(mentions), "stderr lacks '\(mentions)': \(result.stderr)", file: file, line: line)
        for crash in ["Fatal error", "Stack dump", "backtrace", "Segmentation"] {
            XCTAssertFalse(result.output.contains(crash), "crashed: \(result.output)", file: file, line: line)
        }
    }

    func testBadInputGetsOneClearLine() throws {
        let dir = temporaryDirectory(self)
        let fixture = Programs.repositoryRoot.appendingPathComponent("Tests/WaveMixTests/Fixtures/model").path
        try assertCleanFailure(["train", "--data", "idx:\(dir)/none", "--run-dir", "\(dir)/r"], mentions: "\(dir)")
        try assertCleanFailure(["train", "--preset", "nope"], mentions: "unknown preset 'nope'")
        try assertCleanFailure(["train", "--level", "3", "--run-dir", "\(dir)/r"], mentions: "multiple of 8")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/r"), "a refused configuration must not create the run directory")
        try assertCleanFailure(["train", "--data", "bogus:/x"], mentions: "unknown data set kind")
        try assertCleanFailure(["train", "--batch-size", "0"], mentions: "--batch-size")
        try assertCleanFailure(["train", "--resume", "auto"], mentions: "--resume needs --run-dir")

        FileManager.default.createFile(atPath: "\(dir)/garbage.safetensors", contents: Data("not a safetensors file".utf8))
        try assertCleanFailure(["debug-step", "--config", "\(fixture)/l2_pachify/config.json", "--weights", "\(dir)/garbage.safetensors",
                                "--batch", "\(fixture)/l2_pachify/batch.safetensors", "--out", "\(dir)/o.safetensors"],
                               mentions: "garbage.safetensors")
        try assertCleanFailure(["debug-step", "--config", "\(fixture)/l2_pachify/config.json",
                                "--weights", "\(fixture)/l1_strided_s1_in1/weights.safetensors",
                                "--batch", "\(fixture)/l2_pachify/batch.safetensors", "--out", "\(dir)/o.safetensors"],
                               mentions: "missing")
        FileManager.default.createFile(atPath: "\(dir)/bad.json", contents: Data(#"{"level": "three"}"#.utf8))
        try assertCleanFailure(["debug-step", "--config", "\(dir)/bad.json", "--weights", "\(fixture)/l2_pachify/weights.safetensors",
                                "--batch", "\(fixture)/l2_pachify/batch.safetensors", "--out", "\(dir)/o.safetensors"],
                               mentions: "bad.json")
        FileManager.default.createFile(atPath: "\(dir)/fake.wmx", contents: Data("WMXCKPT\0short".utf8))
        try assertCleanFailure(["eval", "--checkpoint", "\(dir)/fake.wmx"], mentions: "fake.wmx")
        try assertCleanFailure(["checkpoint", "inspect", "\(dir)/missing.wmx"], mentions: "missing.wmx")
    }
}
