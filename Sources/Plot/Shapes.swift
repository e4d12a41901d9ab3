// A figure as a list of shapes in pixel coordinates (origin top left, y down), drawn in order by
// both renderers: SVGDocument writes them as SVG elements, Rasterizer paints them into pixels.
import Foundation

struct Color: Equatable {
    let red: UInt8, green: UInt8, blue: UInt8

    init(_ hex: UInt32) {
        red = UInt8(hex >> 16 & 0xFF)
        green = UInt8(hex >> 8 & 0xFF)
        blue = UInt8(hex & 0xFF)
    }

    var hex: String { String(format: "#%02x%02x%02x", red, green, blue) }

    static let white = Color(0xFFFFFF)
    static let text = Color(0x222222)
    static let frame = Color(0x555555)
    static let grid = Color(0xE4E4E4)
}

struct Point: Equatable {
    let x: Double, y: Double
}

/// A run's series: the run's name and the summary column drawn.
struct SeriesID: Equatable {
    let run: String
    let column: SummaryColumn
}

enum TextAnchor {
    case start, middle, end
}

/// How a series is stroked: solid, or `dash` lengths alternately drawn and skipped (round caps).
struct LineStyle: Equatable {
    let width: Double
    let dash: [Double]

    static let solid = LineStyle(width: 2, dash: [])
    static let dashed = LineStyle(width: 2, dash: [6, 6])
    static let dotted = LineStyle(width: 2.5, dash: [0.5, 5])
}

enum Shape {
    case rect(x: Double, y: Double, width: Double, height: Double, color: Color)
    /// `series` names the data a line draws (nil for the legend's samples).
    case polyline(points: [Point], color: Color, style: LineStyle, series: SeriesID?)
    case circle(center: Point, radius: Double, color: Color)
    /// `y` is the baseline.
    case text(String, x: Double, y: Double, anchor: TextAnchor, color: Color, bold: Bool)
}
