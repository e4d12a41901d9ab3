// Launcher tests: run this test binary's worker tests as MPI jobs (mpirun -np 2 through the
// launcher script, mpirun -np 4 --oversubscribe with Open MPI defaults) and as a singleton
// without mpirun, and check that every rank ran every worker test and passed.
import Foundation
import TestSupport
import XCTest

final class MultiRankTests: XCTestCase {
    func testWorkersOnTwoRanksThroughTheLauncher() throws {
        _ = try Programs.mpirun()
        let result = try Programs.run(Programs.launcher, ["-n", "2", "--timeout", "60", "--", Programs.testBinary, "CommTests.MPIWorkerTests"],
                                        environment: Programs.workerEnvironment(["WAVEMIX_EXPECT_SIZE": "2"]))
        assertWorkersPassed(result, suite: "MPIWorkerTests", ranks: 2)
        assertIdentityLines(result, ranks: 2)
    }

    func testWorkersOnFourRanksOversubscribedWithOpenMPIDefaults() throws {
        let mpirun = try Programs.mpirun()
        let result = try Programs.run(mpirun, ["--timeout", "60", "-np", "4", "--oversubscribe", Programs.testBinary, "CommTests.MPIWorkerTests"],
                                        environment: Programs.workerEnvironment(["WAVEMIX_EXPECT_SIZE": "4"]))
        assertWorkersPassed(result, suite: "MPIWorkerTests", ranks: 4)
        assertIdentityLines(result, ranks: 4)
    }

    func testWorkersAsSingletonWithoutMPIRun() throws {
        _ = try Programs.mpirun() // the singleton still needs Open MPI's runtime installed
        let result = try Programs.run(Programs.testBinary, ["CommTests.MPIWorkerTests"],
                                        environment: Programs.workerEnvironment(["WAVEMIX_EXPECT_SIZE": "1"]), deadline: 60)
        assertWorkersPassed(result, suite: "MPIWorkerTests", ranks: 1)
        assertIdentityLines(result, ranks: 1)
    }

    func testLifecycleAsSingletonAndOnTwoRanks() throws {
        let mpirun = try Programs.mpirun()
        let alone = try Programs.run(Programs.testBinary, ["CommTests.LifecycleWorkerTests"],
                                       environment: Programs.workerEnvironment(), deadline: 60)
        assertWorkersPassed(alone, suite: "LifecycleWorkerTests", ranks: 1)
        let two = try Programs.run(mpirun, ["--timeout", "60", "-np", "2", "--bind-to", "none", Programs.testBinary, "CommTests.LifecycleWorkerTests"],
                                     environment: Programs.workerEnvironment())
        assertWorkersPassed(two, suite: "LifecycleWorkerTests", ranks: 2)
    }
}

/// Every one of `ranks` processes ran `suite` without a skip or a failure, and the job exited 0.
func assertWorkersPassed(_ result: ChildResult, suite: String, ranks: Int, file: StaticString = #filePath, line: UInt = #line) {
    let context = "\(suite) on \(ranks) rank(s), exit status \(result.status), \(String(format: "%.1f", result.seconds)) s; output:\n\(result.output.suffix(6000))"
    XCTAssertEqual(result.status, 0, context, file: file, line: line)
    XCTAssertEqual(result.output.occurrences(of: "Test Suite '\(suite)' passed"), ranks, context, file: file, line: line)
    XCTAssertEqual(result.output.occurrences(of: "' skipped"), 0, "worker tests must run, not skip: \(context)", file: file, line: line)
    XCTAssertEqual(result.output.occurrences(of: " with 0 failures"), 2 * ranks, context, file: file, line: line)
    print("\(suite) on \(ranks) rank(s): \(String(format: "%.2f", result.seconds)) s")
}

/// testIdentity printed (with Console.out) one line per rank, each rank on this one host.
func assertIdentityLines(_ result: ChildResult, ranks: Int, file: StaticString = #filePath, line: UInt = #line) {
    for rank in 0..<ranks {
        XCTAssertEqual(result.output.occurrences(of: "comm-identity rank \(rank) of \(ranks), local \(rank) of \(ranks), host "), 1,
                       result.output.suffix(6000).description, file: file, line: line)
    }
}
