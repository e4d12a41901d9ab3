// The thread count changes speed, never results: GEMMs are split into blocks that accumulate in
// the same order as one call, and element-wise reductions combine fixed-size partial sums. A run
// with 2 threads writes bitwise the weights of a run with 1 (so a resume may change --threads).
import Foundation
import TestSupport
import XCTest

final class ThreadCountTests: XCTestCase {
    func testTwoThreadsTrainBitwiseLikeOne() throws {
        let runs = try TrainingRuns(self, train: 256, evalImages: 64)
        let binary = try Programs.wavemix()
        let dir = temporaryDirectory(self, "wavemix-threads")
        // Wide enough that the transposed convolutions and 1x1 layers are split across threads.
        let model = ["--final-dim", "64", "--ff-channel", "64", "--depth", "2", "--dropout", "0.3", "--batch-size", "64",
                     "--hflip", "--crop-padding", "2", "--max-steps", "6", "--log-every", "3"]
        for threads in [1, 2] {
            let result = try Programs.run(binary, ["train", "--data", runs.data, "--threads", "\(threads)",
                                                   "--run-dir", "\(dir)/t\(threads)"] + model, deadline: 240)
            XCTAssertEqual(result.status, 0, result.output)
        }
        let one = "\(dir)/t1/model.safetensors", two = "\(dir)/t2/model.safetensors"
        let difference = try TrainingRuns.relativeDifference(two, one)
        XCTAssertTrue(TrainingRuns.identical(one, two), "weights differ with 1 and 2 threads (relative \(difference))")
    }
}
