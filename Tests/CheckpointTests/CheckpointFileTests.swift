// Tests of the .wmx container: round trips (10M floats, every section kind, every option), and
// detection of truncation, bit flips, a wrong magic, a future version and misuse, plus a fuzz of
// thousands of damaged copies that must each load identical data or throw.
import TestSupport
import Foundation
import XCTest
@testable import Checkpoint

/// Metadata as a trainer would store it.
struct TrainState: Codable, Equatable {
    var step = 1200
    var epoch = 3
    var positionInEpoch = 17
    var seed: UInt64 = 0xDEAD_BEEF_0000_0001
    var worldSize = 2
    var learningRate = 0.000_996_5
    var config = ["depth": 4, "finalDim": 64]
}

/// Everything a test checkpoint holds, read back by name.
struct CheckpointContents: Equatable {
    var state = TrainState()
    var params: [Float] = []
    var buffers: [Float] = []
    var counters: [Int64] = []
    var blob: [UInt8] = []
    var empty: [Float] = []

    static func sample(paramCount: Int, seed: UInt64 = 1) -> CheckpointContents {
        var random = TestRandom(seed: seed)
        return CheckpointContents(params: random.normals(paramCount, scale: 0.02), buffers: random.normals(100, scale: 1),
                                  counters: [0, -5, Int64.max, 42], blob: random.bytes(50), empty: [])
    }

    func writer(options: CheckpointWriter.Options = .init()) -> CheckpointWriter {
        var writer = CheckpointWriter(metadata: state, options: options)
        writer.add("params", floats: params)
        writer.add("buffers", floats: buffers)
        writer.add("counters", int64s: counters)
        writer.add("blob", bytes: blob)
        writer.add("empty", floats: empty)
        return writer
    }

    /// Everything but the metadata.
    var sections: [[Float]] { [params, buffers, counters.map(Float.init), blob.map(Float.init), empty] }

    /// Opens `path` and reads every section and the metadata; throws whatever the reader throws.
    static func load(_ path: String, threads: Int = 2) throws(CheckpointError) -> CheckpointContents {
        let reader = try CheckpointReader(contentsOf: path, threads: threads)
        return CheckpointContents(state: try reader.metadata(as: TrainState.self), params: try reader.floats("params"),
                                  buffers: try reader.floats("buffers"), counters: try reader.int64s("counters"),
                                  blob: try reader.bytes("blob"), empty: try reader.floats("empty"))
    }
}

final class CheckpointFileTests: XCTestCase {
    /// Small chunks so a small file still has several of them.
    private let smallChunks = CheckpointWriter.Options(chunkBytes: 16 << 10)

    private func writeSample(_ scratch: TemporaryDirectory, name: String = "sample.wmx", paramCount: Int = 30_000) throws -> (String, CheckpointContents) {
        let contents = CheckpointContents.sample(paramCount: paramCount)
        let path = scratch.file(name)
        try contents.writer(options: smallChunks).write(to: path)
        return (path, contents)
    }

    private func loadError(_ path: String) -> CheckpointError? {
        thrownError { () throws(CheckpointError) in try CheckpointContents.load(path) }
    }

    func testRoundTripOfSeveralSectionsWithTenMillionFloats() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let contents = CheckpointContents.sample(paramCount: 10_000_000)
        let path = scratch.file("big.wmx")
        var writer = contents.writer()
        var random = TestRandom(seed: 9)
        let moments = random.normals(1_000_003, scale: 1e-4)
        try moments.withUnsafeBufferPointer { (borrowed) throws(CheckpointError) in
            writer.add("moments", floats: borrowed)
            try writer.write(to: path)
        }

