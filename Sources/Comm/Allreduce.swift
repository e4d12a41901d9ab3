// All-reduce: element-wise sums of Float/Double/Int64 buffers (in place, or from a separate send
// buffer, blocking or as a Request), and sums, maxima and minima of single numbers. All run as
// MPI_Iallreduce; the blocking ones wait through `complete` (polling, timeout).
//
// In place: MPI_IN_PLACE is never used. With Open MPI's default nonblocking algorithm an
// in-place MPI_Iallreduce does much of its work inside the starting call (32 MiB: ~20 ms, beyond
// the reach of the timeout), and with any algorithm it is ~2.4x slower than a separate send buffer
// at 32 MiB (13 vs 31 ms measured). So an in-place sum copies pieces of at most 4 MiB into a
// scratch send buffer and reduces each back into place (32 MiB: ~15 ms); in-place sums thus have
// no 32-bit count limit.
import CMPI
import Glibc

extension Communicator {
    /// Replaces `buffer` on every rank by the element-wise sum over all ranks (any size).
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws(MPIError) {
        try allreduce(buffer, cmpi_sum())
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws(MPIError) {
        try allreduce(buffer, cmpi_sum())
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws(MPIError) {
        try allreduce(buffer, cmpi_sum())
    }

    /// Writes the element-wise sum over all ranks of `send` into `receive` (same count, at most
    /// Int32.max elements, no overlap).
    public func allreduceSum(send: UnsafeBufferPointer<Float>, receive: UnsafeMutableBufferPointer<Float>) throws(MPIError) {
        try allreduce(send, receive, cmpi_sum())
    }

    public func allreduceSum(send: UnsafeBufferPointer<Double>, receive: UnsafeMutableBufferPointer<Double>) throws(MPIError) {
        try allreduce(send, receive, cmpi_sum())
    }

    /// Starts summing `send` over all ranks into `receive` and returns at once; progress it with
    /// `Request.test()` between pieces of compute and finish with `Request.wait()`. Both buffers
    /// must stay alive and untouched until then.
    public func iallreduceSum(send: UnsafeBufferPointer<Float>, receive: UnsafeMutableBufferPointer<Float>) throws(MPIError) -> Request {
        try iallreduce(send, receive, cmpi_sum())
    }

    public func iallreduceSum(send: UnsafeBufferPointer<Double>, receive: UnsafeMutableBufferPointer<Double>) throws(MPIError) -> Request {
        try iallreduce(send, receive, cmpi_sum())
    }

    /// The sum of `value` over all ranks.
    public func allreduceSum(_ value: Double) throws(MPIError) -> Double { try scalar(value, cmpi_sum()) }
    public func allreduceSum(_ value: Int64) throws(MPIError) -> Int64 { try scalar(value, cmpi_sum()) }
    public func allreduceSum(_ value: Int) throws(MPIError) -> Int { Int(try scalar(Int64(value), cmpi_sum())) }

    /// The largest `value` over all ranks.
    public func allreduceMax(_ value: Double) throws(MPIError) -> Double { try scalar(value, cmpi_max()) }
    public func allreduceMax(_ value: Int64) throws(MPIError) -> Int64 { try scalar(value, cmpi_max()) }
    public func allreduceMax(_ value: Int) throws(MPIError) -> Int { Int(try scalar(Int64(value), cmpi_max())) }

    /// The smallest `value` over all ranks.
    public func allreduceMin(_ value: Double) throws(MPIError) -> Double { try scalar(value, cmpi_min()) }
    public func allreduceMin(_ value: Int64) throws(MPIError) -> Int64 { try scalar(value, cmpi_min()) }
    public func allreduceMin(_ value: Int) throws(MPIError) -> Int { Int(try scalar(Int64(value), cmpi_min())) }

    // MARK: - Implementation

    private func operation<T>(_ count: Int, _ type: T.Type) -> Operation {
        Operation(name: "allreduce", call: "MPI_Iallreduce", bytes: count * MemoryLayout<T>.stride)
    }

    /// Bytes of the scratch send buffer for in-place sums.
    static let scratchBytes = 4 << 20

    /// In-place all-reduce through the scratch buffer, piece by piece (so any count works); one
    /// deadline for the whole.
    private func allreduce<T: MPIElement>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: MPI_Op) throws(MPIError) {
        let operation = operation(buffer.count, T.self), start = monotonicSeconds()
        let piece = Communicator.scratchBytes / MemoryLayout<T>.stride
        if scratch.baseAddress == nil { scratch = .allocate(byteCount: Communicator.scratchBytes, alignment: 64) }
        for offset in stride(from: 0, to: buffer.count, by: piece) {
            let address = buffer.baseAddress! + offset, count = min(piece, buffer.count - offset)
            memcpy(scratch.baseAddress!, address, count * MemoryLayout<T>.stride)
            var request = try begin(operation) {
                MPI_Iallreduce(scratch.baseAddress, address, Int32(count), T.datatype, op, cmpi_comm_world(), &$0)
            }
            try complete(&request, operation, since: start)
        }
    }

    /// All-reduce from a separate send buffer.
    private func allreduce<T: MPIElement>(_ send: UnsafeBufferPointer<T>, _ receive: UnsafeMutableBufferPointer<T>,
                                          _ op: MPI_Op) throws(MPIError) {
        precondition(send.count == receive.count, "Comm: allreduce send and receive counts differ")
        let count = try mpiCount(receive.count, "MPI_Iallreduce")
        try collective(operation(receive.count, T.self)) {
            MPI_Iallreduce(send.baseAddress, receive.baseAddress, count, T.datatype, op, cmpi_comm_world(), &$0)
        }
    }

    private func iallreduce<T: MPIElement>(_ send: UnsafeBufferPointer<T>, _ receive: UnsafeMutableBufferPointer<T>,
                                           _ op: MPI_Op) throws(MPIError) -> Request {
        precondition(send.count == receive.count, "Comm: iallreduce send and receive counts differ")
        let count = try mpiCount(receive.count, "MPI_Iallreduce")
        let operation = operation(receive.count, T.self)
        let handle = try begin(operation) {
            MPI_Iallreduce(send.baseAddress, receive.baseAddress, count, T.datatype, op, cmpi_comm_world(), &$0)
        }
        return Request(communicator: self, operation: operation, handle: handle)
    }

    private func scalar<T: MPIElement>(_ value: T, _ op: MPI_Op) throws(MPIError) -> T {
        var send = value, result = value
        try withUnsafePointer(to: &send) { s throws(MPIError) in
            try withUnsafeMutablePointer(to: &result) { r throws(MPIError) in
                try allreduce(UnsafeBufferPointer(start: s, count: 1), UnsafeMutableBufferPointer(start: r, count: 1), op)
            }
        }
        return result
    }
}
