// The thread count changes speed, never results: GEMMs are split into blocks that accumulate in
// the same order as one call, and element-wise reductions combine fixed-size partial sums. A run
// with 2 threads writes bitwise the weights of a run with 1 (so a resume may change --threads), on
// the OpenBLAS kernels the program chooses and on every other kernel set a user may choose.
import Foundation
import Kernels
import TestSupport
import XCTest

final class ThreadCountTests: XCTestCase {
    /// Trains the same 6 steps with 1 and 2 threads; returns the log of the first run.
    @discardableResult
    func assertTwoThreadsTrainLikeOne(environment extra: [String: String] = [:], _ label: String) throws -> String {
        let runs = try TrainingRuns(self, train: 256, evalImages: 64)
        let binary = try Programs.wavemix()
        let dir = temporaryDirectory(self, "wavemix-threads")
        // Wide enough that the transposed convolutions and 1x1 layers are split across threads.
        let model = ["--final-dim", "64", "--ff-channel", "64", "--depth", "2", "--dropout", "0.3", "--batch-size", "64",
                     "--hflip", "--crop-padding", "2", "--max-steps", "6", "--log-every", "3"]
        var log = ""
        for threads in [1, 2] {
            let result = try Programs.run(binary, ["train", "--data", runs.data, "--threads", "\(threads)",
                                                   "--run-dir", "\(dir)/t\(threads)"] + model,
                                          environment: Programs.environment(extra), deadline: 240)
            XCTAssertEqual(result.status, 0, result.output)
            if threads == 1 { log = result.output }
        }
        let one = "\(dir)/t1/model.safetensors", two = "\(dir)/t2/model.safetensors"
        let difference = try TrainingRuns.relativeDifference(two, one)
        XCTAssertTrue(TrainingRuns.identical(one, two), "\(label): weights differ with 1 and 2 threads (relative \(difference))")
        return log
    }

    func testTwoThreadsTrainBitwiseLikeOne() throws {
        let log = try assertTwoThreadsTrainLikeOne("the chosen kernels")
        XCTAssertTrue(log.hasPrefix("kernels: CPU "), log)
    }

    func testTwoThreadsTrainBitwiseLikeOneOnEveryKernelSet() throws {
        for core in KernelSelection.blasCoresRunnable() {
            let log = try assertTwoThreadsTrainLikeOne(environment: ["OPENBLAS_CORETYPE": core], core)
            XCTAssertTrue(log.lowercased().contains("openblas \(core.lowercased()) kernels (openblas_coretype="), log)
        }
    }
}
