// wavemix checkpoint inspect/export/import and wavemix eval on a real (short) run: the export is a
// state dict with exactly the official package's names, shapes and dtypes (compared with a state
// dict PyTorch dumped for the same configuration), and an imported copy evaluates identically.
import Checkpoint
import Foundation
import TestSupport
import XCTest

final class CheckpointToolsTests: XCTestCase {
    func testExportImportEvalAndInspect() throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        let binary = try Programs.wavemix()
        // The configuration of the committed fixture l1_strided_s1_in1 (official names from PyTorch).
        let fixture = Programs.repositoryRoot.appendingPathComponent("Tests/WaveMixTests/Fixtures/model/l1_strided_s1_in1").path
        try runs.train(ranks: 1, ["--final-dim", "16", "--ff-channel", "16", "--depth", "2", "--mult", "2", "--level", "1",
                                  "--stride", "1", "--max-steps", "3", "--run-dir", "\(dir)/run"])
        let checkpoint = try XCTUnwrap(CheckpointDirectory(runDirectory: "\(dir)/run").checkpoints().last).path

        let inspect = try Programs.run(binary, ["checkpoint", "inspect", checkpoint])
        XCTAssertEqual(inspect.status, 0, inspect.output)
        for word in ["parameters", "buffers", "counters", "optimizer.exp_avg", "optimizer.exp_avg_sq", "checksums ok", "ratio"] {
            XCTAssertTrue(inspect.stdout.contains(word), "inspect lacks \(word): \(inspect.stdout)")
        }

        let export = try Programs.run(binary, ["checkpoint", "export", checkpoint, "--safetensors", "\(dir)/w.safetensors"])
        XCTAssertEqual(export.status, 0, export.output)
        let mine = try SafeTensorsFile(contentsOf: "\(dir)/w.safetensors")
        let official = try SafeTensorsFile(contentsOf: "\(fixture)/weights.safetensors")
        // The test data set is 16x16 grey with 10 classes, as the fixture (28x28 input does not change shapes).
        XCTAssertEqual(mine.names, official.names)
        for name in official.names {
            XCTAssertEqual(mine.shape(name), official.shape(name), name)
            XCTAssertEqual(mine.info(name)?.dtype, official.info(name)?.dtype, name)
        }

        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(fixture)/config.json"))) as! [String: Any]
        config["image_size"] = [16, 16]
        config["dropout"] = 0.5
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(dir)/model.json"))
        let imported = try Programs.run(binary, ["checkpoint", "import", "\(dir)/w.safetensors", "--config", "\(dir)/model.json",
                                                 "--out", "\(dir)/imported.wmx"])
        XCTAssertEqual(imported.status, 0, imported.output)

        // Nothing existing is replaced without --force, and nothing is imported among a run's checkpoints.
        let note = "\(dir)/note.txt"
        try "my notes\n".write(toFile: note, atomically: true, encoding: .utf8)
        let checkpointBytes = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        for arguments in [["checkpoint", "export", checkpoint, "--safetensors", note],
                          ["checkpoint", "import", "\(dir)/w.safetensors", "--config", "\(dir)/model.json", "--out", note],
                          ["checkpoint", "import", "\(dir)/w.safetensors", "--config", "\(dir)/model.json", "--out", checkpoint, "--force"],
                          ["checkpoint", "import", "\(dir)/w.safetensors", "--config", "\(dir)/model.json",
                           "--out", "\(dir)/run/checkpoints/step-00000099.wmx"]] {
            let refused = try Programs.run(binary, arguments)
            XCTAssertNotEqual(refused.status, 0, "\(arguments): \(refused.output)")
            XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.output)
        }
        XCTAssertEqual(try String(contentsOfFile: note, encoding: .utf8), "my notes\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), checkpointBytes)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/run/checkpoints/step-00000099.wmx"))
        let forced = try Programs.run(binary, ["checkpoint", "export", checkpoint, "--safetensors", note, "--force"])
        XCTAssertEqual(forced.status, 0, forced.output)
        XCTAssertEqual(try SafeTensorsFile(contentsOf: note).names, mine.names)
        let evalOriginal = try Programs.run(binary, ["eval", "--checkpoint", checkpoint, "--threads", "1"])
        let evalImported = try Programs.run(binary, ["eval", "--checkpoint", "\(dir)/imported.wmx", "--data", runs.data, "--threads", "1",
                                                     "--per-class", "\(dir)/classes.csv"])
        XCTAssertEqual(evalOriginal.status, 0, evalOriginal.output)
        XCTAssertEqual(evalImported.status, 0, evalImported.output)
        let result = { (r: ChildResult) in r.stdout.components(separatedBy: ": top-1").last?.components(separatedBy: "\n").first }
        XCTAssertNotNil(result(evalOriginal))
        XCTAssertEqual(result(evalOriginal), result(evalImported))
        XCTAssertTrue(evalOriginal.stdout.contains("on 1001 images"), evalOriginal.output)
        let classes = try String(contentsOfFile: "\(dir)/classes.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(classes.count, 11)

        // A damaged checkpoint is reported, not loaded.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        bytes[bytes.count - 100] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: "\(dir)/damaged.wmx"))
        let damaged = try Programs.run(binary, ["checkpoint", "inspect", "\(dir)/damaged.wmx"])
        XCTAssertNotEqual(damaged.status, 0)
        XCTAssertTrue(damaged.output.contains("damaged.wmx"), damaged.output)
    }
}
