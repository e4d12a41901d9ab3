// How an MPI job ends when a rank hangs, dies or aborts: the communicator timeout aborts the job
// with one diagnostic line and exit status 3; a rank's exit(7) makes mpirun end the job with
// status 7; abort(code: 5, …) ends it with status 5 and the rank's message. All well before
// mpirun's own --timeout 60. The measured times are printed.
import Foundation
import TestSupport
import XCTest

final class FaultTests: XCTestCase {
    func testTimeoutAbortsTheJobWithOneDiagnostic() throws {
        let mpirun = try Programs.mpirun()
        let timeout = 2.0
        let result = try Programs.run(mpirun, ["--timeout", "60", "-np", "2", "--bind-to", "none",
                                                 Programs.testBinary, "CommTests.FaultWorkerTests/testRankOneHangsBeforeAllreduce"],
                                        environment: Programs.workerEnvironment(["WAVEMIX_TEST_COMM_TIMEOUT": "2"]))
        let context = "exit status \(result.status) after \(result.seconds) s; output:\n\(result.output.suffix(6000))"
        XCTAssertEqual(result.status, 3, context)
        let diagnostic = ": allreduce of 4 MiB waited 2.0 s (--comm-timeout 2); another rank has stopped or hung; aborting the job"
        XCTAssertEqual(result.output.occurrences(of: diagnostic), 1, context)
        XCTAssertEqual(result.output.occurrences(of: "rank 0 (host "), 1, context)
        XCTAssertEqual(result.output.occurrences(of: "rank 1 (host "), 0, context)
        XCTAssertFalse(result.output.contains("should have been aborted"), context)
        XCTAssertLessThan(result.seconds, timeout + 20, "the job outlived the timeout by far: \(context)")
        print("timeout \(timeout) s: mpirun exited \(secondsSinceFault(result)) s after rank 0 entered the all-reduce")
    }

    func testExitingRankEndsTheJob() throws {
        let mpirun = try Programs.mpirun()
        let result = try Programs.run(mpirun, ["--timeout", "60", "-np", "2", "--bind-to", "none",
                                                 Programs.testBinary, "CommTests.FaultWorkerTests/testRankOneExitsDuringAllreduce"],
                                        environment: Programs.workerEnvironment())
        let context = "exit status \(result.status) after \(result.seconds) s; output:\n\(result.output.suffix(6000))"
        XCTAssertEqual(result.status, 7, context)
        XCTAssertFalse(result.output.contains("should have been ended"), context)
        XCTAssertLessThan(result.seconds, 30, "mpirun did not end the job promptly: \(context)")
        print("rank 1 exit(7): mpirun exited \(secondsSinceFault(result)) s after it")
    }

    func testAbortEndsTheJobWithItsCodeAndMessage() throws {
        let mpirun = try Programs.mpirun()
        let result = try Programs.run(mpirun, ["--timeout", "60", "-np", "2", "--bind-to", "none",
                                                 Programs.testBinary, "CommTests.FaultWorkerTests/testRankOneAborts"],
                                        environment: Programs.workerEnvironment())
        let context = "exit status \(result.status) after \(result.seconds) s; output:\n\(result.output.suffix(6000))"
        XCTAssertEqual(result.status, 5, context)
        XCTAssertEqual(result.output.occurrences(of: "rank 1: stopping the job on purpose"), 1, context)
        XCTAssertFalse(result.output.contains("should have been aborted"), context)
    }
}

/// Seconds from the worker's "comm-fault-time T" line to the end of the job, as text.
private func secondsSinceFault(_ result: ChildResult) -> String {
    guard let line = result.output.split(separator: "\n").first(where: { $0.contains("comm-fault-time ") }),
          let start = Double(line.split(separator: " ").last ?? "") else { return "?" }
    return String(format: "%.2f", result.end.timeIntervalSince1970 - start)
}
