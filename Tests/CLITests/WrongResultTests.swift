// Never a wrong number: a diverged run stops with an error naming the step instead of reporting
// NaN as 100%; data that does not fit the model (channels, classes, a corrupt label) is refused in
// one line before anything is written.
import Foundation
import TestSupport
import XCTest

final class WrongResultTests: XCTestCase {
    func wavemix(_ arguments: [String]) throws -> ChildResult {
        try Programs.run(try Programs.wavemix(), arguments, deadline: 240)
    }

    /// Non-zero exit, exactly one line on stderr that mentions `mentions`, no crash report.
    func assertCleanFailure(_ arguments: [String], mentions: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try wavemix(arguments)
        XCTAssertNotEqual(result.status, 0, "expected failure: \(arguments)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(mentions), "stderr lacks '\(mentions)': \(result.stderr)", file: file, line: line)
        for crash in ["Fatal error", "Stack dump", "backtrace", "Segmentation"] {
            XCTAssertFalse(result.output.contains(crash), "crashed: \(result.output)", file: file, line: line)
        }
    }

    func testDivergedRunStopsWithAnErrorNamingTheStep() throws {
        let runs = try TrainingRuns(self, train: 256, evalImages: 64)
        let dir = temporaryDirectory(self)
        let result = try wavemix(["train", "--data", runs.data, "--final-dim", "16", "--ff-channel", "16", "--depth", "1",
                                  "--batch-size", "32", "--threads", "1", "--optimizer", "sgd", "--lr", "1e6", "--max-steps", "20",
                                  "--log-every", "1", "--checkpoint-every", "1", "--run-dir", "\(dir)/run"])
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stderr.contains("step ") && result.stderr.contains("training stopped before that step's update"),
                      result.output)
        XCTAssertFalse(result.output.contains("100.00%"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/run/model.safetensors"), "a diverged run has no final weights")
        // Every logged step is a JSON record, and none holds a non-finite loss.
        let metrics = try String(contentsOfFile: "\(dir)/run/metrics.jsonl", encoding: .utf8)
        for line in metrics.split(separator: "\n") {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
            if let loss = object["loss"] as? Double { XCTAssertTrue(loss.isFinite, String(line)) }
        }
        // The checkpoints on disk are those of steps before the bad one, and evaluating them never
        // reports a diverged model as right.
        let newest = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/run/checkpoints").filter { $0.hasSuffix(".wmx") }.max()
        if let newest {
            let eval = try wavemix(["eval", "--checkpoint", "\(dir)/run/checkpoints/\(newest)", "--data", runs.data, "--threads", "1"])
            XCTAssertEqual(eval.status, 0, eval.output)
            XCTAssertFalse(eval.output.contains("100.00%"), eval.output)
        }
    }

    func testImagesWithMoreChannelsThanTheModelAreRefused() throws {
        let dir = temporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: "\(dir)/cifar", withIntermediateDirectories: true)
        try CIFARDataSet.write(to: "\(dir)/cifar")
        for channels in ["1", "2"] {
            try assertCleanFailure(["train", "--data", "cifar10:\(dir)/cifar", "--in-chans", channels, "--final-dim", "16",
                                    "--ff-channel", "16", "--depth", "1", "--batch-size", "16", "--max-steps", "1", "--run-dir", "\(dir)/run"],
                                   mentions: "3-channel images")
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/run"), "a refused run must not create its directory")
        }
        // A 1-channel model (32 x 32 grey images) evaluated on the RGB set.
        try FileManager.default.createDirectory(atPath: "\(dir)/grey", withIntermediateDirectories: true)
        try IDXDataSet.write(to: "\(dir)/grey", train: 64, test: 16, side: 32)
        let trained = try wavemix(["train", "--data", "idx:\(dir)/grey", "--final-dim", "16", "--ff-channel", "16", "--depth", "1",
                                   "--batch-size", "16", "--max-steps", "1", "--threads", "1", "--run-dir", "\(dir)/grey-run"])
        XCTAssertEqual(trained.status, 0, trained.output)
        let checkpoint = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/grey-run/checkpoints")
            .filter { $0.hasSuffix(".wmx") }.max())
        try assertCleanFailure(["eval", "--checkpoint", "\(dir)/grey-run/checkpoints/\(checkpoint)", "--data", "cifar10:\(dir)/cifar"],
                               mentions: "3-channel images")
    }

