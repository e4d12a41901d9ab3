// A choice only rank 0 can make (it alone reads the run directory), shared with every rank so all
// decide alike: the answer is broadcast, and a failure on rank 0 fails every rank with its line.
import Comm

extension Communicator {
    /// Runs `decide` on rank 0 and returns its answer on every rank; what it throws is thrown on
    /// every rank as an InputError with the same text.
    public func decidedByRankZero(_ decide: () throws -> String) throws -> String {
        var answer = ""
        if rank == 0 {
            do { answer = try decide() } catch { answer = "error:\(error)" }
        }
        if size > 1 { answer = String(decoding: try broadcast(Array(answer.utf8), root: 0), as: UTF8.self) }
        if answer.hasPrefix("error:") { throw InputError(String(answer.dropFirst("error:".count))) }
        return answer
    }
}
