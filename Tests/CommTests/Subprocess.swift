// Running child processes for the launcher tests: mpirun on this very test binary (the worker
// tests), the launcher script, or the binary alone (singleton MPI). Output is stdout and stderr
// together; every child has a deadline so nothing can hang the suite.
import Foundation
import XCTest

struct ChildResult {
    let status: Int32
    let output: String
    let seconds: Double
    /// When the child had exited.
    let end: Date
}

enum Subprocess {
    /// This XCTest binary (the runner takes a test filter as its argument).
    static var testBinary: String { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0] }

    /// The repository root (the scripts/ folder lives there).
    static var repositoryRoot: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    static var launcher: String { repositoryRoot.appendingPathComponent("scripts/wavemix-mpirun").path }

    /// mpirun's path, or an XCTSkip that says what is missing.
    static func mpirun() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw XCTSkip("mpirun is not on PATH (install openmpi-bin); the multi-rank tests need it")
    }

    /// The environment of worker children: this one, plus the worker switch and Open MPI's
    /// permission to run as root (harmless otherwise).
    static func workerEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        // Without what an MPI_Init elsewhere in this test process (a singleton) left behind: a
        // child mpirun inheriting OMPI_*/PMIX_* variables believes it runs inside that job.
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "OPAL_", "ORTE_", "PRTE_"].contains(where: key.hasPrefix)
        }
        environment["WAVEMIX_MPI_WORKER"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        environment.merge(extra) { $1 }
        return environment
    }

    /// Runs `executable` and waits; after `deadline` seconds the child gets SIGTERM (mpirun then
    /// ends its ranks), which the test sees in `status`.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String], deadline: Double = 120) throws -> ChildResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let start = Date()
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + deadline, execute: watchdog)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        let end = Date()
        return ChildResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self),
                           seconds: end.timeIntervalSince(start), end: end)
    }
}

extension String {
    func occurrences(of needle: String) -> Int { components(separatedBy: needle).count - 1 }
}
