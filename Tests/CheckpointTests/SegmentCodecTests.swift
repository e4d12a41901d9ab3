// Tests of codec "segments": which byte planes (or whole chunks) are stored raw and which as zstd
// frames, that every mix round-trips, that damage to raw segments is caught like damage to frames,
// that forged segment tables are refused before decoding (or fail to decode, never crash), and
// that many tiny chunks on many threads give the same file as one thread.
import TestSupport
import Foundation
import XCTest
@testable import Checkpoint

final class SegmentCodecTests: XCTestCase {
    /// Sections chosen so that every segment kind appears.
    private struct Mix {
        var normal: [Float] = []      // sign/exponent plane compresses, mantissa planes do not
        var noise: [Float] = []       // random bit patterns: no plane compresses
        var constant: [Float] = []    // every plane is one byte repeated
        var halves: [Float] = []      // bfloat16-like: the two low planes are zero
        var randomBytes: [UInt8] = [] // one raw segment per chunk, read straight into the destination
        var zeroBytes: [UInt8] = []   // one zstd segment per chunk
        var counters: [Int64] = []

        static func sample(floats: Int = 12_000, bytes: Int = 40_000) -> Mix {
            var random = TestRandom(seed: 21)
            let normal = random.normals(floats, scale: 0.02)
            return Mix(normal: normal,
                       noise: (0..<floats).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next())) },
                       constant: Array(repeating: 1.5, count: floats),
                       halves: normal.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) },
                       randomBytes: random.bytes(bytes), zeroBytes: Array(repeating: 0, count: bytes),
                       counters: [1, 2, 3, Int64.min])
        }

        func writer(options: CheckpointWriter.Options) -> CheckpointWriter {
            var writer = CheckpointWriter(options: options)
            writer.add("normal", floats: normal)
            writer.add("noise", floats: noise)
            writer.add("constant", floats: constant)
            writer.add("halves", floats: halves)
            writer.add("randomBytes", bytes: randomBytes)
            writer.add("zeroBytes", bytes: zeroBytes)
            writer.add("counters", int64s: counters)
            return writer
        }

        /// Reads every section back; the floats compared by bit pattern (noise holds NaNs).
        static func load(_ path: String, threads: Int = 2) throws(CheckpointError) -> Mix {
            let reader = try CheckpointReader(contentsOf: path, threads: threads)
            return Mix(normal: try reader.floats("normal"), noise: try reader.floats("noise"), constant: try reader.floats("constant"),
                       halves: try reader.floats("halves"), randomBytes: try reader.bytes("randomBytes"),
                       zeroBytes: try reader.bytes("zeroBytes"), counters: try reader.int64s("counters"))
        }

        var bitPatterns: [[UInt32]] {
            [normal, noise, constant, halves].map { $0.map(\.bitPattern) } + [randomBytes.map(UInt32.init), zeroBytes.map(UInt32.init)]
                + [counters.map { UInt32(truncatingIfNeeded: $0) }, counters.map { UInt32(truncatingIfNeeded: $0 >> 32) }]
        }
    }

    private let smallChunks = CheckpointWriter.Options(chunkBytes: 16 << 10)

    private func codecs(_ chunk: CheckpointChunk) -> [CheckpointSegment.Codec] { chunk.segments?.map(\.codec) ?? [] }

    private func loadError(_ path: String) -> CheckpointError? {
        thrownError { () throws(CheckpointError) in try Mix.load(path) }
    }

    func testEachPlaneIsStoredRawOrCompressedAndEveryMixRoundTrips() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let mix = Mix.sample()
        let path = scratch.file("mix.wmx")
        try mix.writer(options: smallChunks).write(to: path)
        for threads in [1, 3] {
            XCTAssertEqual(try Mix.load(path, threads: threads).bitPatterns, mix.bitPatterns, "\(threads) threads")
        }

        let reader = try CheckpointReader(contentsOf: path)
        XCTAssertEqual(Set(reader.sections.map(\.codec)), ["segments"])
        func section(_ name: String) throws -> CheckpointSection { try XCTUnwrap(reader.section(name)) }
        let expected: [(String, [CheckpointSegment.Codec])] = [
            ("normal", [.raw, .raw, .raw, .zstd]), ("noise", [.raw, .raw, .raw, .raw]), ("constant", [.zstd, .zstd, .zstd, .zstd]),
            ("halves", [.zstd, .zstd, .raw, .zstd]), ("randomBytes", [.raw]), ("zeroBytes", [.zstd]),
        ]
        for (name, planes) in expected {
            let chunks = try section(name).chunks
            XCTAssertGreaterThan(chunks.count, 1, name)
            for (index, chunk) in chunks.enumerated() {
                XCTAssertEqual(codecs(chunk), planes, "\(name) chunk \(index)")
            }
        }
        let noise = try section("noise")
        XCTAssertEqual(noise.storedBytes, noise.rawBytes, "raw planes take exactly their raw size")
        XCTAssertTrue(try section("randomBytes").chunks.allSatisfy { $0.storedXXH64 == $0.rawXXH64 && $0.storedBytes == $0.rawBytes },
                      "a chunk stored as it is has one checksum for both")
        XCTAssertGreaterThan(try section("normal").compressionRatio, 1.15)
        XCTAssertGreaterThan(try section("constant").compressionRatio, 50)
        XCTAssertNoThrow(try reader.verify())
    }

    func testEveryOptionWritesSegments() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let mix = Mix.sample(floats: 1001, bytes: 1003)
        let variants: [CheckpointWriter.Options] = [
            .init(entropyCodedPlanes: false), .init(level: 3, entropyCodedPlanes: false), .init(level: -5), .init(byteShuffle: false),
            .init(chunkBytes: 4), .init(chunkBytes: 7, threads: 5),
        ]
        for (index, options) in variants.enumerated() {
            let path = scratch.file("variant-\(index).wmx")
            try mix.writer(options: options).write(to: path)
            XCTAssertEqual(try Mix.load(path, threads: 1 + index % 3).bitPatterns, mix.bitPatterns, "variant \(index)")
            let reader = try CheckpointReader(contentsOf: path)
            for section in reader.sections {
                let planes = section.byteShuffle ? 4 : 1
                XCTAssertTrue(section.chunks.allSatisfy { $0.segments?.count == planes }, "variant \(index) section \(section.name)")
            }
        }
    }

    /// Thousands of chunks claimed, parked and written by eight threads: the file is byte for byte
    /// the one a single thread writes.
    func testManyTinyChunksOnManyThreadsGiveTheSameFileAsOneThread() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let mix = Mix.sample(floats: 5000)
        try mix.writer(options: .init(chunkBytes: 64, threads: 1)).write(to: scratch.file("one.wmx"))
        try mix.writer(options: .init(chunkBytes: 64, threads: 8)).write(to: scratch.file("eight.wmx"))
        XCTAssertEqual(readBytes(scratch.file("eight.wmx")), readBytes(scratch.file("one.wmx")))
        XCTAssertGreaterThan(try CheckpointReader(contentsOf: scratch.file("eight.wmx")).sections.map(\.chunks.count).reduce(0, +), 2000)
        XCTAssertEqual(try Mix.load(scratch.file("eight.wmx"), threads: 8).bitPatterns, mix.bitPatterns)
    }

    /// Damage inside raw segments (a plane stored as it is, or a whole chunk read straight into the
    /// caller's buffer) is caught by the stored checksum, like damage inside a zstd frame.
    func testDamageInRawSegmentsIsDetected() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let mix = Mix.sample()
        let path = scratch.file("mix.wmx")
        try mix.writer(options: smallChunks).write(to: path)
        let reader = try CheckpointReader(contentsOf: path)
        let bytes = readBytes(path)
        let damagedPath = scratch.file("damaged.wmx")
        // (section, chunk, byte offset inside the chunk's stored bytes): a low mantissa plane of
        // normal weights, a plane of noise, a raw byte chunk, and the zstd frame of an exponent plane.
        let normal = try XCTUnwrap(reader.section("normal"))
        let targets: [(String, Int, Int)] = [
            ("normal", 1, 10), ("noise", 2, 3 * 1024 + 7), ("randomBytes", 0, 5000),
            ("normal", 0, normal.chunks[0].storedBytes - 20),
        ]
        for (name, chunk, within) in targets {
            let section = try XCTUnwrap(reader.section(name))
            let position = section.chunkFileOffsets(dataStart: reader.headerBytes)[chunk] + within
            var damaged = bytes
            damaged[position] ^= 0x01
            writeBytes(damaged, to: damagedPath)
            let region = "section '\(name)' chunk \(chunk + 1) of \(section.chunks.count) (stored bytes)"
            XCTAssertEqual(loadError(damagedPath), .checksumMismatch(path: damagedPath, region: region), name)
            XCTAssertEqual(thrownError { () throws(CheckpointError) in try CheckpointReader(contentsOf: damagedPath).verify() },
                           .checksumMismatch(path: damagedPath, region: region), name)
        }
        // Straight into a caller's buffer, too (the path a trainer's restore takes).
        var damaged = bytes
        damaged[normal.chunkFileOffsets(dataStart: reader.headerBytes)[2] + 100] ^= 0x80
        writeBytes(damaged, to: damagedPath)
        var restored = [Float](repeating: 0, count: mix.normal.count)
        let error = thrownError { () throws(CheckpointError) in
            try restored.withUnsafeMutableBufferPointer { (buffer) throws(CheckpointError) in
                try CheckpointReader(contentsOf: damagedPath).readFloats("normal", into: buffer)
            }
        }
        XCTAssertEqual(error, .checksumMismatch(path: damagedPath, region: "section 'normal' chunk 3 of \(normal.chunks.count) (stored bytes)"))
    }

    // MARK: - Forged tables

    /// The file at `path` with its header JSON changed by `edit` and the header checksum recomputed,
    /// as a forger (or a writer bug) would make it; the section area is unchanged.
    private func forge(_ path: String, _ edit: (inout [String: Any]) throws -> Void) throws -> [UInt8] {
        let bytes = readBytes(path)
        let headerBytes = try CheckpointReader(contentsOf: path).headerBytes
        let json = bytes[CheckpointFormat.fixedHeaderBytes..<(headerBytes - CheckpointFormat.headerChecksumBytes)]
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        try edit(&object)
        let edited = Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        var forged = CheckpointFormat.fixedHeader(jsonBytes: edited.count) + edited
        withUnsafeBytes(of: forged.withUnsafeBytes { XXH64.hash($0) }.littleEndian) { forged += $0 }
        return forged + bytes[headerBytes...]
    }

    /// Applies `change` to chunk `chunk` of section `name` in a header JSON object.
    private func editChunk(_ object: inout [String: Any], section name: String, chunk: Int, _ change: (inout [String: Any]) -> Void) throws {
        var sections = try XCTUnwrap(object["sections"] as? [[String: Any]])
        let index = try XCTUnwrap(sections.firstIndex { $0["name"] as? String == name })
        var chunks = try XCTUnwrap(sections[index]["chunks"] as? [[String: Any]])
        change(&chunks[chunk])
        sections[index]["chunks"] = chunks
        object["sections"] = sections
    }

    private func editSegments(_ object: inout [String: Any], section: String, chunk: Int, _ change: @escaping (inout [[String: Any]]) -> Void) throws {
        try editChunk(&object, section: section, chunk: chunk) { entry in
            var segments = entry["segments"] as! [[String: Any]]
            change(&segments)
            entry["segments"] = segments
        }
    }

    func testForgedSegmentTablesAreRefusedBeforeDecoding() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let path = scratch.file("mix.wmx")
        try Mix.sample().writer(options: smallChunks).write(to: path)
        let forgedPath = scratch.file("forged.wmx")
        let cases: [(String, (inout [String: Any]) throws -> Void)] = [
            ("'normal': chunk 0: 3 segments, expected 4", { try self.editSegments(&$0, section: "normal", chunk: 0) { $0.removeLast() } }),
            ("'randomBytes': chunk 1: 2 segments, expected 1", { try self.editSegments(&$0, section: "randomBytes", chunk: 1) { $0.append($0[0]) } }),
            ("'normal': chunk 1: raw segment 0 has 4097 bytes, expected 4096", {
                try self.editSegments(&$0, section: "normal", chunk: 1) { segments in
                    segments[0]["storedBytes"] = 4097
                    segments[3]["storedBytes"] = (segments[3]["storedBytes"] as! Int) - 1
                }
            }),
            ("'normal': chunk 0: raw segment 3 has", { try self.editSegments(&$0, section: "normal", chunk: 0) { $0[3]["codec"] = "raw" } }),
            ("'constant': chunk 0: zstd segment 2 has 0 stored bytes", {
                try self.editSegments(&$0, section: "constant", chunk: 0) { segments in
                    segments[1]["storedBytes"] = (segments[1]["storedBytes"] as! Int) + (segments[2]["storedBytes"] as! Int)
                    segments[2]["storedBytes"] = 0
                }
            }),
            ("'zeroBytes': chunk 0: segments hold", { try self.editSegments(&$0, section: "zeroBytes", chunk: 0) { $0[0]["storedBytes"] = 100 } }),
            ("'noise': chunk 2: no segments", { try self.editChunk(&$0, section: "noise", chunk: 2) { $0["segments"] = nil } }),
            ("segments[2].codec", { try self.editSegments(&$0, section: "normal", chunk: 0) { $0[2]["codec"] = "lz4" } }),
            ("'counters': unknown codec 'lz4'", { object in
                var sections = object["sections"] as! [[String: Any]]
                sections[6]["codec"] = "lz4"
                object["sections"] = sections
            }),
            ("'counters': chunk 0 has segments under codec 'zstd'", { object in
                var sections = object["sections"] as! [[String: Any]]
                sections[6]["codec"] = "zstd"
                object["sections"] = sections
            }),
        ]
        for (expected, edit) in cases {
            writeBytes(try forge(path, edit), to: forgedPath)
            let error = thrownError { () throws(CheckpointError) in try CheckpointReader(contentsOf: forgedPath) }
            guard case .corruptMetadata(forgedPath, let reason)? = error, reason.contains(expected) else {
                XCTFail("expected a corrupt header mentioning \"\(expected)\", got \(String(describing: error))")
                continue
            }
        }
    }

    /// Forged tables that are self-consistent get past the header checks; the stored checksum still
    /// matches, so decoding runs, and must fail with an error rather than crash or return wrong data.
    func testConsistentButForgedSegmentsFailToDecode() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let path = scratch.file("mix.wmx")
        try Mix.sample().writer(options: smallChunks).write(to: path)
        let forgedPath = scratch.file("forged.wmx")

        // A raw mantissa plane declared a zstd frame: zstd refuses the bytes.
        writeBytes(try forge(path) { try self.editSegments(&$0, section: "normal", chunk: 1) { $0[0]["codec"] = "zstd" } }, to: forgedPath)
        guard case .corruptSection(forgedPath, "normal", let reason)? = loadError(forgedPath), reason.hasPrefix("chunk 2 of") else {
            return XCTFail(String(describing: loadError(forgedPath)))
        }
        // The exponent plane's frame declared first: the chunk's first bytes, a mantissa plane,
        // are then taken for a frame, which zstd refuses.
        writeBytes(try forge(path) { try self.editSegments(&$0, section: "normal", chunk: 0) { $0.insert($0.removeLast(), at: 0) } }, to: forgedPath)
        guard case .corruptSection(forgedPath, "normal", _)? = loadError(forgedPath) else { return XCTFail(String(describing: loadError(forgedPath))) }
        // Raw checksums changed: what decodes is not what the table promises, byte-shuffled or
        // read straight into the destination.
        writeBytes(try forge(path) { try self.editChunk(&$0, section: "normal", chunk: 0) { $0["rawXXH64"] = "0123456789abcdef" } }, to: forgedPath)
        XCTAssertEqual(loadError(forgedPath), .checksumMismatch(path: forgedPath, region: "section 'normal' chunk 1 of 3 (decoded bytes)"))
        writeBytes(try forge(path) { try self.editChunk(&$0, section: "randomBytes", chunk: 0) { $0["rawXXH64"] = "0123456789abcdef" } }, to: forgedPath)
        XCTAssertEqual(loadError(forgedPath), .checksumMismatch(path: forgedPath, region: "section 'randomBytes' chunk 1 of 3 (decoded bytes)"))
    }
}
