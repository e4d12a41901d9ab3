// Save and load throughput for a model the size of ImageNet WaveMix-192/16 with AdamW state:
// 3 x 28M floats (weights ~ N(0, 0.02^2), first moments ~ N(0, 1e-4^2), second moments squares of
// N(0, 1e-3^2)), i.e. 84M floats, 336 MB of raw state. Skipped unless WAVEMIX_BENCH=1; prints GB/s
// of raw state and never asserts on time. Run with:
//     WAVEMIX_BENCH=1 swift test -c release --filter CheckpointBenchmarkTests
import Foundation
import XCTest
@testable import Checkpoint

final class CheckpointBenchmarkTests: XCTestCase {
    private let floatsPerSection = 28_000_000

    func testSaveAndLoadThroughput() throws {
        guard ProcessInfo.processInfo.environment["WAVEMIX_BENCH"] == "1" else {
            throw XCTSkip("benchmark: set WAVEMIX_BENCH=1 to run")
        }
        var random = TestRandom(seed: 2024)
        let sections: [(String, [Float])] = [
            ("params", random.normals(floatsPerSection, scale: 0.02)),
            ("adamw.m", random.normals(floatsPerSection, scale: 1e-4)),
            ("adamw.v", random.normals(floatsPerSection, scale: 1e-3).map { $0 * $0 }),
        ]
        let rawBytes = Double(3 * floatsPerSection * 4)
        let scratch = ScratchDirectory()
        let directory = CheckpointDirectory(runDirectory: scratch.path)
        let threads = ProcessInfo.processInfo.activeProcessorCount
        print("checkpoint bench: 84M floats, \(Int(rawBytes) / 1_000_000) MB raw, \(threads) threads")

        let configurations: [(String, CheckpointWriter.Options)] = [
            ("level 1, byte shuffle", .init()),
            ("level 1, no shuffle", .init(byteShuffle: false)),
            ("level 3, byte shuffle", .init(level: 3)),
            ("level 1, byte shuffle, 1 thread", .init(threads: 1)),
        ]
        var step = 0
        for (label, options) in configurations {
            var writer = CheckpointWriter(metadata: TrainState(), options: options)
            for (name, values) in sections { writer.add(name, floats: values) }
            for _ in 0..<3 {
                step += 1
                let start = Date()
                let path = try directory.save(writer, step: step, keep: 1)
                let seconds = Date().timeIntervalSince(start)
                let ratio = try CheckpointReader(contentsOf: path).inspect(verifyChecksums: false).compressionRatio
                print(String(format: "  save (%@, incl. fsync + rename): %.2f GB/s (%.3f s), ratio %.3f", label, rawBytes / seconds / 1e9, seconds, ratio))
            }
            try measureLoad(directory.checkpointsDirectory + "/" + CheckpointDirectory.fileName(step: step), label: label,
                            threads: options.threads, rawBytes: rawBytes, expected: sections)
        }
    }

    private func measureLoad(_ path: String, label: String, threads: Int, rawBytes: Double, expected: [(String, [Float])]) throws {
        var destinations = expected.map { [Float](repeating: 0, count: $0.1.count) }  // touched once, like a model's buffers
        for _ in 0..<3 {
            let start = Date()
            let reader = try CheckpointReader(contentsOf: path, threads: threads)
            for index in destinations.indices {
                try destinations[index].withUnsafeMutableBufferPointer { (buffer) throws(CheckpointError) in
                    try reader.readFloats(expected[index].0, into: buffer)
                }
            }
            let seconds = Date().timeIntervalSince(start)
            print(String(format: "  load (%@, into existing buffers): %.2f GB/s (%.3f s)", label, rawBytes / seconds / 1e9, seconds))
        }
        XCTAssertEqual(destinations, expected.map(\.1))

        var start = Date()
        let reader = try CheckpointReader(contentsOf: path, threads: threads)
        let arrays = try expected.map { try reader.floats($0.0) }
        var seconds = Date().timeIntervalSince(start)
        print(String(format: "  load (%@, into new arrays): %.2f GB/s (%.3f s)", label, rawBytes / seconds / 1e9, seconds))
        XCTAssertEqual(arrays.count, 3)

        start = Date()
        try reader.verify()
        seconds = Date().timeIntervalSince(start)
        print(String(format: "  verify stored checksums (%@): %.2f GB/s of raw state (%.3f s)", label, rawBytes / seconds / 1e9, seconds))
    }
}
