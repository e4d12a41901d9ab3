// Barrier: returns once every rank has entered it. Runs as MPI_Ibarrier and waits through
// `complete` (polling, timeout).
import CMPI

extension Communicator {
    public func barrier() throws(MPIError) {
        try collective(Operation(name: "barrier", call: "MPI_Ibarrier", bytes: nil)) {
            MPI_Ibarrier(cmpi_comm_world(), &$0)
        }
    }
}
