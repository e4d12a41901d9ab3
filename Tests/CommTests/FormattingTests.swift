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
        XCTAssertEqual(Operation(name: "barrier", call: "MPI_Ibarrier", bytes: nil).description, "barrier")
        let error = MPIError(call: "MPI_Ibcast", code: 2, message: "MPI_ERR_COUNT: invalid count argument", rank: 3)
        XCTAssertEqual(error.description, "rank 3: MPI_Ibcast failed: MPI_ERR_COUNT: invalid count argument")
    }

    func testBackoffSpinsThenYieldsThenSleepsBriefly() {
        func pauseTime(_ backoff: inout Backoff, at waited: Double) -> Double {
            let start = monotonicSeconds()
            backoff.pause(waited: waited)
            return monotonicSeconds() - start
        }
        // 4 MiB: S = 1 ms + 4.2 ms; spin until S, yield until 10 S, then sleep.
        var backoff = Backoff(bytes: 4 << 20, oversubscribed: false)
        XCTAssertLessThan(pauseTime(&backoff, at: 0.005), 1e-4, "spinning at 5 ms")
        XCTAssertLessThan(pauseTime(&backoff, at: 0.050), 0.05, "yielding at 50 ms")
        var slept = 0.0
        for _ in 0..<10 { slept = pauseTime(&backoff, at: 0.06) }
        XCTAssertGreaterThanOrEqual(slept, 150e-6, "the sleep grows to 200 µs")
        XCTAssertLessThan(slept, 0.05, "and no further (50 ms allows for a busy host)")
        // Oversubscribed: no spinning at all, yet no sleep before 10 S either.
        var crowded = Backoff(bytes: 4 << 20, oversubscribed: true)
        XCTAssertLessThan(pauseTime(&crowded, at: 0), 0.05)
    }
}
