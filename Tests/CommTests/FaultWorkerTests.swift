// Worker tests that end their job on purpose; each runs in an mpirun of its own, started by
// FaultTests, which checks how the job ends. "comm-fault-time T" marks when the fault began.
import Comm
import Foundation
import XCTest

final class FaultWorkerTests: XCTestCase {
    /// Rank 1 never reaches the all-reduce (it hangs); rank 0 must abort the job after
    /// WAVEMIX_TEST_COMM_TIMEOUT seconds with the diagnostic.
    func testRankOneHangsBeforeAllreduce() throws {
        let comm = try Worker.communicator()
        comm.timeout = Double(Worker.environmentInt("WAVEMIX_TEST_COMM_TIMEOUT") ?? 2)
        try comm.barrier()
        if comm.rank == 1 {
            Thread.sleep(forTimeInterval: 120)
        } else {
            Console.out("comm-fault-time \(Date().timeIntervalSince1970)")
            var buffer = [Float](repeating: 1, count: (4 << 20) / 4)
            try buffer.withUnsafeMutableBufferPointer { b in try comm.allreduceSum(b) }
        }
        XCTFail("rank \(comm.rank) went on; the job should have been aborted")
    }

    /// Rank 1 exits with status 7 while rank 0 waits in an all-reduce without a timeout: mpirun
    /// must end the job.
    func testRankOneExitsDuringAllreduce() throws {
        let comm = try Worker.communicator()
        comm.timeout = nil
        try comm.barrier()
        if comm.rank == 1 {
            Console.out("comm-fault-time \(Date().timeIntervalSince1970)")
            exit(7)
        }
        var buffer = [Float](repeating: 1, count: (4 << 20) / 4)
        try buffer.withUnsafeMutableBufferPointer { b in try comm.allreduceSum(b) }
        XCTFail("rank \(comm.rank) went on; the job should have been ended")
    }

    /// Rank 1 calls abort(code: 5, …) while rank 0 waits in a barrier without a timeout.
    func testRankOneAborts() throws {
        let comm = try Worker.communicator()
        comm.timeout = nil
        try comm.barrier()
        if comm.rank == 1 { comm.abort(code: 5, message: "stopping the job on purpose") }
        try comm.barrier()
        XCTFail("rank \(comm.rank) went on; the job should have been aborted")
    }
}
