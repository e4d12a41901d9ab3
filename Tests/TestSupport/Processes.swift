// Child processes for the tests that drive whole programs: the wavemix binary, mpirun and the
// scripts. Every child has a deadline (then SIGTERM, then SIGKILL) so nothing can hang a suite.
import Foundation
import XCTest

public struct ChildResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let seconds: Double
    /// When the child had exited.
    public let end: Date
    /// stdout and stderr, for assertion messages.
    public var output: String { stdout + stderr }
}

public enum Programs {
    /// The repository root.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// This XCTest binary (its runner takes a test filter as argument, so tests can run parts of
    /// themselves as child processes, e.g. one per MPI rank).
    public static var testBinary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The directory of this test binary, where SwiftPM also puts the `wavemix` executable.
    public static var buildDirectory: URL { URL(fileURLWithPath: testBinary).deletingLastPathComponent() }

    /// The wavemix executable built with these tests.
    public static func wavemix() throws -> String {
        let path = buildDirectory.appendingPathComponent("wavemix").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("\(path) is not built; run `swift build` with the same configuration first")
        }
        return path
    }

    public static var launcher: String { repositoryRoot.appendingPathComponent("scripts/wavemix-mpirun").path }

    /// mpirun's path, or an XCTSkip saying what is missing.
    public static func mpirun() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw XCTSkip("mpirun is not on PATH (install openmpi-bin); the multi-rank tests need it")
    }

    /// This environment plus Open MPI's permission to run as root (harmless otherwise), without
    /// what an MPI_Init in this test process (a singleton) left in it: a child mpirun that
    /// inherits OMPI_*/PMIX_* variables believes it runs inside that job and fails at once.
    public static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = cleanEnvironment()
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        environment.merge(extra) { $1 }
        return environment
    }

    /// This process's environment without the variables of a singleton MPI job.
    public static func cleanEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "OPAL_", "ORTE_", "PRTE_"].contains(where: key.hasPrefix)
        }
    }

    /// Runs `executable` to completion (or `deadline` seconds: SIGTERM, then SIGKILL 5 s later).
    /// `onStart` receives the child's pid (e.g. to signal it).
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = Programs.environment(),
                           deadline: Double = 300, onStart: ((Int32) -> Void)? = nil) throws -> ChildResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let start = Date()
        try process.run()
        onStart?(process.processIdentifier)
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem {
            guard process.isRunning else { return }
            kill(pid, SIGTERM)
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) { if process.isRunning { kill(pid, SIGKILL) } }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + deadline, execute: watchdog)
        // Read both pipes concurrently so neither fills up and blocks the child.
        final class Collected: @unchecked Sendable { var data = Data() }
        let errData = Collected()
        let group = DispatchGroup()
        let errReader = UnsafeBox(err)
        DispatchQueue.global().async(group: group) { errData.data = errReader.value.fileHandleForReading.readDataToEndOfFile() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        watchdog.cancel()
        return ChildResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                           stderr: String(decoding: errData.data, as: UTF8.self), seconds: Date().timeIntervalSince(start), end: Date())
    }
}

/// Hands a non-Sendable value to another thread that alone uses it.
public final class UnsafeBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

extension Programs {
    /// Processes whose program is named `name` and whose arguments include `argument`, by pid.
    public static func processes(named name: String, withArgument argument: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return args.first.map { URL(fileURLWithPath: $0).lastPathComponent == name } == true && args.contains(argument)
        }.sorted()
    }
}
