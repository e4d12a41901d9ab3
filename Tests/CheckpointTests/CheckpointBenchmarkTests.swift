// Save and load throughput for a model the size of ImageNet WaveMix-192/16 with AdamW state:
// 3 x 28M floats (weights ~ N(0, 0.02^2), first moments ~ N(0, 1e-4^2), second moments squares of
// N(0, 1e-3^2)), i.e. 84M floats, 336 MB of raw state. Skipped unless WAVEMIX_BENCH=1; prints GB/s
// of raw state and never asserts on time. Run with:
//     WAVEMIX_BENCH=1 swift test -c release --filter CheckpointBenchmarkTests
// WAVEMIX_BENCH_ROUNDS=<n> (default 3) sets the repetitions; WAVEMIX_BENCH_ALL=1 also measures the
// other writer configurations. Every line starts with "bench:" so scripts can collect them; the
// stall line is the time of CheckpointWriter.write alone, which the trainer calls synchronously on
// rank 0, and the save line adds CheckpointDirectory's pointer update and rotation. Each timed save
// starts after sync(), as a trainer's would, minutes after the previous one.
import TestSupport
import Foundation
import XCTest
@testable import Checkpoint

final class CheckpointBenchmarkTests: XCTestCase {
    private let floatsPerSection = 28_000_000
    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    func testSaveAndLoadThroughput() throws {
        guard environment["WAVEMIX_BENCH"] == "1" else { throw XCTSkip("benchmark: set WAVEMIX_BENCH=1 to run") }
        let rounds = environment["WAVEMIX_BENCH_ROUNDS"].flatMap(Int.init) ?? 3
        var random = TestRandom(seed: 2024)
        let sections: [(String, [Float])] = [
            ("params", random.normals(floatsPerSection, scale: 0.02)),
            ("adamw.m", random.normals(floatsPerSection, scale: 1e-4)),
            ("adamw.v", random.normals(floatsPerSection, scale: 1e-3).map { $0 * $0 }),
        ]
        let rawBytes = Double(3 * floatsPerSection * 4)
        let threads = ProcessInfo.processInfo.activeProcessorCount
        print("bench: 84M floats, \(Int(rawBytes) / 1_000_000) MB raw, \(threads) threads, load average \(loadAverage())")
        measureBuildingBlocks(sections[0].1)

        var configurations: [(String, CheckpointWriter.Options)] = [("default", .init())]
        if environment["WAVEMIX_BENCH_ALL"] == "1" {
            configurations += [
                ("level 1, no shuffle", .init(byteShuffle: false)),
                ("level 3", .init(level: 3)),
                ("default, 1 thread", .init(threads: 1)),
            ]
        }
        // Under the scratch directory by default; WAVEMIX_BENCH_DIR puts the run elsewhere (another disk).
        let scratch = TemporaryDirectory("checkpoint")
        let runDirectory = environment["WAVEMIX_BENCH_DIR"].map { $0 + "/checkpoint-bench-\(getpid())" } ?? scratch.path
        defer { if runDirectory != scratch.path { try? FileManager.default.removeItem(atPath: runDirectory) } }
        let directory = CheckpointDirectory(runDirectory: runDirectory)
        var step = 0
        for (label, options) in configurations {
            var writer = CheckpointWriter(metadata: TrainState(), options: options)
            for (name, values) in sections { writer.add(name, floats: values) }
            for round in 0..<rounds {
                // A trainer saves every few minutes, long after the previous save's writeback and
                // the journal commits of its deletions are over; back-to-back saves would each pay
                // for the last one's (the disk is mounted with online discard). So settle first.
                sync()
                step += 1
                let stallPath = runDirectory + "/stall-\(round).wmx"
                var start = Date()
                try writer.write(to: stallPath)
                let stall = Date().timeIntervalSince(start)
                print(String(format: "bench: stall (%@, CheckpointWriter.write, fsync + rename): %.2f GB/s (%.3f s), load average %@",
                             label, rawBytes / stall / 1e9, stall, loadAverage()))
                unlink(stallPath)
                sync()
                step += 1
                start = Date()
                let path = try directory.save(writer, step: step, keep: 1)
                let seconds = Date().timeIntervalSince(start)
                let ratio = try CheckpointReader(contentsOf: path).inspect(verifyChecksums: false).compressionRatio
                print(String(format: "bench: save (%@, CheckpointDirectory.save, fsync + rename + pointer + rotation): %.2f GB/s (%.3f s), ratio %.3f",
                             label, rawBytes / seconds / 1e9, seconds, ratio))
            }
            try measureLoad(directory.checkpointsDirectory + "/" + CheckpointDirectory.fileName(step: step), label: label,
                            threads: options.threads, rawBytes: rawBytes, expected: sections, rounds: rounds)
        }
    }

