// Worker test of MPI's lifetime in a process: initialize() is idempotent, finalize() may be called
// twice, and MPI cannot be initialised again afterwards. Run in a process of its own (it finalizes).
import Comm
import XCTest

final class LifecycleWorkerTests: XCTestCase {
    func testFinalizeTwiceThenInitializeThrows() throws {
        let comm = try Worker.communicator()
        XCTAssertTrue(try Communicator.initialize() === comm)
        try comm.barrier()
        XCTAssertFalse(comm.isFinalized)
        comm.finalize()
        comm.finalize()
        XCTAssertTrue(comm.isFinalized)
        XCTAssertThrowsError(try Communicator.initialize()) { error in
            XCTAssertEqual((error as? MPIError)?.description,
                           "rank \(comm.rank): MPI_Init_thread failed: MPI was finalized in this process and cannot be initialised again")
        }
        Console.out("comm-lifecycle rank \(comm.rank) ok")
    }
}
