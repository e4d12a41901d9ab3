// scripts/wavemix-mpirun --max-restarts, without Slurm: a failing job is run again with
// `--resume auto`, with a doubling back-off and one log line per restart, up to N times; no restart
// after a usage error or once the launcher was told to stop (SIGTERM reaches the ranks as SIGUSR1);
// a wavemix rank killed with SIGKILL is restarted and the run ends bitwise equal to one that never
// failed.
import Foundation
import TestSupport
import XCTest

final class RestartTests: XCTestCase {
    private func launch(_ arguments: [String], environment: [String: String] = Programs.environment(), deadline: Double = 60,
                        onStart: ((Int32) -> Void)? = nil) throws -> ChildResult {
        try Programs.run(Programs.launcher, arguments, environment: environment, deadline: deadline, onStart: onStart)
    }

    func testHelpAndUsageErrors() throws {
        let help = try launch(["--help"])
        XCTAssertEqual(help.status, 0)
        for word in ["--max-restarts N", "--restart-delay S", "--resume auto", "restart 1/N after exit status S (rank failure)"] {
            XCTAssertTrue(help.stdout.contains(word), "--help does not mention \(word)")
        }
        for arguments in [["--max-restarts", "1", "/bin/true"], ["--max-restarts", "x", "/bin/true", "--run-dir", "d"],
                          ["--restart-delay", "0", "/bin/true", "--run-dir", "d"]] {
            let result = try launch(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.output)")
            XCTAssertTrue(result.stderr.hasPrefix("wavemix-mpirun: "), result.output)
        }
        let noRunDir = try launch(["--max-restarts", "1", "/bin/true"])
        XCTAssertTrue(noRunDir.stderr.contains("--max-restarts needs the program's --run-dir"), noRunDir.output)
    }

