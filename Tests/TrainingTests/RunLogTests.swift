// metrics.jsonl never loses a record: JSON has no NaN or infinity, so such numbers are written as null.
import Foundation
import TestSupport
@testable import Training
import XCTest

final class RunLogTests: XCTestCase {
    func testNonFiniteNumbersAreWrittenAsNull() throws {
        let dir = temporaryDirectory(self, "runlog")
        let log = try RunLog(layout: RunLayout(dir), isWriter: true, append: false)
        log.record(["step": 1, "loss": Double.nan, "lr": 0.001])
        log.record(["step": 2, "loss": -Double.infinity, "eval_top1": Float.nan])
        log.record(["step": 3, "loss": 0.5])
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines[0], #"{"loss":null,"lr":0.001,"step":1}"#)
        XCTAssertEqual(lines[1], #"{"eval_top1":null,"loss":null,"step":2}"#)
        XCTAssertEqual(lines[2], #"{"loss":0.5,"step":3}"#)
    }
}
