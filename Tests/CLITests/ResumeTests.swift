// Checkpoints and resuming, on whole runs: a run stopped mid-epoch and resumed ends bitwise equal to
// an uninterrupted one (1 and 2 ranks, augmentation and dropout on); a 2-rank run continues in 1
// rank; a SIGKILL in the middle of a save leaves the previous checkpoint loadable; --resume auto
// skips a corrupt newest checkpoint; SIGTERM checkpoints and exits 0.
import Checkpoint
import Foundation
import TestSupport
import XCTest

final class ResumeTests: XCTestCase {
    /// 24 steps per epoch at a global batch of 16: 40 steps cross an epoch end; stops land mid-epoch.
    static let recipe = ["--max-steps", "40", "--augment", "--seed", "7"]

    func assertStopAndResumeIsBitwiseEqual(ranks: Int, batch: Int) throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        let args = Self.recipe + ["--batch-size", "\(batch)"]
        try runs.train(ranks: ranks, args + ["--run-dir", "\(dir)/straight"])
        let first = try runs.train(ranks: ranks, args + ["--run-dir", "\(dir)/resumed", "--stop-after-steps", "13"])
        XCTAssertTrue(first.stdout.contains("stopped at step 13"), first.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/resumed/model.safetensors"))
        let second = try runs.train(ranks: ranks, args + ["--run-dir", "\(dir)/resumed", "--resume", "auto"])
        XCTAssertTrue(second.stdout.contains("resuming at step 13"), second.output)
        XCTAssertTrue(TrainingRuns.identical("\(dir)/straight/model.safetensors", "\(dir)/resumed/model.safetensors"),
                      "a resumed run must end bitwise equal to the uninterrupted one")
        // metrics.jsonl goes on where it stopped.
        let metrics = try String(contentsOfFile: "\(dir)/resumed/metrics.jsonl", encoding: .utf8)
        XCTAssertTrue(metrics.contains("\"step\":12") && metrics.contains("\"step\":40"), metrics)
    }

