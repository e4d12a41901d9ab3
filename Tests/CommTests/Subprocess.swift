// What the launcher tests add to TestSupport's child processes: the switch that lets the worker
// tests run (they skip in the ordinary `swift test` process, which never initialises MPI).
import TestSupport

extension Programs {
    static func workerEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        environment(["WAVEMIX_MPI_WORKER": "1"].merging(extra) { $1 })
    }
}

extension String {
    func occurrences(of needle: String) -> Int { components(separatedBy: needle).count - 1 }
}
