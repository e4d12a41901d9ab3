// The `wavemix` command: a table of contents of its subcommands.
import ArgumentParser
import Checkpoint
import Comm
import Data
import Foundation
import Kernels
import Plot
import Training
import WaveMix

@main
struct WaveMixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wavemix",
        abstract: "Train and evaluate WaveMix image classifiers, from one process to many MPI ranks.",
        discussion: """
            Runs the same binary as a plain process or under mpirun (see scripts/wavemix-mpirun). \
            With no subcommand, `wavemix` trains on Fashion-MNIST.
            """,
        version: wavemixVersion,
        subcommands: [Train.self, Eval.self, Prepare.self, CheckpointCommand.self, PlotCommand.self, Bench.self, DebugStep.self],
        defaultSubcommand: Train.self)

    static func main() {
        // OpenBLAS's kernels are chosen while this process has one thread: the choice sets an
        // environment variable for a moment, which must not race MPI's threads reading theirs.
        _ = KernelSelection.current
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let status = exitStatus(for: error)
            if status == exitDataError {
                Console.err(fullMessage(for: error))
                Foundation.exit(status)
            }
            exit(withError: error)
        }
    }
}

/// EX_DATAERR (sysexits.h): the data, a file or the configuration given cannot work as it is.
let exitDataError: Int32 = 65

/// The exit status for an error, documented in the README: 64 (EX_USAGE) for a bad command line,
/// 65 for input that cannot work (a data set, a checkpoint, a configuration), 1 for a failure at run
/// time. wavemix-mpirun --max-restarts retries none of 2, 64 and 65: they cannot go away.
func exitStatus(for error: Error) -> Int32 {
    // Opening a file someone named is input; a read, a write or a save that fails part-way (an I/O
    // error, a full disk) fails at run time and may go away.
    func io(_ operation: String) -> Int32 { ["open", "stat"].contains(operation) ? exitDataError : 1 }
    switch error {
    case DataError.unwritable, CheckpointError.notWritable, CheckpointError.metadataNotEncodable, SafeTensorsError.notWritable:
        return 1
    case CheckpointError.io(let operation, _, _), SafeTensorsError.io(let operation, _, _): return io(operation)
    case is InputError, is DataError, is StateDictError, is ConfigError, is CheckpointError, is SafeTensorsError, is PlotError:
        return exitDataError
    default: return WaveMixCommand.exitCode(for: error).rawValue
    }
}

let wavemixVersion = libraryVersion

/// Runs `body` between MPI's start and end, the same for every command: a failing rank prints its
/// one line and ends the whole job (the other ranks must not wait for it forever).
func withMPI(_ body: (Communicator) throws -> Void) throws {
    let comm = try Communicator.initialize()
    do {
        try body(comm)
    } catch {
        if comm.size > 1 { comm.abort(code: exitStatus(for: error), message: "\(error)") }
        comm.finalize()
        throw error
    }
    comm.finalize()
}
