// Reading summary.csv: empty cells are values not measured, unknown columns are ignored, and a
// malformed file is refused with its line and column.
@testable import Plot
import TestSupport
import XCTest

final class RunSummaryTests: XCTestCase {
    static let header = "epoch,step,phase,train_loss,val_loss,val_top1,val_top5,test_loss,test_top1,test_top5,lr,images_per_second,elapsed_seconds"

    func testEmptyCellsAreMissingValues() throws {
        let csv = Self.header + "\n"
            + "1,100,1,2.5,2.25,0.5,0.75,,,,0.001,812.5,61.25\n"
            + "2,200,1,1.5,,,,,,,0.0005,820,122.5000000000001\n"
            + "2,,,,,,,1.75,0.625,0.875,,,122.5000000000001\r\n"
            + "\n"
        let summary = try RunSummary(name: "r", csv: csv, file: "r/summary.csv")
        XCTAssertEqual(summary.rows.count, 3)
        XCTAssertEqual(summary.rows[0][.valTop1], 0.5)
        XCTAssertEqual(summary.rows[0][.elapsedSeconds], 61.25)
        XCTAssertNil(summary.rows[1][.valLoss])
        XCTAssertEqual(summary.rows[1][.imagesPerSecond], 820)
        XCTAssertEqual(summary.rows[2], [.epoch: 2, .testLoss: 1.75, .testTop1: 0.625, .testTop5: 0.875, .elapsedSeconds: 122.5000000000001])
    }

    func testColumnsAreFoundByNameAndUnknownOnesIgnored() throws {
        let summary = try RunSummary(name: "r", csv: "step,epoch,note,train_loss\n10,1,warm-up,nan\n", file: "f")
        XCTAssertEqual(summary.rows[0][.step], 10)
        XCTAssertEqual(summary.rows[0][.epoch], 1)
        XCTAssertTrue(summary.rows[0][.trainLoss]!.isNaN)
        XCTAssertEqual(try RunSummary(name: "r", csv: Self.header + "\n", file: "f").rows.count, 0)
    }

    func testMalformedFilesNameLineAndColumn() {
        func error(_ csv: String) -> String {
            do {
                _ = try RunSummary(name: "r", csv: csv, file: "r/summary.csv")
                return "no error"
            } catch { return error.description }
        }
        XCTAssertEqual(error(Self.header + "\n1,100,1,2.5,abc,,,,,,0.1,5,6\n"),
                       "r/summary.csv: line 2: column 5 (val_loss): 'abc' is not a number")
        XCTAssertEqual(error(Self.header + "\n1,100,1,2.5,,,,,,,0.1,5,6\n2,200,1\n"),
                       "r/summary.csv: line 3: 3 cells, the header has 13")
        XCTAssertEqual(error(""), "r/summary.csv: line 1: empty, expected the header line (epoch,step,phase,...)")
        XCTAssertEqual(error("step,loss\n1,2\n"),
                       "r/summary.csv: line 1: not a summary header: no 'epoch' column (expected epoch,step,phase,...)")
        XCTAssertEqual(error("epoch,lr,lr\n"), "r/summary.csv: line 1: column 'lr' appears twice")
    }

    func testMissingRunDirectoryAndSummaryAreNamed() throws {
        let scratch = TemporaryDirectory("plot")
        let directory = scratch.file("run")
        XCTAssertThrowsError(try RunSummary.read(runDirectory: directory)) {
            XCTAssertEqual($0 as? PlotError, .noRunDirectory(path: directory))
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        XCTAssertThrowsError(try RunSummary.read(runDirectory: directory)) {
            XCTAssertEqual($0 as? PlotError, .noSummary(file: directory + "/summary.csv"))
        }
        try (Self.header + "\n").write(toFile: directory + "/summary.csv", atomically: true, encoding: .utf8)
        XCTAssertEqual(try RunSummary.read(runDirectory: directory + "/").name, URL(fileURLWithPath: directory).lastPathComponent)
    }
}
