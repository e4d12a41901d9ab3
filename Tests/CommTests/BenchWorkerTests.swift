// All-reduce benchmark (scripts/bench_allreduce.sh runs it under mpirun; skipped unless
// WAVEMIX_BENCH=1 in a worker). Rank 0 prints:
// - float32 sums of 256 KiB, 4 MiB and 32 MiB, median of 20: memcpy of the same size, Comm's
//   in-place and send/receive all-reduce, and for reference the same MPI_Iallreduce polled by
//   a bare MPI_Test spin (what Comm's back-off must not slow down) and Open MPI's blocking
//   MPI_Allreduce (coll/tuned); algorithm bandwidth = bytes / time, and its ratio to memcpy's;
// - a late peer: rank 1 computes 50 ms (WAVEMIX_BENCH_LATE_MS) before joining; how long rank 1
//   then spends in the call (the cost of the waiting rank's back-off) and how much CPU rank 0
//   burned while waiting.
import CMPI
import Comm
import Foundation
import XCTest

final class BenchWorkerTests: XCTestCase {
    override class func tearDown() {
        Worker.finish()
        super.tearDown()
    }

    func testAllreduceBandwidth() throws {
        guard ProcessInfo.processInfo.environment["WAVEMIX_BENCH"] == "1" else {
            throw XCTSkip("benchmark: run scripts/bench_allreduce.sh")
        }
        let comm = try Worker.communicator()
        let label = ProcessInfo.processInfo.environment["WAVEMIX_BENCH_LABEL"] ?? "?"
        let report = { (line: String) in if comm.rank == 0 { Console.out(line) } }
        report("all-reduce bench: \(comm.size) ranks on host \(comm.hostName), float32 sum, settings: \(label); median of \(repetitions)")
        report("size      memcpy               Comm in place               Comm send/receive           MPI_Iallreduce+Test spin    MPI_Allreduce in place")
        for bytes in [256 << 10, 4 << 20, 32 << 20] {
            let count = bytes / 4
            let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            defer { a.deallocate(); b.deallocate() }
            a.initialize(repeating: 1)
            b.initialize(repeating: 1)
            let copy = try time(comm, alone: true) { memcpy(b.baseAddress!, a.baseAddress!, bytes) }
            let inPlace = try time(comm) { try comm.allreduceSum(a) }
            let separate = try time(comm) { try comm.allreduceSum(send: UnsafeBufferPointer(a), receive: b) }
            let spin = try time(comm) {
                var request: MPI_Request? = cmpi_request_null(), done: Int32 = 0
                _ = MPI_Iallreduce(a.baseAddress, b.baseAddress, Int32(count), cmpi_float(), cmpi_sum(), cmpi_comm_world(), &request)
                while done == 0 { _ = MPI_Test(&request, &done, cmpi_status_ignore()) }
            }
            let raw = try time(comm) {
                _ = MPI_Allreduce(cmpi_in_place(), a.baseAddress, Int32(count), cmpi_float(), cmpi_sum(), cmpi_comm_world())
            }
            func cell(_ t: Double) -> String {
                String(format: "%7.3f ms %5.1f GB/s", t * 1e3, Double(bytes) / t / 1e9).padding(toLength: 21, withPad: " ", startingAt: 0)
            }
            func ratio(_ t: Double) -> String { cell(t) + String(format: " %4.2fx  ", copy / t) }
            report(formatSize(bytes) + cell(copy) + ratio(inPlace) + ratio(separate) + ratio(spin) + ratio(raw))
        }

        guard comm.size > 1 else { return }
        let late = Double(Worker.environmentInt("WAVEMIX_BENCH_LATE_MS") ?? 50) / 1000
        report("late peer: rank 1 computes \(Int(late * 1000)) ms, then joins; rank 1's time in the call | rank 0's CPU time while it waited")
        for bytes in [256 << 10, 4 << 20, 32 << 20] {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: bytes / 4)
            defer { buffer.deallocate() }
            buffer.initialize(repeating: 1)
            let comm1 = try latePeer(comm, late: late) { try comm.allreduceSum(buffer) }
            let raw1 = try latePeer(comm, late: late) {
                _ = MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, Int32(bytes / 4), cmpi_float(), cmpi_sum(), cmpi_comm_world())
            }
            report(formatSize(bytes) + String(format: "Comm: %7.3f ms | %5.1f ms CPU    MPI_Allreduce: %7.3f ms | %5.1f ms CPU",
                                              comm1.lateCall * 1e3, comm1.waiterCPU * 1e3, raw1.lateCall * 1e3, raw1.waiterCPU * 1e3))
        }
    }

    private let repetitions = 20

    /// Median seconds of `body` over the repetitions after two warm-ups, each started together
    /// after a barrier (`alone`: rank 0 only, the others wait in the barrier).
    private func time(_ comm: Communicator, alone: Bool = false, _ body: () throws -> Void) throws -> Double {
        var samples = [Double]()
        for i in 0..<(repetitions + 2) {
            try comm.barrier()
            if alone && comm.rank != 0 { continue }
            let start = monotonic()
            try body()
            if i >= 2 { samples.append(monotonic() - start) }
        }
        try comm.barrier()
        return alone && comm.rank != 0 ? 0 : samples.sorted()[samples.count / 2]
    }

    /// Rank 1 spins `late` seconds before `body`; medians over 10 runs, gathered to rank 0.
    private func latePeer(_ comm: Communicator, late: Double, _ body: () throws -> Void) throws -> (lateCall: Double, waiterCPU: Double) {
        var call = [Double](), cpu = [Double]()
        for _ in 0..<10 {
            try comm.barrier()
            if comm.rank == 1 {
                let until = monotonic() + late
                while monotonic() < until {}
            }
            let (start, startCPU) = (monotonic(), threadCPU())
            try body()
            call.append(monotonic() - start)
            cpu.append(threadCPU() - startCPU)
        }
        let medians = try comm.allgather([call.sorted()[5], cpu.sorted()[5]])
        return (medians[1][0], medians[0][1])
    }

    private func formatSize(_ bytes: Int) -> String {
        (bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB").padding(toLength: 10, withPad: " ", startingAt: 0)
    }

    private func monotonic() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    private func threadCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
