// Request: a nonblocking collective in flight (from `iallreduceSum`). Open MPI has no asynchronous
// progress, so the owner calls `test()` between pieces of compute (e.g. after each layer's
// backward) to move it along, then `wait()`. The caller keeps the send and receive buffers alive
// and untouched until `test()` returns true or `wait()` returns.
import CMPI

public final class Request {
    private let communicator: Communicator
    private let operation: Operation
    private var handle: MPI_Request?
    private var isComplete = false

    init(communicator: Communicator, operation: Operation, handle: MPI_Request?) {
        self.communicator = communicator
        self.operation = operation
        self.handle = handle
    }

    /// Advances the operation (one MPI_Test) and says whether it has completed.
    public func test() throws(MPIError) -> Bool {
        if !isComplete { isComplete = try communicator.test(&handle, operation) }
        return isComplete
    }

    /// Waits until the operation completes, polling as the blocking collectives do; past the
    /// communicator's `timeout` (counted from this call) it aborts the job with a diagnostic.
    public func wait() throws(MPIError) {
        if isComplete { return }
        try communicator.complete(&handle, operation)
        isComplete = true
    }

    /// A request dropped unfinished is waited for, because MPI may still write into its buffers.
    deinit {
        if !isComplete && !communicator.isFinalized { try? wait() }
    }
}
