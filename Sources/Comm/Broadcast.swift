// Broadcast from a root rank: raw bytes, typed Float/Double/Int64 buffers (every rank passes a
// buffer of the same size), and a variable-length byte array (the root's length goes first).
// All run as MPI_Ibcast and wait through `complete` (polling, timeout).
import CMPI

extension Communicator {
    /// Overwrites `buffer` on every rank with the root's bytes; every rank passes the same count.
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws(MPIError) {
        try broadcast(buffer.baseAddress, count: buffer.count, datatype: cmpi_byte(), bytes: buffer.count, root: root)
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws(MPIError) {
        try broadcast(typed: buffer, root: root)
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Double>, root: Int) throws(MPIError) {
        try broadcast(typed: buffer, root: root)
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Int64>, root: Int) throws(MPIError) {
        try broadcast(typed: buffer, root: root)
    }

    /// Returns the root's `bytes` on every rank; the other ranks' `bytes` are ignored, and the
    /// lengths need not agree.
    public func broadcast(_ bytes: [UInt8], root: Int) throws(MPIError) -> [UInt8] {
        var length = Int64(rank == root ? bytes.count : 0)
        try withUnsafeMutablePointer(to: &length) { p throws(MPIError) in
            try broadcast(typed: UnsafeMutableBufferPointer(start: p, count: 1), root: root)
        }
        var result = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length))
        try result.withUnsafeMutableBufferPointer { all throws(MPIError) in
            try broadcast(UnsafeMutableRawBufferPointer(all), root: root)
        }
        return result
    }

    private func broadcast<T: MPIElement>(typed buffer: UnsafeMutableBufferPointer<T>, root: Int) throws(MPIError) {
        try broadcast(buffer.baseAddress, count: buffer.count, datatype: T.datatype,
                      bytes: buffer.count * MemoryLayout<T>.stride, root: root)
    }

    private func broadcast(_ address: UnsafeMutableRawPointer?, count: Int, datatype: MPI_Datatype,
                           bytes: Int, root: Int) throws(MPIError) {
        precondition((0..<size).contains(root), "Comm: broadcast root \(root) is not a rank of \(size)")
        let n = try mpiCount(count, "MPI_Ibcast")
        try collective(Operation(name: "broadcast", call: "MPI_Ibcast", bytes: bytes)) {
            MPI_Ibcast(address, n, datatype, Int32(root), cmpi_comm_world(), &$0)
        }
    }
}
