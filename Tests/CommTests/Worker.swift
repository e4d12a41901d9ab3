// Worker-side support: the tests that do MPI work run only inside children started by the
// launcher tests (env WAVEMIX_MPI_WORKER=1, under mpirun or alone as a singleton) and are skipped
// in the ordinary `swift test` process, which must never initialise MPI.
import Comm
import Foundation
import XCTest

enum Worker {
    static var isWorker: Bool { ProcessInfo.processInfo.environment["WAVEMIX_MPI_WORKER"] == "1" }

    nonisolated(unsafe) private static var started: Communicator?

    /// The process's communicator, initialised on first use; skips the test outside a worker.
    static func communicator() throws -> Communicator {
        guard isWorker else { throw XCTSkip("MPI worker test: run by the launcher tests (env WAVEMIX_MPI_WORKER=1)") }
        let communicator = try Communicator.initialize()
        communicator.timeout = 30 // a mismatch between ranks ends the job with a diagnostic, not a hang
        started = communicator
        return communicator
    }

    /// Finalizes MPI if a test of this process started it (call from a class tearDown).
    static func finish() { started?.finalize() }

    /// An integer from the environment that mpirun (or the launcher test) set, if any.
    static func environmentInt(_ name: String) -> Int? { ProcessInfo.processInfo.environment[name].flatMap { Int($0) } }
}