    func testFewerClassesThanTheDataIsRefused() throws {
        let runs = try TrainingRuns(self, train: 64, evalImages: 16)
        let dir = temporaryDirectory(self)
        for classes in ["5", "1"] {
            try assertCleanFailure(["train", "--data", runs.data, "--num-classes", classes, "--final-dim", "16", "--ff-channel", "16",
                                    "--depth", "1", "--batch-size", "16", "--max-steps", "1", "--run-dir", "\(dir)/run"],
                                   mentions: "--num-classes \(classes)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/run"), "a refused run must not create its directory")
        }
    }

    func testACorruptIDXLabelIsRefusedNamingFileAndIndex() throws {
        let dir = temporaryDirectory(self)
        try IDXDataSet.write(to: dir, train: 64, test: 16)
        // Label 255 at index 5 of a 10-class set.
        let labels = "\(dir)/train-labels-idx1-ubyte"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: labels)))
        bytes[8 + 5] = 255
        try Data(bytes).write(to: URL(fileURLWithPath: labels))
        try assertCleanFailure(["train", "--data", "idx:\(dir)", "--final-dim", "16", "--ff-channel", "16", "--depth", "1", "--batch-size", "16",
                                "--max-steps", "1", "--run-dir", "\(dir)/run"],
                               mentions: "train-labels-idx1-ubyte: label 255 at index 5")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/run"))
        // --num-classes makes the class count explicit: 10 refuses the label, 256 accepts it.
        try assertCleanFailure(["train", "--data", "idx:\(dir)", "--num-classes", "10", "--final-dim", "16", "--ff-channel", "16",
                                "--depth", "1", "--batch-size", "16", "--max-steps", "1", "--run-dir", "\(dir)/run"],
                               mentions: "label 255 at index 5 is outside 0..<10")
        let accepted = try wavemix(["train", "--data", "idx:\(dir)", "--num-classes", "256", "--final-dim", "16", "--ff-channel", "16",
                                    "--depth", "1", "--batch-size", "16", "--max-steps", "1", "--threads", "1", "--run-dir", "\(dir)/run"])
        XCTAssertEqual(accepted.status, 0, accepted.output)
        XCTAssertTrue(accepted.stdout.contains("256 classes"), accepted.stdout)
        // eval reads the set with the model's class count, as it was trained.
        let eval = try wavemix(["eval", "--checkpoint", "\(dir)/run", "--data", "idx:\(dir)", "--threads", "1"])
        XCTAssertEqual(eval.status, 0, eval.output)
    }

    func testTheLogSaysWhereTheRunIs() throws {
        // 5 classes (top-5 says nothing there), 4 steps an epoch; a run stopped at step 2, resumed,
        // ends mid-epoch at step 6.
        let dir = temporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: "\(dir)/data", withIntermediateDirectories: true)
        try IDXDataSet.write(to: "\(dir)/data", train: 64, test: 16, classes: 5)
        let args = ["train", "--data", "idx:\(dir)/data", "--final-dim", "16", "--ff-channel", "16", "--depth", "1", "--batch-size", "16",
                    "--max-steps", "6", "--threads", "1", "--log-every", "1", "--run-dir", "\(dir)/run"]
        let first = try wavemix(args + ["--stop-after-steps", "2"])
        XCTAssertEqual(first.status, 0, first.output)
        let second = try wavemix(args + ["--resume", "auto"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.stdout.contains("(idx:\(dir)/data, 5 classes)"), second.stdout)
        XCTAssertTrue(second.stdout.contains("eval after epoch 1 (step 4): top-1 "), second.stdout)
        XCTAssertTrue(second.stdout.contains("eval at step 6 (epoch 2, batch 2/4): top-1 "), second.stdout)
        XCTAssertFalse(second.stdout.contains("after epoch 0"), second.stdout)
        XCTAssertFalse(second.stdout.contains("top-5"), "top-5 of 5 classes is always 100%: \(second.stdout)")
        XCTAssertTrue(second.stdout.contains("done: 6 steps (4 in this run) in "), second.stdout)
        XCTAssertTrue(second.stdout.contains("img/s training, "), second.stdout)
        // eval takes a run directory: the checkpoint its `latest` names, the final one.
        let eval = try wavemix(["eval", "--checkpoint", "\(dir)/run", "--threads", "1"])
        XCTAssertEqual(eval.status, 0, eval.output)
        XCTAssertTrue(eval.stdout.hasPrefix("\(dir)/run/checkpoints/step-00000006.wmx: top-1 "), eval.stdout)
    }

    func testABadImageIsOneWarningLine() throws {
        // An 8 x 8 RGB PNG (written by Python's zlib), copied into two classes, and one file that is no image.
        let png = try XCTUnwrap(Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAA00lEQVR4nAHIADf/AAAAAB4eHjw8PFpaWnh4eJaWlrS0tNLS0gAHBwclJSVDQ0NhYWF/f3+dnZ27u7vZ2dkADg4OLCwsSkpKaGhohoaGpKSkwsLC4ODgABUVFTMzM1FRUW9vb42Njaurq8nJyefn5wAcHBw6OjpYWFh2dnaUlJSysrLQ0NDu7u4AIyMjQUFBX19ffX19m5ububm519fX9fX1ACoqKkhISGZmZoSEhKKiosDAwN7e3vz8/AAxMTFPT09tbW2Li4upqanHx8fl5eUDAwPZx14haocFjwAAAABJRU5ErkJggg=="))
        let dir = temporaryDirectory(self)
        for split in ["train", "val"] {
            for label in ["a", "b"] {
                try FileManager.default.createDirectory(atPath: "\(dir)/images/\(split)/\(label)", withIntermediateDirectories: true)
                for i in 0..<4 { try png.write(to: URL(fileURLWithPath: "\(dir)/images/\(split)/\(label)/\(i).png")) }
            }
        }
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: "\(dir)/images/train/a/broken.png"))
        let result = try wavemix(["train", "--data", "imagefolder:\(dir)/images", "--image-size", "8", "--in-chans", "3",
                                  "--final-dim", "16", "--ff-channel", "16", "--depth", "1", "--batch-size", "4", "--max-steps", "2",
                                  "--threads", "1", "--run-dir", "\(dir)/run"])
        XCTAssertEqual(result.status, 0, result.output)
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("broken.png") }
        XCTAssertEqual(warnings.count, 1, result.stderr)
        XCTAssertTrue(warnings.first?.hasPrefix("rank 0: warning: ") == true, result.stderr)
        XCTAssertFalse(result.stderr.contains("warning: warning:"), result.stderr)
    }

    func testTheResumeHintNamesAChosenRunDirectory() throws {
        let runs = try TrainingRuns(self, train: 64, evalImages: 16)
        let dir = temporaryDirectory(self)
        let binary = try Programs.wavemix()
        let result = try Programs.run("/bin/sh", ["-c", "cd \"$0\" && exec \"$1\" train --data \"$2\" --final-dim 16 --ff-channel 16 "
                                                   + "--depth 1 --batch-size 16 --threads 1 --stop-after-steps 1", dir, binary, runs.data])
        XCTAssertEqual(result.status, 0, result.output)
        let chosen = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/runs").first)
        XCTAssertTrue(result.stdout.contains("add --run-dir runs/\(chosen) to continue it"), result.stdout)
    }

    func testAFailedStartTakesBackOnlyWhatItWrote() throws {
        let runs = try TrainingRuns(self, train: 64, evalImages: 16)
        let dir = temporaryDirectory(self)
        let args = ["train", "--data", runs.data, "--final-dim", "16", "--ff-channel", "16", "--depth", "1", "--batch-size", "16",
                    "--threads", "1", "--init-from", "\(dir)/missing.safetensors"]
        // A directory this command creates goes away whole.
        let fresh = try wavemix(args + ["--run-dir", "\(dir)/fresh/run"])
        XCTAssertEqual(fresh.status, 65, fresh.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/fresh/run"))
        // In a directory that was there, only the files this command created go; the rest stays.
        try FileManager.default.createDirectory(atPath: "\(dir)/kept", withIntermediateDirectories: true)
        try "notes\n".write(toFile: "\(dir)/kept/notes.txt", atomically: true, encoding: .utf8)
        try "{}".write(toFile: "\(dir)/kept/config.json", atomically: true, encoding: .utf8)
        let resumed = try wavemix(args + ["--run-dir", "\(dir)/kept", "--resume", "auto"])
        XCTAssertEqual(resumed.status, 65, resumed.output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/kept").sorted(), ["config.json", "notes.txt"])
        let again = try wavemix(args.dropLast(2) + ["--run-dir", "\(dir)/kept", "--max-steps", "1"])
        XCTAssertEqual(again.status, 0, "the same directory takes the next start: \(again.output)")
    }
}
