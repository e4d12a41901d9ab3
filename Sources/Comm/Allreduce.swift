// All-reduce: element-wise sums of Float/Double/Int64 buffers (in place, or from a separate send
// buffer, blocking or as a Request), and sums, maxima and minima of single numbers. All run as
// MPI_Iallreduce; the blocking ones wait through `complete` (polling, timeout).
//
// In place vs separate send buffer: with Open MPI's default nonblocking all-reduce algorithm an
// in-place MPI_Iallreduce does much of its work inside the starting call (32 MiB: ~20 ms), so a
// Request meant to overlap compute always takes a separate send buffer. The launcher selects the
// ring algorithm (coll_libnbc_iallreduce_algorithm 1), which starts in place without that stall.
import CMPI

extension Communicator {
    /// Replaces `buffer` on every rank by the element-wise sum over all ranks.
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws(MPIError) {
        try allreduce(nil, buffer, cmpi_sum())
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws(MPIError) {
        try allreduce(nil, buffer, cmpi_sum())
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws(MPIError) {
        try allreduce(nil, buffer, cmpi_sum())
    }

    /// Writes the element-wise sum over all ranks of `send` into `receive` (same count, no overlap).
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

    /// Blocking all-reduce; `send == nil` means in place.
    private func allreduce<T: MPIElement>(_ send: UnsafeBufferPointer<T>?, _ receive: UnsafeMutableBufferPointer<T>,
                                          _ op: MPI_Op) throws(MPIError) {
        precondition(send.map { $0.count == receive.count } ?? true, "Comm: allreduce send and receive counts differ")
        let count = try mpiCount(receive.count, "MPI_Iallreduce")
        let sendAddress = send.map { UnsafeRawPointer($0.baseAddress) } ?? UnsafeRawPointer(cmpi_in_place())
        try collective(operation(receive.count, T.self)) {
            MPI_Iallreduce(sendAddress, receive.baseAddress, count, T.datatype, op, cmpi_comm_world(), &$0)
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
