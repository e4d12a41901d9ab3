// `wavemix plot` as users meet it: one run's plot lands in the run directory (replaced on each
// call), several runs need --output, an existing --output file needs --force, and every bad input
// gets one line on stderr and a non-zero exit status.
import Foundation
import TestSupport
import XCTest

final class PlotCommandTests: XCTestCase {
    func wavemix(_ arguments: [String]) throws -> ChildResult {
        try Programs.run(try Programs.wavemix(), ["plot"] + arguments, deadline: 60)
    }

    /// A run directory holding a summary.csv of `epochs` rows.
    func run(named name: String, in directory: String, epochs: Int = 3) throws -> String {
        let path = "\(directory)/\(name)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var lines = ["epoch,step,phase,train_loss,val_loss,val_top1,val_top5,test_loss,test_top1,test_top5,lr,images_per_second,elapsed_seconds"]
        for epoch in 1...epochs {
            lines.append("\(epoch),\(100 * epoch),1,\(2.0 / Double(epoch)),\(2.1 / Double(epoch)),0.\(epoch + 5),0.9,,,,0.001,500,\(70 * epoch)")
        }
        try lines.joined(separator: "\n").appending("\n").write(toFile: path + "/summary.csv", atomically: true, encoding: .utf8)
        return path
    }

    func assertOneLineFailure(_ result: ChildResult, status: Int32, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, status, result.output, file: file, line: line)
        // ArgumentParser adds usage and help lines after its one-line error.
        let lines = result.stderr.split(separator: "\n").filter { !["Usage:", "Help:"].contains(where: $0.hasPrefix) && !$0.contains("--help' for more") }
        XCTAssertEqual(lines.count, 1, "stderr: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(mentions), "stderr lacks '\(mentions)': \(result.stderr)", file: file, line: line)
    }

    func testOneRunIsPlottedIntoItsDirectoryAndReplacedOnTheNextCall() throws {
        let run = try run(named: "lite", in: temporaryDirectory(self))
        for _ in 0..<2 {
            let result = try wavemix([run, "--x", "time"])
            XCTAssertEqual(result.status, 0, result.output)
            XCTAssertTrue(result.stdout.contains("\(run)/plot.svg"), result.stdout)
        }
        let png = try Data(contentsOf: URL(fileURLWithPath: run + "/plot.png"))
        XCTAssertEqual([UInt8](png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertTrue(try String(contentsOfFile: run + "/plot.svg", encoding: .utf8).contains("<svg"))
    }

    func testSeveralRunsNeedOutputAndAnExistingOutputNeedsForce() throws {
        let directory = temporaryDirectory(self)
        let a = try run(named: "a", in: directory), b = try run(named: "b", in: directory, epochs: 5)
        assertOneLineFailure(try wavemix([a, b]), status: 64, mentions: "--output")

        let first = try wavemix([a, b, "--output", "\(directory)/both.png", "--x", "step"])
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/both.svg"))
        let written = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/both.png"))

        let refused = try wavemix([a, "--output", "\(directory)/both"])
        assertOneLineFailure(refused, status: 65, mentions: "both.svg exists; pass --force")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/both.png")), written, "a refused call changed the file")
        XCTAssertEqual(try wavemix([a, "--output", "\(directory)/both", "--force"]).status, 0)
    }

    func testBadInputGetsOneClearLine() throws {
        let directory = temporaryDirectory(self)
        assertOneLineFailure(try wavemix(["\(directory)/missing"]), status: 65, mentions: "\(directory)/missing: no such run directory")
        try FileManager.default.createDirectory(atPath: "\(directory)/empty", withIntermediateDirectories: true)
        assertOneLineFailure(try wavemix(["\(directory)/empty"]), status: 65, mentions: "\(directory)/empty/summary.csv not found")
        let bad = try run(named: "bad", in: directory)
        try "epoch,step,train_loss\n1,100,0.5\n2,200,x\n".write(toFile: bad + "/summary.csv", atomically: true, encoding: .utf8)
        assertOneLineFailure(try wavemix([bad]), status: 65, mentions: "summary.csv: line 3: column 3 (train_loss): 'x' is not a number")
        assertOneLineFailure(try wavemix([bad, "--x", "wall"]), status: 64, mentions: "wall")
        assertOneLineFailure(try wavemix([]), status: 64, mentions: "<run-dir>")
        let good = try run(named: "good", in: directory)
        assertOneLineFailure(try wavemix([good, "--output", "\(directory)/nowhere/p"]), status: 65, mentions: "does not exist")
    }

    func testHelpNamesTheCommandAndItsOptions() throws {
        XCTAssertTrue(try Programs.run(try Programs.wavemix(), ["--help"]).stdout.contains("plot"))
        let help = try wavemix(["--help"])
        for option in ["--x <axis>", "--output <prefix>", "--force", "values: epoch, step, time"] {
            XCTAssertTrue(help.stdout.contains(option), "plot --help lacks \(option)")
        }
    }
}
