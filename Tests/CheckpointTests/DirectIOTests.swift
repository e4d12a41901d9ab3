// Tests of the write path around the page cache: StoredChunkStream's head, aligned blocks and tail
// land exactly where buffered writes would put them, checkpoints written with and without direct
// I/O are the same bytes, a refused direct write falls back to buffered writes, and file systems
// other than ext4 and xfs get buffered writes from the start. Where the scratch directory is not on
// ext4 or xfs everything here runs buffered, and the tests still check the bytes.
import TestSupport
import Foundation
import XCTest
@testable import Checkpoint

final class DirectIOTests: XCTestCase {
    /// Whether `directory` is on a file system that TemporaryFile opens for direct I/O.
    private func directIOAvailable(in directory: String) throws -> Bool {
        let file = try TemporaryFile(finalPath: directory + "/probe", directIO: true)
        return file.isDirect
    }

    func testStreamPutsEveryByteWhereItBelongs() throws {
        let scratch = TemporaryDirectory("checkpoint")
        var random = TestRandom(seed: 8)
        // Pieces smaller than a block, exactly a block, spanning several, and a start inside a
        // block, on a block boundary, and a byte before one.
        let pieceSizes = [10, 5000, 3, 8192, 4095, 1, 4096, 70_000, 2]
        for start in [100, 4096, 8191, 0] {
            let path = scratch.file("stream-\(start).bin")
            let file = try TemporaryFile(finalPath: path, directIO: true)
            let direct = file.isDirect
            let stream = StoredChunkStream(file: file, start: start, largestChunk: pieceSizes.max()!)
            var expected = [UInt8](repeating: 0, count: start)
            for size in pieceSizes {
                let piece = random.bytes(size)
                expected += piece
                let hash = try piece.withRawBytes { (bytes) throws(SystemCallError) in try stream.append(bytes) }
                XCTAssertEqual(hash, piece.withUnsafeBytes { XXH64.hash($0) }, "the checksum of what was appended")
            }
            XCTAssertEqual(try stream.finish(), expected.count)
            XCTAssertEqual(file.isDirect, direct, "aligned writes are never refused")
            try file.commit()
            XCTAssertEqual(readBytes(path), expected, "start \(start)")
        }
    }

    func testDirectAndBufferedCheckpointsAreTheSameBytes() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let contents = CheckpointContents.sample(paramCount: 70_001)
        for chunkBytes in [64, 1000, 4096, 5000, 16 << 10, 1 << 20] {
            var paths: [String] = []
            for directIO in [true, false] {
                let path = scratch.file("chunks-\(chunkBytes)-\(directIO).wmx")
                try contents.writer(options: .init(chunkBytes: chunkBytes, directIO: directIO)).write(to: path)
                XCTAssertEqual(try CheckpointContents.load(path), contents, "chunks of \(chunkBytes), direct I/O \(directIO)")
                paths.append(path)
            }
            XCTAssertEqual(readBytes(paths[0]), readBytes(paths[1]), "chunks of \(chunkBytes)")
        }
    }

    /// A direct write the kernel refuses (here: from a misaligned address, EINVAL on ext4 and xfs)
    /// gives up direct I/O for the rest of the file, which is written buffered and complete.
    func testRefusedDirectWriteFallsBackToBufferedWrites() throws {
        let scratch = TemporaryDirectory("checkpoint")
        guard try directIOAvailable(in: scratch.path) else { throw XCTSkip("no direct I/O on this file system") }
        let path = scratch.file("fallback.bin")
        let file = try TemporaryFile(finalPath: path, directIO: true)
        XCTAssertTrue(file.isDirect)
        var random = TestRandom(seed: 4)
        let bytes = random.bytes(3 * 4096 + 1)
        try bytes.withRawBytes { (raw) throws(SystemCallError) in
            try file.writeDirect(UnsafeRawBufferPointer(rebasing: raw[1...]), at: 4096)
        }
        XCTAssertFalse(file.isDirect)
        try file.commit()
        XCTAssertEqual(readBytes(path), [UInt8](repeating: 0, count: 4096) + bytes[1...])
    }

    func testOtherFileSystemsGetBufferedWrites() throws {
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        guard mounts.split(separator: "\n").contains(where: { $0.split(separator: " ").dropFirst().prefix(2) == ["/dev/shm", "tmpfs"] }) else {
            throw XCTSkip("no tmpfs at /dev/shm")
        }
        let directory = "/dev/shm/checkpoint-direct-io-test-\(getpid())"
        XCTAssertEqual(mkdir(directory, 0o700), 0)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        XCTAssertFalse(try directIOAvailable(in: directory))
        let contents = CheckpointContents.sample(paramCount: 20_000)
        try contents.writer(options: .init(chunkBytes: 5000)).write(to: directory + "/tmpfs.wmx")
        XCTAssertEqual(try CheckpointContents.load(directory + "/tmpfs.wmx"), contents)
    }
}