        XCTAssertEqual(try CheckpointContents.load(path), contents)
        let reader = try CheckpointReader(contentsOf: path)
        XCTAssertEqual(reader.sections.map(\.name), ["params", "buffers", "counters", "blob", "empty", "moments"])
        var restored = [Float](repeating: .nan, count: moments.count)
        try restored.withUnsafeMutableBufferPointer { (buffer) throws(CheckpointError) in try reader.readFloats("moments", into: buffer) }
        XCTAssertEqual(restored, moments)

        let params = try XCTUnwrap(reader.section("params"))
        XCTAssertEqual(params.kind, .f32)
        XCTAssertEqual(params.count, 10_000_000)
        XCTAssertEqual(params.rawBytes, 40_000_000)
        XCTAssertTrue(params.byteShuffle)
        XCTAssertEqual(params.chunks.count, 10)  // 4 MiB chunks
        XCTAssertGreaterThan(params.compressionRatio, 1.1, "byte-shuffled normal weights compress")
        XCTAssertFalse(try XCTUnwrap(reader.section("counters")).byteShuffle)
        XCTAssertEqual(try XCTUnwrap(reader.section("empty")).chunks, [])
        XCTAssertNoThrow(try reader.verify())
    }

    func testEveryOptionRoundTripsAndThreadCountDoesNotChangeTheFile() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let contents = CheckpointContents.sample(paramCount: 20_001)
        let variants: [CheckpointWriter.Options] = [
            .init(), .init(byteShuffle: false), .init(level: 3), .init(level: -1),
            .init(chunkBytes: 1000, threads: 3), .init(chunkBytes: 1), .init(chunkBytes: 4096, threads: 1),
        ]
        for (index, options) in variants.enumerated() {
            let path = scratch.file("variant-\(index).wmx")
            try contents.writer(options: options).write(to: path)
            XCTAssertEqual(try CheckpointContents.load(path, threads: 1 + index % 3), contents, "variant \(index)")
        }
        XCTAssertEqual(readBytes(scratch.file("variant-6.wmx")), {
            try? contents.writer(options: .init(chunkBytes: 4096, threads: 4)).write(to: scratch.file("threads-4.wmx"))
            return readBytes(scratch.file("threads-4.wmx"))
        }())
    }

    func testCheckpointWithoutSectionsKeepsItsMetadata() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let path = scratch.file("meta-only.wmx")
        try CheckpointWriter(metadata: TrainState(step: 5)).write(to: path)
        let reader = try CheckpointReader(contentsOf: path)
        XCTAssertEqual(try reader.metadata(as: TrainState.self), TrainState(step: 5))
        XCTAssertEqual(reader.sections, [])
    }

    func testTruncationAtAnyOffsetIsDetected() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let (path, _) = try writeSample(scratch)
        let bytes = readBytes(path)
        let reader = try CheckpointReader(contentsOf: path)
        let cuts = Array(0..<(reader.headerBytes + 64)) + Array(stride(from: reader.headerBytes, to: bytes.count, by: 499)) + [bytes.count - 1]
        let cutPath = scratch.file("cut.wmx")
        for cut in cuts {
            writeBytes(Array(bytes[0..<cut]), to: cutPath)
            guard case .truncated(cutPath, _, cut)? = loadError(cutPath) else {
                return XCTFail("cut at \(cut): \(String(describing: loadError(cutPath)))")
            }
        }
        XCTAssertEqual(loadError(cutPath)?.description,
                       "\(cutPath): truncated: file is \(bytes.count - 1) bytes, its header and sections need \(bytes.count)")
    }

    func testEverySingleBitFlipIsDetected() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let (path, _) = try writeSample(scratch)
        let bytes = readBytes(path)
        let headerBytes = try CheckpointReader(contentsOf: path).headerBytes
        var random = TestRandom(seed: 11)
        let positions = Array(0..<headerBytes) + (0..<600).map { _ in headerBytes + random.below(bytes.count - headerBytes) }
        let flippedPath = scratch.file("flipped.wmx")
        var kinds = Set<String>()
        for position in positions {
            var flipped = bytes
            flipped[position] ^= UInt8(1 << random.below(8))
            writeBytes(flipped, to: flippedPath)
            guard let error = loadError(flippedPath) else { return XCTFail("flip at \(position) went unnoticed") }
            if position >= headerBytes {
                // Damage in the data is caught by the stored checksum, before zstd sees the bytes,
                // and by verify(), which is what CheckpointDirectory.newestValid relies on.
                guard case .checksumMismatch(_, let region) = error, region.hasSuffix("(stored bytes)") else {
                    return XCTFail("flip at \(position): \(error)")
                }
                XCTAssertNotNil(thrownError { () throws(CheckpointError) in try CheckpointReader(contentsOf: flippedPath).verify() })
            }
            kinds.insert(caseName(error))
        }
        XCTAssertEqual(kinds, ["badMagic", "unsupportedVersion", "corruptMetadata", "truncated", "checksumMismatch"])
    }

    func testWrongMagicAndFutureVersionAreNamed() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let (path, _) = try writeSample(scratch)
        var bytes = readBytes(path)
        bytes[8] = 2
        writeBytes(bytes, to: path)
        XCTAssertEqual(loadError(path)?.description, "\(path): written by a newer wavemix (format 2); this build reads format 1")
        bytes[0] = UInt8(ascii: "X")
        writeBytes(bytes, to: path)
        XCTAssertEqual(loadError(path)?.description, "\(path): not a wavemix checkpoint (bad magic)")
        writeBytes(Array("hello".utf8), to: path)
        XCTAssertEqual(loadError(path), .badMagic(path: path))
        let missing = scratch.file("missing.wmx")
        XCTAssertEqual(loadError(missing)?.description, "\(missing): open failed: No such file or directory")
    }

    func testMisuseGetsNamedErrors() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let (path, _) = try writeSample(scratch)
        let reader = try CheckpointReader(contentsOf: path)
        XCTAssertEqual(thrownError { () throws(CheckpointError) in try reader.floats("nope") }?.description, "\(path): no section 'nope'")
        XCTAssertEqual(thrownError { () throws(CheckpointError) in try reader.int64s("params") }?.description,
                       "\(path): section 'params' holds f32, not i64")
        var tooSmall = [Float](repeating: 0, count: 10)
        XCTAssertEqual(thrownError { () throws(CheckpointError) in
            try tooSmall.withUnsafeMutableBufferPointer { (buffer) throws(CheckpointError) in try reader.readFloats("params", into: buffer) }
        }?.description, "\(path): section 'params' holds 30000 elements, the destination 10")
        guard case .metadataMismatch? = thrownError({ () throws(CheckpointError) in try reader.metadata(as: [String].self) }) else {
            return XCTFail("metadata of the wrong type must be refused")
        }

        var duplicate = CheckpointWriter()
        duplicate.add("x", floats: [1])
        duplicate.add("x", bytes: [1])
        XCTAssertEqual(thrownError { () throws(CheckpointError) in try duplicate.write(to: path) }, .duplicateSection(path: path, section: "x"))
        guard case .metadataNotEncodable? = thrownError({ () throws(CheckpointError) in
            try CheckpointWriter(metadata: ["lr": Double.nan]).write(to: path)
        }) else {
            return XCTFail("NaN metadata must be refused")
        }
        XCTAssertNoThrow(try CheckpointContents.load(path), "failed writes leave the file as it was")
        XCTAssertEqual(temporaryFiles(in: scratch.path), [])
    }

    func testInspectionReportsSizesMetadataAndDamage() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let (path, _) = try writeSample(scratch)
        let inspection = try CheckpointReader(contentsOf: path).inspect()
        XCTAssertEqual(inspection.fileBytes, readBytes(path).count)
        XCTAssertEqual(inspection.sections.map(\.checksum), Array(repeating: .verified, count: 5))
        XCTAssertEqual(inspection.rawBytes, 120_000 + 400 + 32 + 50)
        XCTAssertGreaterThan(inspection.compressionRatio, 1)
        XCTAssertTrue(inspection.metadataJSON.contains("\"positionInEpoch\" : 17"), inspection.metadataJSON)

        let params = try XCTUnwrap(inspection.sections.first?.section)
        var bytes = readBytes(path)
        bytes[inspection.headerBytes + params.chunks[0].storedBytes + params.chunks[1].storedBytes + 5] ^= 0x10
        writeBytes(bytes, to: path)
        let damaged = try CheckpointReader(contentsOf: path).inspect()
        XCTAssertEqual(damaged.sections.map(\.checksum), [.mismatch(chunk: 2)] + Array(repeating: .verified, count: 4))
        XCTAssertEqual(loadError(path)?.description, "\(path): checksum mismatch in section 'params' chunk 3 of 8 (stored bytes) (the file is corrupt)")
    }

    /// Thousands of damaged copies: random byte changes anywhere, truncations, extensions, and JSON
    /// edits with the header checksum recomputed so that the JSON and table checks see them. Each
    /// copy must either load exactly the original contents or throw. (A JSON edit under a recomputed
    /// checksum is a forged header: it may change the caller's metadata undetected, but never the
    /// sections, whose raw checksums it cannot forge.)
    func testFuzzedCopiesLoadIdenticallyOrThrow() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let (path, original) = try writeSample(scratch, paramCount: 6000)
        let bytes = readBytes(path)
        let headerBytes = try CheckpointReader(contentsOf: path).headerBytes
        let jsonRange = CheckpointFormat.fixedHeaderBytes..<(headerBytes - CheckpointFormat.headerChecksumBytes)
        let fuzzPath = scratch.file("fuzz.wmx")
        let interesting = Array("{}[]\",:0123456789-aef ".utf8)
        var random = TestRandom(seed: 5)
        var refusals: [String: Int] = [:]
        for iteration in 0..<4000 {
            var copy = bytes
            switch iteration % 4 {
            case 0:
                for _ in 0...random.below(3) { copy[random.below(copy.count)] = UInt8(truncatingIfNeeded: random.next()) }
            case 1:
                copy.removeSubrange(random.below(copy.count)..<copy.count)
                if random.below(2) == 0 { copy += random.bytes(1 + random.below(64)) }
            case 2:
                copy += random.bytes(1 + random.below(64))
            default:
                var json = Array(copy[jsonRange])
                for _ in 0...random.below(2) {
                    let at = random.below(json.count)
                    if random.below(2) == 0 { json[at] = interesting[random.below(interesting.count)] } else { json.remove(at: at) }
                }
                copy = CheckpointFormat.fixedHeader(jsonBytes: json.count) + json
                withUnsafeBytes(of: copy.withUnsafeBytes { XXH64.hash($0) }.littleEndian) { copy += $0 }
                copy += bytes[headerBytes...]
            }
            writeBytes(copy, to: fuzzPath)
            let loaded: CheckpointContents
            do {
                loaded = try CheckpointContents.load(fuzzPath)
            } catch {
                refusals[caseName(error), default: 0] += 1
                continue
            }
            if iteration % 4 == 3 {
                XCTAssertEqual(loaded.sections, original.sections, "iteration \(iteration) loaded different sections")
            } else {
                XCTAssertEqual(loaded, original, "iteration \(iteration) loaded different data")
            }
        }
        XCTAssertGreaterThan(refusals["corruptMetadata", default: 0], 100, "JSON edits reach the table checks: \(refusals)")
        XCTAssertGreaterThan(refusals["checksumMismatch", default: 0], 100, "\(refusals)")
        XCTAssertGreaterThan(refusals["truncated", default: 0], 100, "\(refusals)")
        XCTAssertGreaterThan(refusals["trailingData", default: 0], 100, "\(refusals)")
    }
}