    func testResumingAnOlderCheckpointStartsTheBranchThatAutoFollows() throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        let args = Self.recipe + ["--batch-size", "16", "--checkpoint-every", "10", "--keep", "10", "--run-dir", "\(dir)/run"]
        try runs.train(ranks: 1, args)  // checkpoints 10, 20, 24 (epoch end), 30, 40
        let branch = try runs.train(ranks: 1, args + ["--resume", "\(dir)/run/checkpoints/step-00000020.wmx", "--stop-after-steps", "5"])
        XCTAssertTrue(branch.stdout.contains("stopped at step 25"), branch.output)
        let auto = try runs.train(ranks: 1, args + ["--resume", "auto", "--stop-after-steps", "3"])
        XCTAssertTrue(auto.stdout.contains("resuming at step 25"), auto.output)
        // The earlier run's newer checkpoints are kept, aside, where neither --resume auto nor --keep looks.
        let aside = "\(dir)/run/checkpoints/abandoned-after-step-00000020"
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: aside).sorted(),
                       ["step-00000024.wmx", "step-00000030.wmx", "step-00000040.wmx"])
        // metrics.jsonl describes the branch that continues: each step logged once, in order.
        let steps = try String(contentsOfFile: "\(dir)/run/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]).flatMap { $0["loss"] != nil ? $0["step"] as? Int : nil }
        }
        XCTAssertEqual(steps, steps.sorted())
        XCTAssertEqual(Set(steps).count, steps.count, "\(steps)")
        XCTAssertEqual(steps.last, 28, "\(steps)")
    }

    func testStopAndResumeOneRank() throws { try assertStopAndResumeIsBitwiseEqual(ranks: 1, batch: 16) }
    func testStopAndResumeTwoRanks() throws { try assertStopAndResumeIsBitwiseEqual(ranks: 2, batch: 8) }

    func testTwoRankRunContinuesInOneRank() throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        // Synchronised BatchNorm and SGD: 1 x 16 computes what 2 x 8 does, up to rounding.
        let args = Self.recipe + ["--sync-bn", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9"]
        try runs.train(ranks: 2, args + ["--batch-size", "8", "--run-dir", "\(dir)/straight"])
        try runs.train(ranks: 2, args + ["--batch-size", "8", "--run-dir", "\(dir)/moved", "--stop-after-steps", "13"])
        let refused = try runs.train(ranks: 1, args + ["--batch-size", "8", "--run-dir", "\(dir)/moved", "--resume", "auto"],
                                     expectSuccess: false)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("choose --batch-size 16"), refused.output)
        try runs.train(ranks: 1, args + ["--batch-size", "16", "--run-dir", "\(dir)/moved", "--resume", "auto"])
        let difference = try TrainingRuns.relativeDifference("\(dir)/moved/model.safetensors", "\(dir)/straight/model.safetensors")
        XCTAssertLessThan(difference, 1e-4)
        print("2 ranks -> 1 rank resume: max relative difference \(difference)")
    }

    func testKillDuringSaveKeepsThePreviousCheckpoint() throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        let args = Self.recipe + ["--batch-size", "16", "--run-dir", "\(dir)/run"]
        try runs.train(ranks: 1, args + ["--stop-after-steps", "5"])
        // The next save sleeps halfway through writing its temporary file; kill -9 it there.
        let binary = try Programs.wavemix()
        let checkpoints = "\(dir)/run/checkpoints"
        final class Killed: @unchecked Sendable { var done = false }
        let killed = Killed()
        let result = try Programs.run(binary, ["train", "--data", runs.data, "--threads", "1"] + TrainingRuns.model + args
                                      + ["--resume", "auto", "--stop-after-steps", "5"],
                                      environment: Programs.environment([CheckpointWriter.pauseEnvironmentVariable: "30"]),
                                      deadline: 120) { pid in
            DispatchQueue.global().async {
                for _ in 0..<600 {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints)) ?? []
                    if names.contains(where: { $0.contains(".tmp") }) {
                        Thread.sleep(forTimeInterval: 0.3)
                        kill(pid, SIGKILL)
                        killed.done = true
                        return
                    }
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }
        }
        XCTAssertTrue(killed.done, "the save never started: \(result.output)")
        XCTAssertEqual(result.status, SIGKILL, result.output)
        let entries = try CheckpointDirectory(runDirectory: "\(dir)/run").checkpoints()
        XCTAssertEqual(entries.map(\.step), [5], "only the previous checkpoint may be there")
        XCTAssertNoThrow(try CheckpointReader(contentsOf: entries[0].path).verify())
        let resumed = try runs.train(ranks: 1, args + ["--resume", "auto"])
        XCTAssertTrue(resumed.stdout.contains("resuming at step 5"), resumed.output)
        try runs.train(ranks: 1, Self.recipe + ["--batch-size", "16", "--run-dir", "\(dir)/straight"])
        XCTAssertTrue(TrainingRuns.identical("\(dir)/straight/model.safetensors", "\(dir)/run/model.safetensors"))
        // Steps the killed run logged after its last checkpoint are logged again by the resumed run,
        // once: metrics.jsonl has each training step at most once, in order.
        let steps = try String(contentsOfFile: "\(dir)/run/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]).flatMap { $0["loss"] != nil ? $0["step"] as? Int : nil }
        }
        XCTAssertEqual(steps, steps.sorted())
        XCTAssertEqual(steps.count, Set(steps).count, "duplicate steps in metrics.jsonl: \(steps)")
    }

    func testResumeAutoSkipsACorruptNewestCheckpoint() throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        let args = Self.recipe + ["--batch-size", "16", "--run-dir", "\(dir)/run", "--checkpoint-every", "4"]
        try runs.train(ranks: 1, args + ["--stop-after-steps", "10"])
        let entries = try CheckpointDirectory(runDirectory: "\(dir)/run").checkpoints()
        XCTAssertEqual(entries.map(\.step), [4, 8, 10])
        // Flip one byte in the middle of the newest file.
        let newest = entries.last!.path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: newest))
        bytes[bytes.count / 2] ^= 0x5A
        try FileManager.default.removeItem(atPath: newest)
        try bytes.write(to: URL(fileURLWithPath: newest))
        let resumed = try runs.train(ranks: 1, args + ["--resume", "auto"])
        XCTAssertTrue(resumed.stdout.contains("warning: skipping checkpoint") && resumed.stdout.contains("step-00000010.wmx"),
                      resumed.output)
        XCTAssertTrue(resumed.stdout.contains("resuming at step 8"), resumed.output)
        try runs.train(ranks: 1, Self.recipe + ["--batch-size", "16", "--run-dir", "\(dir)/straight"])
        XCTAssertTrue(TrainingRuns.identical("\(dir)/straight/model.safetensors", "\(dir)/run/model.safetensors"))
    }

    func testSigtermCheckpointsAndExitsZero() throws {
        let runs = try TrainingRuns(self, train: 4000)
        let dir = temporaryDirectory(self)
        let binary = try Programs.wavemix()
        let args = ["train", "--data", runs.data, "--threads", "1"] + TrainingRuns.model
            + ["--batch-size", "16", "--epochs", "20", "--run-dir", "\(dir)/run"]
        let result = try Programs.run(binary, args, deadline: 120) { pid in
            DispatchQueue.global().asyncAfter(deadline: .now() + 3) { kill(pid, SIGTERM) }
        }
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("(SIGTERM); continue with the same command and --resume auto"), result.output)
        let entries = try CheckpointDirectory(runDirectory: "\(dir)/run").checkpoints()
        XCTAssertFalse(entries.isEmpty)
        XCTAssertNoThrow(try CheckpointReader(contentsOf: entries.last!.path).verify())
    }
}
