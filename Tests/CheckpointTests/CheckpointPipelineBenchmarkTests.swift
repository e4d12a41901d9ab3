// Where a save's time goes, for the 84M floats of CheckpointBenchmarkTests: encoding the chunks and
// writing them into the temporary file (CPU, and the disk with direct I/O or the page cache
// without) versus the commit (fsync, rename, directory fsync), with the process's CPU time, for
// the default writer and variants; and one thread's encoding speed alone, in memory. Skipped
// unless WAVEMIX_BENCH=1; never asserts on time.
//     WAVEMIX_BENCH=1 swift test -c release --filter CheckpointPipelineBenchmarkTests
import TestSupport
import Foundation
import XCTest
@testable import Checkpoint

final class CheckpointPipelineBenchmarkTests: XCTestCase {
    func testWhereTheSaveTimeGoes() throws {
        let environment = ProcessInfo.processInfo.environment
        guard environment["WAVEMIX_BENCH"] == "1" else { throw XCTSkip("benchmark: set WAVEMIX_BENCH=1 to run") }
        let rounds = environment["WAVEMIX_BENCH_ROUNDS"].flatMap(Int.init) ?? 3
        let floatsPerSection = 28_000_000
        var random = TestRandom(seed: 2024)
        let sections: [[Float]] = [
            random.normals(floatsPerSection, scale: 0.02),
            random.normals(floatsPerSection, scale: 1e-4),
            random.normals(floatsPerSection, scale: 1e-3).map { $0 * $0 },
        ]
        let rawBytes = Double(3 * floatsPerSection * 4)
        let scratch = TemporaryDirectory("checkpoint")
        let path = (environment["WAVEMIX_BENCH_DIR"] ?? scratch.path) + "/pipeline-\(getpid()).wmx"
        defer { unlink(path) }
        let variants: [(String, CheckpointWriter.Options)] = [
            ("default", .init()), ("default, 1 thread", .init(threads: 1)), ("planes at level 1", .init(entropyCodedPlanes: false)),
            ("buffered", .init(directIO: false)),
        ]
        print("bench: direct I/O where the benchmark writes: \((try? TemporaryFile(finalPath: path + ".probe", directIO: true))?.isDirect == true ? "yes" : "no")")
        try sections[0].withUnsafeBytes { params in
            try sections[1].withUnsafeBytes { m in
                try sections[2].withUnsafeBytes { v in
                    measureEncodingAlone(params)
                    for _ in 0..<rounds {
                        for (label, options) in variants {
                            let layout = ChunkLayout(sections: [("params", .f32), ("m", .f32), ("v", .f32)], buffers: [params, m, v], options: options)
                            let coding = ChunkCoding(level: options.level, entropyCodedPlanes: options.entropyCodedPlanes)
                            unlink(path)
                            sync()
                            let file = try TemporaryFile(finalPath: path, directIO: options.directIO)
                            let cpuBefore = cpuSeconds()
                            var start = Date()
                            let encoded = try ChunkEncoder.write(layout.sources, coding: coding, threads: options.threads, to: file, at: 3000,
                                                                 reportedAs: path, afterChunk: { _ in })
                            let encoding = Date().timeIntervalSince(start)
                            start = Date()
                            try file.commit()
                            let commit = Date().timeIntervalSince(start)
                            let cpu = cpuSeconds()
                            let userSeconds = cpu.user - cpuBefore.user, systemSeconds = cpu.system - cpuBefore.system
                            let stored = Double(encoded.reduce(0) { $0 + $1.storedBytes })
                            print(String(format: "bench: pipeline (%@): encode + write %.3f s (%.2f GB/s raw), fsync + rename + dir fsync %.3f s, total %.2f GB/s, ratio %.3f, CPU %.3f s user + %.3f s system, load average %@",
                                         label, encoding, rawBytes / encoding / 1e9, commit, rawBytes / (encoding + commit) / 1e9, rawBytes / stored,
                                         userSeconds, systemSeconds,
                                         (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "?"))
                        }
                    }
                }
            }
        }
    }

    /// One thread encoding 4 MiB chunks of normal weights into memory: no file, no page cache.
    private func measureEncodingAlone(_ values: UnsafeRawBufferPointer) {
        let chunkBytes = 4 << 20
        let chunks = values.count / chunkBytes
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 64)
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes / 4, alignment: 64)
        defer {
            buffer.deallocate()
            frame.deallocate()
        }
        for (label, entropyOnly) in [("entropy-coded planes", true), ("planes at level 1", false)] {
            let compressor = ZstdCompressor(level: 1, entropyOnly: entropyOnly)
            var hashing = 0.0, encoding = 0.0, storedHashing = 0.0
            var sink: UInt64 = 0
            for index in 0..<chunks {
                let source = UnsafeRawBufferPointer(rebasing: values[(index * chunkBytes)..<((index + 1) * chunkBytes)])
                var start = Date()
                sink &+= XXH64.hash(source)
                hashing += Date().timeIntervalSince(start)
                start = Date()
                let encoded = try! ChunkEncoder.encodePlanes(source, compressor: compressor, buffer: buffer, frame: frame)
                encoding += Date().timeIntervalSince(start)
                start = Date()
                sink &+= XXH64.hash(encoded.bytes)
                storedHashing += Date().timeIntervalSince(start)
            }
            let bytes = Double(chunks * chunkBytes)
            let plane = UnsafeRawBufferPointer(rebasing: buffer[0..<(chunkBytes / 4)])
            var probing = Double.infinity
            for _ in 0..<20 {
                let start = Date()
                sink &+= ByteShuffle.looksCompressible(plane) ? 1 : 0
                probing = min(probing, Date().timeIntervalSince(start))
            }
            print(String(format: "bench: one thread: probing one 1 MiB plane takes %.1f us", probing * 1e6))
            let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 4096)
            defer { staging.deallocate() }
            let chunk = UnsafeRawBufferPointer(rebasing: values[0..<chunkBytes])
            var separate = Double.infinity, fused = Double.infinity
            for _ in 0..<20 {
                var start = Date()
                sink &+= XXH64.hash(chunk)
                staging.baseAddress!.copyMemory(from: chunk.baseAddress!, byteCount: chunkBytes)
                separate = min(separate, Date().timeIntervalSince(start))
                start = Date()
                sink &+= XXH64.hash(chunk, copyingTo: staging.baseAddress!)
                fused = min(fused, Date().timeIntervalSince(start))
            }
            print(String(format: "bench: one thread, 4 MiB in cache: XXH64 then memcpy %.1f GB/s, XXH64 while copying %.1f GB/s",
                         Double(chunkBytes) / separate / 1e9, Double(chunkBytes) / fused / 1e9))
            print(String(format: "bench: one thread, %d MB of weights in memory (%@): raw XXH64 %.2f GB/s, split + probe + zstd %.2f GB/s, stored XXH64 %.2f GB/s, all %.2f GB/s (%llu)",
                         Int(bytes / 1e6), label, bytes / hashing / 1e9, bytes / encoding / 1e9, bytes / storedHashing / 1e9,
                         bytes / (hashing + encoding + storedHashing) / 1e9, sink & 1))
        }
    }

    /// User and system CPU time of this process so far.
    private func cpuSeconds() -> (user: Double, system: Double) {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime))
    }
}
