// `wavemix eval`: top-1, top-5 and loss of a trained model on a data set's test split (sharded over
// ranks under mpirun), and optionally a per-class accuracy file.
import ArgumentParser
import Comm
import Data
import Foundation
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on the test split of a data set.",
        discussion: "Under mpirun every rank evaluates its own slice; every image is counted exactly once.")

    @Option(help: "A checkpoint (RUN_DIR/checkpoints/step-N.wmx, or one made by `wavemix checkpoint import`), a run directory (its selected `best` checkpoint, else the one `latest` names), or a model.safetensors with the run's config.json beside it.")
    var checkpoint: String
    @Option(help: ArgumentHelp("Data set (default: the one the checkpoint was trained on).", valueName: "spec"))
    var data: String?
    @Option(help: "Images per rank per batch.") var batchSize = 256
    @Option(help: "Write class,name,samples,correct,accuracy lines to this CSV file.") var perClass: String?
    @Option(help: "Side of the evaluation images of image-file and packed data sets (default: the checkpoint's).")
    var imageSize: Int?
    @Flag(help: "Stop at the first unreadable or corrupt image instead of substituting the next good one.") var strict = false
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        try withMPI(evaluate)
    }

    private func evaluate(_ comm: Communicator) throws {
        ComputeThreads.configure(runtime.threads ?? ComputeThreads.defaultCount(ranksOnHost: comm.localSize))
        let options = LoadOptions(imageSize: imageSize, badImages: strict ? .stop : .substitute,
                                  warn: { [rank = comm.rank] in Console.err("rank \(rank): \($0)") })
        // Rank 0 decides which checkpoint, so that every rank evaluates the same one even while a
        // run is writing new checkpoints.
        let path = try comm.decidedByRankZero { try CheckpointEvaluation.resolve(checkpoint) }
        let (result, data, _) = try CheckpointEvaluation.run(checkpoint: path, dataSpec: data, batchSize: batchSize,
                                                             loadOptions: options, comm: comm)
        guard comm.rank == 0 else { return }
        print("\(path): \(result.accuracySummary) on \(result.samples) images of \(data.spec.description)")
        if let perClass {
            do { try result.perClassCSV(classNames: data.classNames).write(toFile: perClass, atomically: true, encoding: .utf8) } catch {
                throw InputError("\(perClass): cannot write: \(fileErrorReason(error))")
            }
            print("wrote \(perClass)")
        }
    }
}
