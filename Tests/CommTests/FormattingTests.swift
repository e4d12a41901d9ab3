// Pure parts of Comm that need no MPI: the sizes and times in the timeout diagnostic, the
// one-line MPIError, and the polling back-off's phases.
@testable import Comm
import XCTest

final class FormattingTests: XCTestCase {
    func testByteCounts() {
        XCTAssertEqual(formatBytes(0), "0 B")
        XCTAssertEqual(formatBytes(12), "12 B")
        XCTAssertEqual(formatBytes(256 << 10), "256 KiB")
        XCTAssertEqual(formatBytes(4 << 20), "4 MiB")
        XCTAssertEqual(formatBytes(3 << 19), "1.5 MiB")
        XCTAssertEqual(formatBytes(2 << 30), "2 GiB")
    }

    func testSeconds() {
        XCTAssertEqual(formatTenths(30.0004), "30.0")
        XCTAssertEqual(formatTenths(0.46), "0.5")
        XCTAssertEqual(formatNumber(30), "30")
        XCTAssertEqual(formatNumber(2.5), "2.5")
    }

    func testOperationAndErrorDescriptions() {
        XCTAssertEqual(Operation(name: "allreduce", call: "MPI_Iallreduce", bytes: 4 << 20).description, "allreduce of 4 MiB")
        XCTAssertEqual(Operation(name: "barrier", call: "MPI_Ibarrier", bytes: 0).description, "barrier")
        let error = MPIError(call: "MPI_Ibcast", code: 2, message: "MPI_ERR_COUNT: invalid count argument", rank: 3)
        XCTAssertEqual(error.description, "rank 3: MPI_Ibcast failed: MPI_ERR_COUNT: invalid count argument")
    }

    func testBackoffSpinsThenYieldsThenSleepsBriefly() {
        var backoff = Backoff(bytes: 4 << 20)
        func pauseTime(at waited: Double) -> Double {
            let start = monotonicSeconds()
            backoff.pause(waited: waited)
            return monotonicSeconds() - start
        }
        XCTAssertLessThan(pauseTime(at: 0.004), 1e-4, "4 MiB at 1 GB/s: still spinning after 4 ms")
        XCTAssertLessThan(pauseTime(at: 0.010), 0.05, "yielding")
        var slept = 0.0
        for _ in 0..<10 { slept = pauseTime(at: 1) }
        XCTAssertGreaterThanOrEqual(slept, 150e-6, "the sleep grows to 200 µs")
        XCTAssertLessThan(slept, 0.05, "and no further (50 ms allows for a busy host)")
    }
}
