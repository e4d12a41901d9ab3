// scripts/wavemix-mpirun: its help, the mpirun command line it builds (--dry-run), what every rank
// finds in its environment (threads, OpenBLAS core type), mpirun options after the launcher's own,
// a hostfile, the exit status of a failing program, and usage errors.
import Foundation
import TestSupport
import XCTest

final class LauncherScriptTests: XCTestCase {
    private func launch(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildResult {
        try Programs.run(Programs.launcher, arguments, environment: Programs.workerEnvironment(environment), deadline: 60)
    }

    private var cores: Int {
        get throws { Int(try Programs.run("/usr/bin/env", ["nproc"], environment: [:], deadline: 120).output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1 }
    }

    func testHelpDocumentsEveryOption() throws {
        let result = try launch(["--help"])
        XCTAssertEqual(result.status, 0)
        for word in ["-n, -np N", "--hostfile", "--threads", "--timeout", "--kill-grace", "--no-tuning", "--dry-run",
                     "WAVEMIX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                     "--bind-to none", "btl_vader_single_copy_mechanism none", "coll_tuned_allreduce_algorithm 4",
                     "coll_libnbc_iallreduce_algorithm 1", "--oversubscribe", "--allow-run-as-root"] {
            XCTAssertTrue(result.output.contains(word), "--help does not mention \(word)")
        }
    }

    func testDryRunPrintsTheMPIRunCommand() throws {
        let ranks = try cores + 1
        let result = try launch(["--dry-run", "-n", "\(ranks)", "--timeout", "30", "--kill-grace", "20", "--threads", "3",
                                 "--tag-output", "--", "/bin/echo", "two words"])
        XCTAssertEqual(result.status, 0, result.output)
        let line = result.output
        XCTAssertTrue(line.hasPrefix("mpirun -np \(ranks) --bind-to none --mca btl_vader_single_copy_mechanism none "
                                     + "--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 4 "
                                     + "--mca coll_libnbc_iallreduce_algorithm 1 --oversubscribe "), line)
        for part in ["--timeout 30", "--mca odls_base_sigkill_timeout 20", "-x WAVEMIX_THREADS=3", "--tag-output /bin/sh -c ", "/bin/echo two\\ words"] {
            XCTAssertTrue(line.contains(part), "missing \(part): \(line)")
        }
        XCTAssertEqual(line.contains("--allow-run-as-root"), getuid() == 0, line)

        let plain = try launch(["--dry-run", "--no-tuning", "-n", "1", "/bin/true"])
        XCTAssertEqual(plain.status, 0, plain.output)
        XCTAssertFalse(plain.output.contains("--mca"), plain.output)
        XCTAssertFalse(plain.output.contains("--oversubscribe"), plain.output)
    }

    func testEveryRankGetsItsThreadsAndCoreType() throws {
        _ = try Programs.mpirun()
        let report = #"echo "rank=$OMPI_COMM_WORLD_RANK threads=$WAVEMIX_THREADS omp=$OMP_NUM_THREADS blas=$OPENBLAS_NUM_THREADS core=${OPENBLAS_CORETYPE:-unset}""#
        // The launcher leaves OpenBLAS's kernels to each rank (KernelSelection), forwarding only a
        // user's override.
        let core = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset"

        let hostCores = try cores
        let two = try launch(["-n", "2", "--timeout", "60", "--", "/bin/sh", "-c", report], environment: ["WAVEMIX_THREADS": ""])
        XCTAssertEqual(two.status, 0, two.output)
        let t = max(1, hostCores / 2)
        for rank in 0..<2 {
            XCTAssertTrue(two.output.contains("rank=\(rank) threads=\(t) omp=\(t) blas=\(t) core=\(core)"), two.output)
        }

        // Four ranks on a host with fewer cores: oversubscribed, explicit threads.
        let four = try launch(["-n", "4", "--threads", "3", "--timeout", "60", "--tag-output", "--", "/bin/sh", "-c", report])
        XCTAssertEqual(four.status, 0, four.output)
        for rank in 0..<4 {
            XCTAssertTrue(four.output.contains("[1,\(rank)]<stdout>:rank=\(rank) threads=3 omp=3 blas=3 core=\(core)"), four.output)
        }

        let chosen = try launch(["-n", "2", "--timeout", "60", "--", "/bin/sh", "-c", report], environment: ["OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertEqual(chosen.status, 0, chosen.output)
        for rank in 0..<2 { XCTAssertTrue(chosen.output.contains("rank=\(rank) threads="), chosen.output) }
        XCTAssertEqual(chosen.output.components(separatedBy: "core=Haswell").count - 1, 2, chosen.output)
    }

    func testHostfileSetsTheSlotsWithoutOversubscribing() throws {
        _ = try Programs.mpirun()
        let hostfile = URL(fileURLWithPath: temporaryDirectory(self, "hostfile") + "/hostfile")
        try "localhost slots=4\n".write(to: hostfile, atomically: true, encoding: .utf8)
        let arguments = ["-n", "4", "--hostfile", hostfile.path, "--timeout", "60", "--", "/bin/sh", "-c", "echo rank=$OMPI_COMM_WORLD_RANK"]
        let plan = try launch(["--dry-run"] + arguments)
        XCTAssertTrue(plan.output.contains("--hostfile \(hostfile.path)"), plan.output)
        XCTAssertFalse(plan.output.contains("--oversubscribe"), "a hostfile decides the slots: \(plan.output)")
        let result = try launch(arguments)
        XCTAssertEqual(result.status, 0, result.output)
        for rank in 0..<4 { XCTAssertTrue(result.output.contains("rank=\(rank)\n"), result.output) }
    }

    func testUsageErrorsExitWithStatus2() throws {
        for arguments in [["-n", "0", "/bin/true"], ["-n"], ["--threads", "x", "/bin/true"], ["--tag-output", "/bin/true"], ["-n", "2"]] {
            let result = try launch(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.output)")
            XCTAssertTrue(result.output.hasPrefix("wavemix-mpirun: "), result.output)
        }
    }

    func testFailingProgramGivesNonZeroStatus() throws {
        _ = try Programs.mpirun()
        let result = try launch(["-n", "2", "--timeout", "60", "--", "/bin/sh", "-c", "exit $((OMPI_COMM_WORLD_RANK * 5))"])
        XCTAssertEqual(result.status, 5, result.output)
    }
}
