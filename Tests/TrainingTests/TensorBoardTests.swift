// TensorBoard event files: byte for byte what the tensorboard package's own writer writes for the
// same events (fixture from scripts/tensorboard_fixture.py, tensorboard 2.21.0), read back by
// TensorBoard's EventAccumulator where the reference venv has tensorboard, and CRC-32C known answers.
import Foundation
import TestSupport
@testable import Training
import XCTest

final class TensorBoardTests: XCTestCase {
    /// The events of scripts/tensorboard_fixture.py: change both together.
    static let fixtureFileWallTime = 1_700_000_000.25
    static let fixtureEvents: [(step: Int, wallTime: Double, values: [(tag: String, value: Double)])] = [
        (0, 1_700_000_001.5, [("train/loss", 2.302585092994046), ("train/lr", 0.0), ("train/images_per_second", 1234.5)]),
        (1, 1_700_000_002.125, [("train/loss", 0.1), ("train/lr", 1e-3), ("train/images_per_second", 987.654321)]),
        (100, 1_700_000_100.0, [("val/loss", 0.4), ("val/top1", 0.875), ("val/top5", 1.0)]),
        (4_294_967_303, 1_700_003_600.75, [("test/loss", .nan), ("test/top1", .infinity), ("test/top5", -.infinity)]),
        (7, 0.0, [("edge/negative_zero", -0.0), ("edge/subnormal", 1e-40), ("edge/float_max", 3.4028234663852886e38),
                  ("edge/tie_to_even", 16_777_217.0), ("edge/ünïcode", -2.5), ("edge/" + String(repeating: "x", count: 150), 42.0)]),
    ]

    func testBytesEqualTheTensorBoardPackagesWriter() throws {
        let directory = temporaryDirectory(self, "wavemix-tensorboard")
        let writer = try TensorBoardWriter(directory: directory, wallTime: Self.fixtureFileWallTime,
                                           writer: "tensorboard.summary.writer.event_file_writer")
        for event in Self.fixtureEvents { writer.scalars(event.values, step: event.step, wallTime: event.wallTime) }
        try writer.flush()
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tensorboard.events")
        let expected = try [UInt8](Data(contentsOf: fixture))
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: writer.path)))
        XCTAssertEqual(written.count, expected.count)
        let firstDifference = zip(written, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        XCTAssertNil(firstDifference, "first differing byte at offset \(firstDifference ?? -1)")
    }

    func testFileNameFollowsTensorFlowAndEachWriterGetsItsOwnFile() throws {
        let directory = temporaryDirectory(self, "wavemix-tensorboard") + "/tensorboard"
        let first = try TensorBoardWriter(directory: directory, wallTime: 1_700_000_000.9, writer: "wavemix")
        let second = try TensorBoardWriter(directory: directory)
        let name = URL(fileURLWithPath: first.path).lastPathComponent
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        XCTAssertTrue(name.hasPrefix("events.out.tfevents.1700000000."), name)
        XCTAssertEqual(parts[parts.count - 2], "\(getpid())", name)
        XCTAssertNotEqual(first.path, second.path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).count, 2)
    }

    func testEventAccumulatorReadsTheWrittenScalars() throws {
        let venv = ProcessInfo.processInfo.environment["WAVEMIX_REF_VENV"] ?? NSHomeDirectory() + "/.cache/wavemix-ref-venv"
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python),
              (try? Programs.run(python, ["-c", "import tensorboard"], deadline: 60))?.status == 0 else {
            throw XCTSkip("\(python) cannot import tensorboard (pip install tensorboard into the reference venv)")
        }
        let directory = temporaryDirectory(self, "wavemix-tensorboard")
        let writer = try TensorBoardWriter(directory: directory)
        var written: [String: [(step: Int, value: Float)]] = [:]
        for step in stride(from: 10, through: 200, by: 10) {
            let values = [("train/loss", 2.3 / Double(step)), ("train/lr", 1e-3 * Double(step)), ("train/images_per_second", 512.25)]
            writer.scalars(values, step: step, wallTime: 1_700_000_000 + Double(step))
            for (tag, value) in values { written[tag, default: []].append((step, Float(value))) }
        }
        writer.scalars([("val/loss", .nan), ("val/top1", 0.5), ("val/top5", .infinity)], step: 200, wallTime: 1_700_000_300)
        for (tag, value) in [("val/loss", Double.nan), ("val/top1", 0.5), ("val/top5", .infinity)] { written[tag] = [(200, Float(value))] }
        try writer.flush()

        let script = """
            import sys
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            accumulator = EventAccumulator(sys.argv[1])
            accumulator.Reload()
            for tag in accumulator.Tags()["scalars"]:
                for event in accumulator.Scalars(tag):
                    print(tag, event.step, repr(event.value))
            """
        let result = try Programs.run(python, ["-c", script, writer.path], deadline: 120)
        XCTAssertEqual(result.status, 0, result.output)
        var read: [String: [(step: Int, value: Float)]] = [:]
        for line in result.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let step = Int(fields[1]), let value = Double(fields[2]) else { continue }
            read[String(fields[0]), default: []].append((step, Float(value)))
        }
        XCTAssertEqual(Set(read.keys), Set(written.keys), result.output)
        for (tag, events) in written {
            let got = read[tag] ?? []
            XCTAssertEqual(got.map(\.step), events.map(\.step), tag)
            // Bit patterns, so that NaN compares equal to NaN.
            XCTAssertEqual(got.map(\.value.bitPattern), events.map(\.value.bitPattern), tag)
        }
    }

    func testCRC32CKnownAnswers() {
        func crc(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { CRC32C.checksum($0) } }
        XCTAssertEqual(crc(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(crc([]), 0)
        // RFC 3720 (iSCSI), appendix B.4: 32 zero bytes, 32 bytes of 0xFF.
        XCTAssertEqual(crc([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(crc([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        // tensorboard's masked_crc32c(b"123456789").
        XCTAssertEqual(CRC32C.masked(0xE306_9283), 0xC78A_B0E5)
    }
}
