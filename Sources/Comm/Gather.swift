// Gather and all-gather of small Int64/Double arrays, for diagnostics and per-rank counts. Ranks
// may contribute arrays of different lengths: the lengths are gathered first, then the values
// (MPI_Iallgather + MPI_Iallgatherv, MPI_Igather + MPI_Igatherv). Results are indexed by rank.
import CMPI

extension Communicator {
    /// Every rank's `values`, on every rank: result[r] is rank r's array.
    public func allgather(_ values: [Int64]) throws(MPIError) -> [[Int64]] { try gather(values, root: nil) }
    public func allgather(_ values: [Double]) throws(MPIError) -> [[Double]] { try gather(values, root: nil) }

    /// Every rank's `values` on `root` (result[r] is rank r's array); an empty array elsewhere.
    public func gather(_ values: [Int64], root: Int) throws(MPIError) -> [[Int64]] { try gather(values, root: Optional(root)) }
    public func gather(_ values: [Double], root: Int) throws(MPIError) -> [[Double]] { try gather(values, root: Optional(root)) }

    /// root == nil: all-gather.
    private func gather<T: MPIElement & Numeric>(_ values: [T], root: Int?) throws(MPIError) -> [[T]] {
        if let root { precondition((0..<size).contains(root), "Comm: gather root \(root) is not a rank of \(size)") }
        let receives = root.map { $0 == rank } ?? true
        let name = root == nil ? "allgather" : "gather"

        var myCount = Int64(values.count)
        var counts = [Int64](repeating: 0, count: receives ? size : 0)
        try withUnsafeMutablePointer(to: &myCount) { mine throws(MPIError) in
            try counts.withUnsafeMutableBufferPointer { all throws(MPIError) in
                let operation = Operation(name: name, call: root == nil ? "MPI_Iallgather" : "MPI_Igather", bytes: 8)
                try collective(operation) {
                    if let root {
                        MPI_Igather(mine, 1, cmpi_int64(), all.baseAddress, 1, cmpi_int64(), Int32(root), cmpi_comm_world(), &$0)
                    } else {
                        MPI_Iallgather(mine, 1, cmpi_int64(), all.baseAddress, 1, cmpi_int64(), cmpi_comm_world(), &$0)
                    }
                }
            }
        }

        // MPI reads the counts and displacements until the gather completes: keep them in memory
        // that stays put for that long.
        let call = root == nil ? "MPI_Iallgatherv" : "MPI_Igatherv"
        let receiveCounts = UnsafeMutableBufferPointer<Int32>.allocate(capacity: counts.count)
        let displacements = UnsafeMutableBufferPointer<Int32>.allocate(capacity: counts.count)
        defer { receiveCounts.deallocate(); displacements.deallocate() }
        var total = 0
        for (r, count) in counts.enumerated() {
            receiveCounts[r] = try mpiCount(Int(count), call)
            displacements[r] = try mpiCount(total, call)
            total += Int(count)
        }
        var flat = [T](repeating: 0, count: total)
        let sendCount = try mpiCount(values.count, call)
        try values.withUnsafeBufferPointer { send throws(MPIError) in
            try flat.withUnsafeMutableBufferPointer { all throws(MPIError) in
                let operation = Operation(name: name, call: call, bytes: values.count * MemoryLayout<T>.stride)
                try collective(operation) {
                    if let root {
                        MPI_Igatherv(send.baseAddress, sendCount, T.datatype, all.baseAddress, receiveCounts.baseAddress,
                                     displacements.baseAddress, T.datatype, Int32(root), cmpi_comm_world(), &$0)
                    } else {
                        MPI_Iallgatherv(send.baseAddress, sendCount, T.datatype, all.baseAddress, receiveCounts.baseAddress,
                                        displacements.baseAddress, T.datatype, cmpi_comm_world(), &$0)
                    }
                }
            }
        }
        return (0..<counts.count).map { r in Array(flat[Int(displacements[r])..<Int(displacements[r] + receiveCounts[r])]) }
    }
}
