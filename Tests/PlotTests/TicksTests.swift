// Axis ticks land on 1, 2 or 5 times a power of ten, cover the data, and print without float noise.
@testable import Plot
import XCTest

final class TicksTests: XCTestCase {
    func testTicksAreNiceAndCoverTheData() {
        let unit = Ticks(low: 0, high: 1)
        XCTAssertEqual(unit.step, 0.2)
        XCTAssertEqual(unit.labels, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"])

        let loss = Ticks(low: 0.137, high: 2.31)
        XCTAssertEqual(loss.step, 0.5)
        XCTAssertEqual(loss.lower, 0)
        XCTAssertEqual(loss.upper, 2.5)

        let accuracy = Ticks(low: 23.5, high: 93.1)
        XCTAssertEqual(accuracy.values, [20, 40, 60, 80, 100])
        XCTAssertEqual(accuracy.labels, ["20", "40", "60", "80", "100"])

        let steps = Ticks(low: 469, high: 14070)
        XCTAssertEqual(steps.step, 5000)
        XCTAssertEqual(steps.labels, ["0", "5000", "10000", "15000"])

        let negative = Ticks(low: -0.3, high: 0.05)
        XCTAssertEqual(negative.labels, ["-0.3", "-0.2", "-0.1", "0", "0.1"])
    }

    func testSmallAndLargeValuesUseExponents() {
        XCTAssertEqual(Ticks(low: 0, high: 1e-3).labels, ["0", "2.0e-4", "4.0e-4", "6.0e-4", "8.0e-4", "1.0e-3"])
        XCTAssertEqual(Ticks(low: 0, high: 4e6).labels, ["0", "1e6", "2e6", "3e6", "4e6"])
    }

    func testOneValueIsWidenedAndEpochsStayWhole() {
        let single = Ticks(low: 5, high: 5)
        XCTAssertLessThan(single.lower, 5)
        XCTAssertGreaterThan(single.upper, 5)
        XCTAssertEqual(Ticks(low: 0, high: 0).values, [-1, -0.5, 0, 0.5, 1])
        XCTAssertEqual(Ticks(low: 1, high: 3, integral: true).values, [1, 2, 3])
        XCTAssertEqual(Ticks(low: 1, high: 1, integral: true).values, [0, 1, 2])
    }
}
