// The `wavemix` command: a table of contents of its subcommands.
import ArgumentParser
import Foundation
import Training

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
        subcommands: [Train.self, Eval.self, Prepare.self, CheckpointCommand.self, Bench.self, DebugStep.self],
        defaultSubcommand: Train.self)

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

let wavemixVersion = libraryVersion
