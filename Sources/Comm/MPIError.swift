// MPIError: the one error type of Comm. It names the MPI call that failed, carries MPI's own error
// string (MPI_Error_string) and the world rank that saw it, and prints as one line.
import CMPI

public struct MPIError: Error, CustomStringConvertible, Equatable {
    /// The MPI function that failed, e.g. "MPI_Iallreduce" or "MPI_Test (allreduce)".
    public let call: String
    /// The MPI error code (an MPI_ERR_* class or an implementation code).
    public let code: Int32
    /// MPI's description of `code`, or Comm's own reason for errors it detects before calling MPI.
    public let message: String
    /// World rank of the process that saw the error; -1 before MPI knows the rank.
    public let rank: Int

    public var description: String { "rank \(rank): \(call) failed: \(message)" }

    /// An error reported by MPI: the message is MPI_Error_string(code).
    init(call: String, code: Int32, rank: Int) {
        self.init(call: call, code: code, message: MPIError.errorString(code), rank: rank)
    }

    init(call: String, code: Int32, message: String, rank: Int) {
        self.call = call
        self.code = code
        self.message = message
        self.rank = rank
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else { return "MPI error code \(code)" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Throws an MPIError naming `call` unless `code` is MPI_SUCCESS.
@inline(__always)
func check(_ code: Int32, _ call: @autoclosure () -> String, rank: Int) throws(MPIError) {
    if code != MPI_SUCCESS { throw MPIError(call: call(), code: code, rank: rank) }
}
