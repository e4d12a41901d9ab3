// The Swift element types Comm moves and their MPI datatypes, plus MPI's 32-bit element count.
import CMPI

/// A Swift number type with an MPI datatype that MPI_SUM, MPI_MAX and MPI_MIN accept.
protocol MPIElement {
    static var datatype: MPI_Datatype { get }
}

extension Float: MPIElement { static var datatype: MPI_Datatype { cmpi_float() } }
extension Double: MPIElement { static var datatype: MPI_Datatype { cmpi_double() } }
extension Int64: MPIElement { static var datatype: MPI_Datatype { cmpi_int64() } }

extension Communicator {
    /// `count` as MPI's Int32 element count; larger buffers are refused (split them).
    func mpiCount(_ count: Int, _ call: String) throws(MPIError) -> Int32 {
        guard count <= Int(Int32.max) else {
            throw MPIError(call: call, code: MPI_ERR_COUNT,
                           message: "\(count) elements exceed MPI's count limit of \(Int32.max); split the buffer", rank: rank)
        }
        return Int32(count)
    }
}
