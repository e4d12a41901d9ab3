// The training loop in one process on the real Fashion-MNIST: it learns, writes its run directory,
// and refuses to overwrite an existing run.
import TestSupport
import Comm
import Data
import Foundation
import Training
import WaveMix
import XCTest

final class TrainerTests: XCTestCase {
    func fashionMNIST() throws -> DataSet {
        do { return try DataSpec(parsing: "fashion-mnist").load() } catch {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): \(error)")
        }
    }

    func testShortSeededRunLearnsAndWritesItsRunDirectory() throws {
        let data = try fashionMNIST()
        let comm = try Communicator.initialize()
        ComputeThreads.configure(ComputeThreads.defaultCount())
        var config = WaveMixConfig.presets["lite-64-4"]!
        config.finalDim = 32; config.ffChannel = 32; config.depth = 2; config.dropout = 0
        var options = TrainingOptions(model: config, data: "fashion-mnist", batchSize: 64, epochs: 1,
                                      optimizer: TrainingOptions.officialOptimizer, learningRate: 1e-3,
                                      runDirectory: try RunDirectory.prepare(temporaryDirectory(self, "trainer") + "/run", dataName: "fashion-mnist", comm: comm))
        options.maxSteps = 150
        options.logEvery = 50
        options.evalBatchSize = 256
        let summary = try Trainer(options: options, comm: comm, data: data).run()
        XCTAssertEqual(summary.steps, 150)
        let eval = try XCTUnwrap(summary.finalEvaluation)
        XCTAssertEqual(eval.samples, 10_000)
        // Chance is 10%; 150 steps of 64 images reach ~60% (seed 0).
        XCTAssertGreaterThan(eval.top1, 0.5, "top-1 after 150 steps: \(eval.top1)")
        let metrics = try String(contentsOfFile: options.runDirectory + "/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(metrics.compactMap { $0["loss"] as? Double }.count, 3)
        XCTAssertEqual(metrics.last?["eval_samples"] as? Int, 10_000)
        XCTAssertTrue(FileManager.default.fileExists(atPath: options.runDirectory + "/model.safetensors"))
        // A finished run's directory is not reused.
        XCTAssertThrowsError(try RunDirectory.prepare(options.runDirectory, dataName: "x", comm: comm)) {
            XCTAssertTrue("\($0)".contains("already holds a run"), "\($0)")
        }
    }
}
