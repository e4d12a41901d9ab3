// The figure as SVG text: one element per shape; a data series is a <polyline> with class "series"
// and data-run / data-series attributes naming the run and the summary column it draws.
import Foundation

enum SVGDocument {
    static func render(_ figure: Figure) -> String {
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(figure.width)" height="\#(figure.height)" "#
                + #"viewBox="0 0 \#(figure.width) \#(figure.height)" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" "#
                + #"font-size="10">"#,
        ]
        for shape in figure.shapes { lines.append(element(shape)) }
        lines.append("</svg>")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func element(_ shape: Shape) -> String {
        switch shape {
        case let .rect(x, y, width, height, color):
            return #"<rect x="\#(number(x))" y="\#(number(y))" width="\#(number(width))" height="\#(number(height))" fill="\#(color.hex)"/>"#
        case let .polyline(points, color, style, series):
            let identity = series.map { #" class="series" data-run="\#(escaped($0.run))" data-series="\#($0.column.rawValue)""# } ?? ""
            let dash = style.dash.isEmpty ? "" : #" stroke-dasharray="\#(style.dash.map(number).joined(separator: " "))""#
            let coordinates = points.map { "\(number($0.x)),\(number($0.y))" }.joined(separator: " ")
            return #"<polyline\#(identity) points="\#(coordinates)" fill="none" stroke="\#(color.hex)" "#
                + #"stroke-width="\#(number(style.width))"\#(dash) stroke-linecap="round" stroke-linejoin="round"/>"#
        case let .circle(center, radius, color):
            return #"<circle cx="\#(number(center.x))" cy="\#(number(center.y))" r="\#(number(radius))" fill="\#(color.hex)"/>"#
        case let .text(text, x, y, anchor, color, bold):
            let anchorName = switch anchor { case .start: "start"; case .middle: "middle"; case .end: "end" }
            return #"<text x="\#(number(x))" y="\#(number(y))" text-anchor="\#(anchorName)" fill="\#(color.hex)""#
                + (bold ? #" font-weight="bold""# : "") + ">\(escaped(text))</text>"
        }
    }

    /// Two decimals at most, without trailing zeros.
    private static func number(_ value: Double) -> String {
        var text = String(format: "%.2f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text == "-0" ? "0" : text
    }

    /// XML text: markup characters as entities, control characters (not allowed in XML) as '?'.
    private static func escaped(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 ? "?" : $0 }))
            .replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
