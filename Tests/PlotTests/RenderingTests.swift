// The figure's two files: the SVG is XML with one series polyline per run and summary column that
// has values, and the PNG decodes (through Data's libpng decoder) to 1200 x 900 with the series'
// colour along its line.
@testable import Data
import Foundation
#if canImport(FoundationXML)
import FoundationXML  // XMLParser lives here outside Apple platforms
#endif
@testable import Plot
import XCTest

final class RenderingTests: XCTestCase {
    /// Two runs: "full" measured everything; "no-val" has no validation split and a final test row.
    static func runs() throws -> [RunSummary] {
        var full = [RunSummaryTests.header]
        var noValidation = [RunSummaryTests.header]
        for epoch in 1...8 {
            let loss = 2.0 / Double(epoch)
            full.append("\(epoch),\(epoch * 50),1,\(loss),\(loss + 0.1),\(0.5 + 0.05 * Double(epoch)),0.9,\(loss + 0.2),0.6,0.95,"
                + "\(0.001 / Double(epoch)),\(800 + epoch),\(60 * epoch)")
            noValidation.append("\(epoch),\(epoch * 40),1,\(loss + 1),,,,,,,0.0005,400,\(90 * epoch)")
        }
        noValidation.append("8,,,,,,,0.4,0.7,0.97,,,720")
        return [try RunSummary(name: "full", csv: full.joined(separator: "\n"), file: "full"),
                try RunSummary(name: "no-val", csv: noValidation.joined(separator: "\n"), file: "no-val")]
    }

    func testSVGIsXMLWithOneLinePerSeriesAndRun() throws {
        let svg = SVGDocument.render(Figure(runs: try Self.runs(), x: .epoch))
        let collector = SeriesCollector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "SVG is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
        XCTAssertEqual(collector.root, "svg")
        let full = ["train_loss", "val_loss", "test_loss", "val_top1", "test_top1", "lr", "images_per_second"]
        let noValidation = ["train_loss", "test_loss", "test_top1", "lr", "images_per_second"]
        XCTAssertEqual(collector.series.sorted(), (full.map { "full/\($0)" } + noValidation.map { "no-val/\($0)" }).sorted())
        XCTAssertTrue(svg.contains(">top-1 accuracy (%)</text>"))
        XCTAssertTrue(svg.contains(">no-val</text>"), "the legend names each run")
    }

    func testPNGDecodesToTheFigureWithTheSeriesDrawn() throws {
        let figure = Figure(runs: try Self.runs(), x: .step)
        let png = try PNGCodec.encode(rgb: Rasterizer.render(figure), width: figure.width, height: figure.height, file: "plot.png")
        let decoded = GrowableBuffer<UInt8>()
        let size = try png.withUnsafeBufferPointer { try PNGCodec.decode($0.baseAddress!, count: $0.count, into: decoded, file: "plot.png") }
        XCTAssertEqual(size.width, 1200)
        XCTAssertEqual(size.height, 900)
        func pixel(_ x: Double, _ y: Double) -> [UInt8] {
            let i = (Int(y) * size.width + Int(x)) * 3
            return [decoded.pointer[i], decoded.pointer[i + 1], decoded.pointer[i + 2]]
        }
        XCTAssertEqual(pixel(1199, 899), [255, 255, 255], "background")
        // Along the first run's solid train-loss line, between its points, the pixels are its colour.
        let line = figure.shapes.compactMap { shape -> [Point]? in
            guard case let .polyline(points, _, _, series) = shape, series == SeriesID(run: "full", column: .trainLoss) else { return nil }
            return points
        }
        XCTAssertEqual(line.count, 1)
        let blue = Figure.palette[0]
        for (a, b) in zip(line[0], line[0].dropFirst()) {
            for t in [0.25, 0.5, 0.75] {
                let drawn = pixel(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t)
                let distance = zip(drawn, [blue.red, blue.green, blue.blue]).map { abs(Int($0) - Int($1)) }.max()!
                XCTAssertLessThan(distance, 60, "pixel \(drawn) at \(a)-\(b), t \(t), is not the line's colour")
            }
        }
    }

    func testPNGEncodingRoundTrips() throws {
        let pixels = (0..<(7 * 5 * 3)).map { UInt8(truncatingIfNeeded: $0 * 37) }
        let png = try PNGCodec.encode(rgb: pixels, width: 7, height: 5, file: "t.png")
        let decoded = GrowableBuffer<UInt8>()
        let size = try png.withUnsafeBufferPointer { try PNGCodec.decode($0.baseAddress!, count: $0.count, into: decoded, file: "t.png") }
        XCTAssertEqual(size.width, 7)
        XCTAssertEqual(size.height, 5)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: decoded.pointer, count: pixels.count)), pixels)
    }

    func testRunsWithoutValuesStillMakeAFigure() throws {
        let empty = try RunSummary(name: "new", csv: RunSummaryTests.header + "\n", file: "new")
        let figure = Figure(runs: [empty], x: .time)
        let texts = figure.shapes.compactMap { shape -> String? in
            guard case let .text(text, _, _, _, _, _) = shape else { return nil }
            return text
        }
        XCTAssertEqual(texts.filter { $0 == "no data" }.count, 4)
        XCTAssertEqual(Rasterizer.render(figure).count, 1200 * 900 * 3)
    }
}

/// The root element and the data-run/data-series pairs of the series polylines.
private final class SeriesCollector: NSObject, XMLParserDelegate {
    var root: String?
    var series: [String] = []

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = name }
        if name == "polyline", attributes["class"] == "series", let run = attributes["data-run"], let column = attributes["data-series"] {
            series.append("\(run)/\(column)")
        }
    }
}
