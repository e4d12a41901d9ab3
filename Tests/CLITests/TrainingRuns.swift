// Running `wavemix train` for the multi-process tests: one process, or N ranks through
// scripts/wavemix-mpirun, on a small generated IDX data set; and comparing the weights they wrote.
import Checkpoint
import Foundation
import TestSupport
import Training
import XCTest

struct TrainingRuns {
    let data: String
    let test: XCTestCase

    /// A data set of `train` and `test` 16x16 images in a fresh directory.
    init(_ test: XCTestCase, train: Int = 384, evalImages: Int = 1001) throws {
        self.test = test
        let dir = temporaryDirectory(test, "wavemix-data")
        try IDXDataSet.write(to: dir, train: train, test: evalImages)
        data = "idx:\(dir)"
    }

    /// The environment of a run a test interrupts after step N: 3 ms of sleep per step (a test hook
    /// that changes no numbers) keep the run going, and leave the CPUs to the processes that
    /// deliver the signal, so it lands before the last step however fast the machine.
    static let paced = [Trainer.stepPauseEnvironmentVariable: "0.003"]

    /// A small model and recipe: fast, with dropout on.
    static let model = ["--final-dim", "16", "--ff-channel", "16", "--depth", "2", "--dropout", "0.3", "--log-every", "4"]

    /// Runs `wavemix train` on `ranks` ranks (1: a plain process) with one thread each.
    @discardableResult
    func train(ranks: Int, _ arguments: [String], expectSuccess: Bool = true, deadline: Double = 240,
               file: StaticString = #filePath, line: UInt = #line) throws -> ChildResult {
        let binary = try Programs.wavemix()
        let args = ["train", "--data", data] + Self.model + arguments
        let result: ChildResult
        if ranks == 1 {
            result = try Programs.run(binary, args + ["--threads", "1"], deadline: deadline)
        } else {
            _ = try Programs.mpirun()
            result = try Programs.run(Programs.launcher, ["-n", "\(ranks)", "--threads", "1", "--timeout", "\(Int(deadline))", "--",
                                                           binary] + args, deadline: deadline + 30)
        }
        if expectSuccess { XCTAssertEqual(result.status, 0, result.output, file: file, line: line) }
        return result
    }

    /// The largest |a-b| over the parameters of two state dicts (BatchNorm running statistics
    /// left out), relative to the largest |b|.
    static func relativeDifference(_ a: String, _ b: String) throws -> Double {
        let x = try SafeTensorsFile(contentsOf: a), y = try SafeTensorsFile(contentsOf: b)
        XCTAssertEqual(x.names, y.names)
        var diff = 0.0, scale = 0.0
        for name in y.names where y.info(name)?.dtype == .f32 && !name.contains(".running_") {
            for (p, q) in zip(try x.floats(name), try y.floats(name)) {
                diff = max(diff, Double(abs(p - q)))
                scale = max(scale, Double(abs(q)))
            }
        }
        return diff / scale
    }

    static func identical(_ a: String, _ b: String) -> Bool {
        FileManager.default.contentsEqual(atPath: a, andPath: b)
    }
}
