// Runs that select on a validation split (--val-split, --patience, --then-optimizer): the test set
// is looked at only once, at the end, on the selected model; the `best` checkpoint survives --keep;
// a run stopped anywhere (also right at the plateau that starts phase 2) and resumed ends bitwise
// equal to the uninterrupted one, with the same summary.csv; a finished run resumed does nothing.
import Foundation
import TestSupport
import XCTest

final class ModelSelectionRunTests: XCTestCase {
    /// 320 training images (64 held out) at a global batch of 16: 20 steps per epoch.
    static let recipe = ["--seed", "3", "--lr", "0.01", "--epochs", "12", "--val-split", "64", "--patience", "2", "--then-optimizer", "sgd",
                         "--then-lr", "0.01", "--keep", "1", "--augment"]

    /// summary.csv without its timing columns (images/s, elapsed), and with train losses rounded
    /// (a stop adds a partial sum: the order of a Double sum over the epoch's steps changes).
    func summary(_ run: String) throws -> [[String]] {
        try String(contentsOfFile: "\(run)/summary.csv", encoding: .utf8).split(separator: "\n").map { line in
            var cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if let loss = Double(cells[3]) { cells[3] = String(format: "%.12g", loss) }
            return Array(cells.prefix(11))
        }
    }

    func assertStoppedAndResumedRunEqualsTheStraightOne(ranks: Int, batch: Int, stops: [Int]) throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        let args = Self.recipe + ["--batch-size", "\(batch)"]
        let straight = try runs.train(ranks: ranks, args + ["--run-dir", "\(dir)/straight"])
        XCTAssertTrue(straight.stdout.contains("phase 2 (sgd, lr 0.01) continues from the best model"), straight.output)
        if ranks == 1 {  // with this seed and data, the second plateau comes in 1 rank only
            XCTAssertTrue(straight.stdout.contains("validation top-1 has not improved for 2 epochs: training ends"), straight.output)
        }
        XCTAssertTrue(straight.stdout.contains("test of the selected model (epoch "), straight.output)
        for stop in stops {
            let part = try runs.train(ranks: ranks, args + ["--run-dir", "\(dir)/resumed", "--resume", "auto", "--stop-after-steps", "\(stop)"])
            XCTAssertTrue(part.stdout.contains("stopped at step"), part.output)
        }
        try runs.train(ranks: ranks, args + ["--run-dir", "\(dir)/resumed", "--resume", "auto"])
        XCTAssertTrue(TrainingRuns.identical("\(dir)/straight/model.safetensors", "\(dir)/resumed/model.safetensors"),
                      "a resumed selection run must select and end bitwise equal to the uninterrupted one")
        XCTAssertEqual(try summary("\(dir)/straight"), try summary("\(dir)/resumed"))
    }

    func testTheTestSetIsSeenOnceOnTheSelectedModel() throws {
        let runs = try TrainingRuns(self)
        let run = temporaryDirectory(self) + "/run"
        let result = try runs.train(ranks: 1, Self.recipe + ["--batch-size", "16", "--run-dir", run, "--tensorboard"])
        let records = try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let tests = records.filter { $0["eval_top1"] != nil }
        XCTAssertEqual(tests.count, 1, "the test set is evaluated once: \(result.output)")
        XCTAssertEqual(tests.first?["step"] as? Int, records.compactMap { $0["step"] as? Int }.max())
        let validations = records.filter { $0["val_top1"] != nil }
        var rows = try summary(run).dropFirst()
        let selectedRow = try XCTUnwrap(rows.popLast())
        XCTAssertEqual(validations.count, rows.count)
        XCTAssertTrue(rows.allSatisfy { !$0[5].isEmpty && $0[8].isEmpty }, "validation every epoch, no test column: \(rows)")
        XCTAssertTrue(selectedRow[3].isEmpty && selectedRow[5].isEmpty && !selectedRow[8].isEmpty, "\(selectedRow)")
        XCTAssertEqual(Int(selectedRow[1]), tests.first?["selected_step"] as? Int)
        // The best validation top-1 (the first of ties... the last: ties count as improvements) is the selected step.
        let best = validations.max { ($0["val_top1"] as! Double, $0["step"] as! Int) < ($1["val_top1"] as! Double, $1["step"] as! Int) }!
        XCTAssertEqual(tests.first?["selected_step"] as? Int, best["step"] as? Int)
        // --keep 1 keeps the newest checkpoint and the best one, which `best` names.
        let bestName = try String(contentsOfFile: "\(run)/checkpoints/best", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(bestName, String(format: "step-%08d.wmx", best["step"] as! Int))
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(run)/checkpoints").filter { $0.hasSuffix(".wmx") }
        XCTAssertTrue(files.contains(bestName) && files.count <= 2, "\(files)")
        // --tensorboard: one event file with the same metrics under TensorBoard's tags.
        let events = try FileManager.default.contentsOfDirectory(atPath: "\(run)/tensorboard")
        XCTAssertEqual(events.count, 1, "\(events)")
        let eventBytes = try Data(contentsOf: URL(fileURLWithPath: "\(run)/tensorboard/\(events[0])"))
        for tag in ["train/loss", "train/lr", "val/top1", "val/loss", "test/top1"] {
            XCTAssertNotNil(eventBytes.range(of: Data(tag.utf8)), "\(tag) missing from \(events[0])")
        }
        // `wavemix eval` on the run directory evaluates the selected model, and so does it on the
        // run's results alone (model.safetensors and config.json, as committed).
        let selectedLine = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("test of the selected model") })
        let expected = try XCTUnwrap(selectedLine.range(of: "): top-1 ").map { selectedLine[$0.lowerBound...].prefix(while: { $0 != "," }) })
        let results = temporaryDirectory(self) + "/results"
        try FileManager.default.createDirectory(atPath: results, withIntermediateDirectories: true)
        for name in ["model.safetensors", "config.json"] { try FileManager.default.copyItem(atPath: "\(run)/\(name)", toPath: "\(results)/\(name)") }
        for target in [run, results] {
            let eval = try Programs.run(try Programs.wavemix(), ["eval", "--checkpoint", target, "--threads", "1"])
            XCTAssertEqual(eval.status, 0, eval.output)
            XCTAssertTrue(eval.stdout.contains(": " + expected.dropFirst(3) + ","), "\(target): \(eval.output) vs \(expected)")
        }
        // Resuming a finished run trains and writes nothing.
        let before = try String(contentsOfFile: "\(run)/summary.csv", encoding: .utf8)
        let again = try runs.train(ranks: 1, Self.recipe + ["--batch-size", "16", "--run-dir", run, "--resume", "auto"])
        XCTAssertTrue(again.stdout.contains("the run is already complete"), again.output)
        XCTAssertEqual(try String(contentsOfFile: "\(run)/summary.csv", encoding: .utf8), before)
    }

    func testStopsAnywhereResumeBitwiseOneRank() throws {
        // Stops after steps 7, 29 (mid-epoch), 40 (an epoch's end: its validation runs after the
        // resume), 100 (the plateau that starts phase 2) and 125 (in phase 2).
        try assertStoppedAndResumedRunEqualsTheStraightOne(ranks: 1, batch: 16, stops: [7, 22, 11, 60, 25])
    }

    func testStopsAnywhereResumeBitwiseTwoRanks() throws {
        try assertStoppedAndResumedRunEqualsTheStraightOne(ranks: 2, batch: 8, stops: [20, 80, 13])
    }

    func testSelectionOptionsAreChecked() throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        let usage = try runs.train(ranks: 1, ["--patience", "3", "--run-dir", "\(dir)/a"], expectSuccess: false)
        XCTAssertEqual(usage.status, 64, usage.output)
        XCTAssertTrue(usage.stderr.contains("--patience needs --val-split"), usage.output)
        let all = try runs.train(ranks: 1, ["--val-split", "384", "--run-dir", "\(dir)/b"], expectSuccess: false)
        XCTAssertEqual(all.status, 65, all.output)
        XCTAssertTrue(all.stderr.contains("--val-split 384 takes 384 of the 384 training images"), all.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/b"), "a failed start leaves no run directory")
    }
}