    func testFailingJobIsRestartedWithResumeAutoThenGivesUp() throws {
        _ = try Programs.mpirun()
        // Each run prints its arguments and fails.
        let program = ["/bin/sh", "-c", #"echo "run: $*"; exit 3"#, "sh", "--run-dir", "/nonexistent", "--resume", "old.wmx"]
        let result = try launch(["-n", "1", "--max-restarts", "2", "--restart-delay", "1", "--"] + program)
        XCTAssertEqual(result.status, 3, result.output)
        XCTAssertEqual(result.stdout.occurrences(of: "run: --run-dir /nonexistent --resume old.wmx\n"), 1, result.output)
        XCTAssertEqual(result.stdout.occurrences(of: "run: --run-dir /nonexistent --resume auto\n"), 2, result.output)
        for line in ["wavemix-mpirun: restart 1/2 after exit status 3 (rank failure); resuming from the newest checkpoint in 1 s",
                     "wavemix-mpirun: restart 2/2 after exit status 3 (rank failure); resuming from the newest checkpoint in 2 s",
                     "wavemix-mpirun: exit status 3 after 2 restart(s) of 2; giving up"] {
            XCTAssertTrue(result.stderr.contains(line), "missing '\(line)':\n\(result.output)")
        }
        XCTAssertGreaterThanOrEqual(result.seconds, 3, "the back-off is 1 s, then 2 s")
    }

    func testUsageErrorAndSuccessAreNotRestarted() throws {
        _ = try Programs.mpirun()
        let usage = try launch(["-n", "1", "--max-restarts", "3", "--", "/bin/sh", "-c", "echo ran; exit 64", "sh", "--run-dir", "d"])
        XCTAssertEqual(usage.status, 64, usage.output)
        XCTAssertEqual(usage.stdout.occurrences(of: "ran\n"), 1, usage.output)
        XCTAssertTrue(usage.stderr.contains("wavemix-mpirun: exit status 64 is a usage or input error; no restart"), usage.output)
        // wavemix's status for input that cannot work (a configuration, a data set) is not retried either.
        let input = try launch(["-n", "1", "--max-restarts", "3", "--", "/bin/sh", "-c", "echo ran; exit 65", "sh", "--run-dir", "d"])
        XCTAssertEqual(input.status, 65, input.output)
        XCTAssertEqual(input.stdout.occurrences(of: "ran\n"), 1, input.output)
        XCTAssertTrue(input.stderr.contains("wavemix-mpirun: exit status 65 is a usage or input error; no restart"), input.output)

        let success = try launch(["-n", "1", "--max-restarts", "3", "--", "/bin/sh", "-c", "echo ran", "sh", "--run-dir", "d"])
        XCTAssertEqual(success.status, 0, success.output)
        XCTAssertEqual(success.stdout.occurrences(of: "ran\n"), 1, success.output)
        XCTAssertFalse(success.stderr.contains("restart"), success.output)
    }

    func testSigtermStopsTheRanksWithSigusr1AndDoesNotRestart() throws {
        _ = try Programs.mpirun()
        let dir = temporaryDirectory(self)
        // Each rank says when it is ready, and exits 0 on SIGUSR1 (as wavemix does after its checkpoint).
        let rank = #"trap 'echo "rank $OMPI_COMM_WORLD_RANK got USR1"; exit 0' USR1; touch "$0.$OMPI_COMM_WORLD_RANK"; while :; do sleep 0.1; done"#
        let result = try launch(["-n", "2", "--max-restarts", "3", "--", "/bin/sh", "-c", rank, "\(dir)/ready", "--run-dir", dir],
                                deadline: 60) { pid in
            DispatchQueue.global().async {
                for _ in 0..<300 where !(0..<2).allSatisfy({ FileManager.default.fileExists(atPath: "\(dir)/ready.\($0)") }) {
                    Thread.sleep(forTimeInterval: 0.1)
                }
                kill(pid, SIGTERM)
            }
        }
        XCTAssertEqual(result.status, 0, result.output)
        for r in 0..<2 { XCTAssertTrue(result.stdout.contains("rank \(r) got USR1"), result.output) }
        XCTAssertFalse(result.stderr.contains("restart 1/"), result.output)
    }

    func testKilledRankIsRestartedAndTheRunEndsBitwiseEqual() throws {
        _ = try Programs.mpirun()
        let binary = try Programs.wavemix()
        let runs = try TrainingRuns(self, train: 4800)
        let dir = temporaryDirectory(self)
        let recipe = ["--batch-size", "8", "--max-steps", "600", "--seed", "7", "--checkpoint-every", "100"]
        try runs.train(ranks: 2, recipe + ["--run-dir", "\(dir)/straight"])

        let run = "\(dir)/restarted"
        final class Killed: @unchecked Sendable { var pid: Int32 = 0 }
        let killed = Killed()
        let result = try launch(["-n", "2", "--threads", "1", "--max-restarts", "1", "--timeout", "200", "--",
                                 binary, "train", "--data", runs.data] + TrainingRuns.model + recipe + ["--run-dir", run],
                                // Paced: the kill after step 240 lands before step 600 on any machine.
                                environment: Programs.environment(TrainingRuns.paced),
                                deadline: 240) { _ in
            DispatchQueue.global().async {
                // After the checkpoint of step 200: SIGKILL one rank.
                for _ in 0..<2000 {
                    let metrics = (try? String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8)) ?? ""
                    let ranks = Programs.processes(named: "wavemix", withArgument: run)
                    if metrics.contains("\"step\":240"), ranks.count == 2 {
                        killed.pid = ranks[1]
                        kill(ranks[1], SIGKILL)
                        return
                    }
                    Thread.sleep(forTimeInterval: 0.05)
                }
            }
        }
        XCTAssertNotEqual(killed.pid, 0, "no rank was killed: \(result.output)")
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stderr.contains("wavemix-mpirun: restart 1/1 after exit status "), result.output)
        let resumed = result.stdout.range(of: "resuming at step ").map { Int(result.stdout[$0.upperBound...].prefix(while: \.isNumber)) ?? 0 }
        XCTAssertTrue(resumed.map { $0 >= 200 && $0 % 100 == 0 } ?? false, "not resumed from a periodic checkpoint: \(result.output)")
        XCTAssertTrue(TrainingRuns.identical("\(dir)/straight/model.safetensors", "\(run)/model.safetensors"),
                      "the restarted run must end bitwise equal to the uninterrupted one")
    }
}

private extension String {
    func occurrences(of needle: String) -> Int { components(separatedBy: needle).count - 1 }
}