    /// Single-thread speed of the per-byte work on one 4 MiB chunk: checksums and byte shuffle.
    private func measureBuildingBlocks(_ values: [Float]) {
        let chunk = 1 << 20
        let planes = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 * chunk, alignment: 64)
        let merged = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 * chunk, alignment: 64)
        defer {
            planes.deallocate()
            merged.deallocate()
        }
        values.withUnsafeBytes { all in
            let source = UnsafeRawBufferPointer(rebasing: all[0..<(4 * chunk)])
            func rate(_ body: () -> Void) -> Double {
                var best = Double.infinity
                for _ in 0..<20 {
                    let start = Date()
                    body()
                    best = min(best, Date().timeIntervalSince(start))
                }
                return Double(4 * chunk) / best / 1e9
            }
            var sink: UInt64 = 0
            let hash = rate { sink &+= XXH64.hash(source) }
            let split = rate { ByteShuffle.split(source.baseAddress!, into: planes.baseAddress!, count: chunk) }
            let merge = rate { ByteShuffle.merge(UnsafeRawPointer(planes.baseAddress!), into: merged.baseAddress!, count: chunk) }
            print(String(format: "bench: one core, 4 MiB in cache: XXH64 %.1f GB/s, byte split %.1f GB/s, byte merge %.1f GB/s (%llu)", hash, split, merge, sink & 1))
        }
    }

    private func measureLoad(_ path: String, label: String, threads: Int, rawBytes: Double, expected: [(String, [Float])], rounds: Int) throws {
        var destinations = expected.map { [Float](repeating: 0, count: $0.1.count) }  // touched once, like a model's buffers
        for round in 0..<(rounds + 1) {
            // The first load reads from the disk, as a resume in a new process usually does (the
            // file's clean pages are dropped from the page cache); the others from the page cache.
            let cold = round == 0
            if cold { dropFromPageCache(path) }
            let start = Date()
            let reader = try CheckpointReader(contentsOf: path, threads: threads)
            for index in destinations.indices {
                try destinations[index].withUnsafeMutableBufferPointer { (buffer) throws(CheckpointError) in
                    try reader.readFloats(expected[index].0, into: buffer)
                }
            }
            let seconds = Date().timeIntervalSince(start)
            print(String(format: "bench: load (%@, into existing buffers, %@): %.2f GB/s (%.3f s), load average %@",
                         label, cold ? "from disk" : "from page cache", rawBytes / seconds / 1e9, seconds, loadAverage()))
        }
        XCTAssertEqual(destinations, expected.map(\.1))

        var start = Date()
        let reader = try CheckpointReader(contentsOf: path, threads: threads)
        let arrays = try expected.map { try reader.floats($0.0) }
        var seconds = Date().timeIntervalSince(start)
        print(String(format: "bench: load (%@, into new arrays): %.2f GB/s (%.3f s)", label, rawBytes / seconds / 1e9, seconds))
        XCTAssertEqual(arrays.count, 3)

        start = Date()
        try reader.verify()
        seconds = Date().timeIntervalSince(start)
        print(String(format: "bench: verify stored checksums (%@): %.2f GB/s of raw state (%.3f s)", label, rawBytes / seconds / 1e9, seconds))
    }

    /// Asks the kernel to forget the cached pages of `path` (all clean after the save's fsync).
    private func dropFromPageCache(_ path: String) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return }
        _ = posix_fadvise(descriptor, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(descriptor)
    }

    /// The 1-minute load average, as /proc/loadavg shows it ("?" where there is none).
    private func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
        return text.split(separator: " ").first.map(String.init) ?? "?"
    }
}
