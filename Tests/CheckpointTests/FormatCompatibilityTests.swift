// Files written by earlier builds stay readable. Fixtures/format1-*.wmx were written once by the
// format-1 writer as it was before the "segments" codec (every chunk one zstd frame, codec "zstd"):
// CheckpointContents.sample(paramCount: 6000, seed: 77) with 8 KiB chunks, once with the defaults
// (level 1, byte shuffle) and once with level 3 and no shuffle.
import TestSupport
import Foundation
import XCTest
@testable import Checkpoint

final class FormatCompatibilityTests: XCTestCase {
    private func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/" + name, withExtension: "wmx")).path
    }

    func testFormatOneFilesWithZstdChunksStillLoad() throws {
        let expected = CheckpointContents.sample(paramCount: 6000, seed: 77)
        for (name, shuffled) in [("format1-shuffled", true), ("format1-plain", false)] {
            let path = try fixture(name)
            XCTAssertEqual(try CheckpointContents.load(path), expected, name)
            let reader = try CheckpointReader(contentsOf: path)
            XCTAssertEqual(reader.sections.map(\.codec), Array(repeating: "zstd", count: 5), name)
            XCTAssertEqual(reader.section("params")?.byteShuffle, shuffled, name)
            XCTAssertEqual(reader.section("params")?.chunks.count, 3, name)
            XCTAssertNoThrow(try reader.verify(), name)
            XCTAssertEqual(try reader.inspect().formatVersion, 1)
        }
    }

    /// Damage in a format-1 file is still caught by the stored checksum before zstd sees it.
    func testFormatOneCorruptionIsStillDetected() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let source = try fixture("format1-shuffled")
        let reader = try CheckpointReader(contentsOf: source)
        var bytes = readBytes(source)
        bytes[reader.headerBytes + 100] ^= 0x20
        let path = scratch.file("damaged.wmx")
        writeBytes(bytes, to: path)
        XCTAssertEqual(thrownError { () throws(CheckpointError) in try CheckpointContents.load(path) },
                       .checksumMismatch(path: path, region: "section 'params' chunk 1 of 3 (stored bytes)"))
    }
}
