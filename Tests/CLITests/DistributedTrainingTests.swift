// Data-parallel training under mpirun against single-process computations of the same thing:
// 2 ranks x B with synchronised BatchNorm = 1 rank x 2B; 2 ranks x B with per-rank BatchNorm =
// 1 rank accumulating two micro-batches of B (each with its own BatchNorm statistics); 4
// oversubscribed ranks count every evaluation image exactly once; a killed rank ends the job.
import Foundation
import TestSupport
import XCTest

final class DistributedTrainingTests: XCTestCase {
    /// The equivalence tests compare weights after SGD steps: Adam would turn the rounding noise of
    /// gradients that are zero by construction (biases before BatchNorm) into full-size updates.
    static let sgd = ["--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9"]

    func testSyncBatchNormTwoRanksEqualsOneRankWithTheWholeBatch() throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        try runs.train(ranks: 2, Self.sgd + ["--batch-size", "8", "--max-steps", "6", "--sync-bn", "--run-dir", "\(dir)/two"])
        try runs.train(ranks: 1, Self.sgd + ["--batch-size", "16", "--max-steps", "6", "--run-dir", "\(dir)/one"])
        let difference = try TrainingRuns.relativeDifference("\(dir)/two/model.safetensors", "\(dir)/one/model.safetensors")
        XCTAssertLessThan(difference, 1e-4, "2 ranks with --sync-bn vs 1 rank with the global batch")
        print("sync-bn: 2 ranks vs 1 rank: max relative difference \(difference)")
    }

    func testPerRankBatchNormEqualsAveragedHalfBatchGradients() throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        try runs.train(ranks: 2, Self.sgd + ["--batch-size", "8", "--max-steps", "6", "--run-dir", "\(dir)/two"])
        // One process, two micro-batches of 8 per step: each has its own BatchNorm statistics and the
        // step uses the mean of their gradients, which is what DDP computes over two ranks.
        try runs.train(ranks: 1, Self.sgd + ["--batch-size", "8", "--grad-accum", "2", "--max-steps", "6", "--run-dir", "\(dir)/one"])
        let difference = try TrainingRuns.relativeDifference("\(dir)/two/model.safetensors", "\(dir)/one/model.safetensors")
        XCTAssertLessThan(difference, 1e-4, "2 ranks with per-rank BatchNorm vs averaged half-batch gradients")
        print("per-rank BN: 2 ranks vs 1 rank accumulating 2 halves: max relative difference \(difference)")
    }

    func testFourRanksCountEveryEvaluationImageOnce() throws {
        let runs = try TrainingRuns(self, evalImages: 1001)
        let dir = temporaryDirectory(self)
        let result = try runs.train(ranks: 4, ["--batch-size", "4", "--max-steps", "5", "--eval-batch-size", "64", "--run-dir", "\(dir)/four"])
        XCTAssertTrue(result.stdout.contains("on 1001 images"), result.output)
        let metrics = try String(contentsOfFile: "\(dir)/four/metrics.jsonl", encoding: .utf8)
        XCTAssertTrue(metrics.contains("\"eval_samples\":1001"), metrics)
        let perClass = try String(contentsOfFile: "\(dir)/four/eval-per-class.csv", encoding: .utf8)
        let counted = perClass.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[2])! }.reduce(0, +)
        XCTAssertEqual(counted, 1001)
        // Only rank 0 speaks.
        XCTAssertEqual(result.stdout.components(separatedBy: "training ").count - 1, 1, result.stdout)
    }

    func testAKilledRankEndsTheJobWithAClearMessage() throws {
        let runs = try TrainingRuns(self, train: 4000)
        let dir = temporaryDirectory(self)
        let binary = try Programs.wavemix()
        _ = try Programs.mpirun()
        // Rank 1 is killed a few seconds in; mpirun must end the job quickly and say which rank died.
        let args = ["-n", "2", "--threads", "1", "--timeout", "120", "--", binary, "train", "--data", runs.data]
            + TrainingRuns.model + ["--batch-size", "8", "--epochs", "50", "--run-dir", "\(dir)/killed"]
        final class Killed: @unchecked Sendable { var pid: Int32 = 0 }
        let killed = Killed()
        let killer = DispatchWorkItem {
            // The rank started last (the two ranks are the only wavemix processes with this run directory).
            guard let pid = Programs.processes(named: "wavemix", withArgument: "\(dir)/killed").last else { return }
            killed.pid = pid
            kill(pid, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 4, execute: killer)
        let result = try Programs.run(Programs.launcher, args, deadline: 120)
        XCTAssertNotEqual(killed.pid, 0, "no rank to kill was found")
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertLessThan(result.seconds, 30, "the job should end within seconds of the kill")
        XCTAssertTrue(result.output.contains("rank") && result.output.contains("signal 9"), result.output)
    }

    func testTwoHostsOverNetworkNamespaces() throws {
        let runs = try TrainingRuns(self)
        let dir = temporaryDirectory(self)
        _ = try Programs.mpirun()
        let script = Programs.repositoryRoot.appendingPathComponent("cluster/netns-two-hosts.sh").path
        let result = try Programs.run(script, [try Programs.wavemix(), "--data", runs.data] + TrainingRuns.model
                                      + ["--batch-size", "8", "--max-steps", "4", "--run-dir", "\(dir)/hosts"], deadline: 200)
        if result.status == 77 { throw XCTSkip("network namespaces are not available here: \(result.stderr)") }
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("2 rank(s)"), result.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/hosts/model.safetensors"))
    }
}
