// The figure as 8-bit RGB pixels (rows top to bottom) for the PNG. Lines and dots are anti-aliased
// by coverage: a pixel is covered by how far its centre lies inside the stroke (a capsule around
// each segment, so joins and caps are round), blended over what is below. A polyline's coverage is
// gathered first, taking the largest per pixel, so segments that meet do not darken their joins.
// Rectangles cover by area; text is the bitmap font, unscaled.
import Foundation

struct Rasterizer {
    let width: Int
    let height: Int
    private(set) var pixels: [UInt8]
    /// Coverage of the polyline being drawn, zero outside `dirty`.
    private var coverage: [Float]
    private var dirty: (x0: Int, y0: Int, x1: Int, y1: Int)?

    static func render(_ figure: Figure) -> [UInt8] {
        var raster = Rasterizer(width: figure.width, height: figure.height)
        for shape in figure.shapes { raster.draw(shape) }
        return raster.pixels
    }

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
        coverage = [Float](repeating: 0, count: width * height)
    }

    mutating func draw(_ shape: Shape) {
        switch shape {
        case let .rect(x, y, width, height, color): fillRect(x: x, y: y, width: width, height: height, color: color)
        case let .polyline(points, color, style, _): stroke(points, color: color, style: style)
        case let .circle(center, radius, color): fillCircle(center, radius: radius, color: color)
        case let .text(text, x, y, anchor, color, bold): drawText(text, x: x, baseline: y, anchor: anchor, color: color, bold: bold)
        }
    }

    private mutating func blend(_ x: Int, _ y: Int, _ color: Color, _ alpha: Float) {
        guard x >= 0, y >= 0, x < width, y < height, alpha > 0 else { return }
        let a = min(alpha, 1), i = (y * width + x) * 3
        func mix(_ below: UInt8, _ above: UInt8) -> UInt8 { UInt8((Float(below) * (1 - a) + Float(above) * a).rounded()) }
        pixels[i] = mix(pixels[i], color.red)
        pixels[i + 1] = mix(pixels[i + 1], color.green)
        pixels[i + 2] = mix(pixels[i + 2], color.blue)
    }

    private mutating func fillRect(x: Double, y: Double, width w: Double, height h: Double, color: Color) {
        for py in max(0, Int(y.rounded(.down)))..<min(height, Int((y + h).rounded(.up))) {
            let coverY = min(Double(py + 1), y + h) - max(Double(py), y)
            for px in max(0, Int(x.rounded(.down)))..<min(width, Int((x + w).rounded(.up))) {
                let coverX = min(Double(px + 1), x + w) - max(Double(px), x)
                blend(px, py, color, Float(coverX * coverY))
            }
        }
    }

    private mutating func fillCircle(_ center: Point, radius: Double, color: Color) {
        for py in Int((center.y - radius - 1).rounded(.down))...Int((center.y + radius + 1).rounded(.up)) {
            for px in Int((center.x - radius - 1).rounded(.down))...Int((center.x + radius + 1).rounded(.up)) {
                let distance = hypot(Double(px) + 0.5 - center.x, Double(py) + 0.5 - center.y)
                blend(px, py, color, Float(radius + 0.5 - distance))
            }
        }
    }

    /// Draws the polyline, cut into dashes by `style.dash` (drawn and skipped lengths in turn).
    private mutating func stroke(_ points: [Point], color: Color, style: LineStyle) {
        let halfWidth = style.width / 2
        var dashIndex = 0
        var dashLeft = style.dash.first ?? .infinity
        for (a, b) in zip(points, points.dropFirst()) {
            let length = hypot(b.x - a.x, b.y - a.y)
            guard length > 0 else { continue }
            var done = 0.0
            while done < length {
                let run = min(dashLeft, length - done)
                if dashIndex % 2 == 0 {
                    let from = done / length, to = (done + run) / length
                    cover(Point(x: a.x + (b.x - a.x) * from, y: a.y + (b.y - a.y) * from),
                          Point(x: a.x + (b.x - a.x) * to, y: a.y + (b.y - a.y) * to), halfWidth: halfWidth)
                }
                done += run
                dashLeft -= run
                if dashLeft <= 0 {
                    dashIndex = (dashIndex + 1) % style.dash.count
                    dashLeft = style.dash[dashIndex]
                }
            }
        }
        composite(color)
    }

    /// Adds the capsule of radius `halfWidth` around segment a-b to the coverage.
    private mutating func cover(_ a: Point, _ b: Point, halfWidth: Double) {
        let reach = halfWidth + 1
        let x0 = max(0, Int((min(a.x, b.x) - reach).rounded(.down))), x1 = min(width - 1, Int((max(a.x, b.x) + reach).rounded(.up)))
        let y0 = max(0, Int((min(a.y, b.y) - reach).rounded(.down))), y1 = min(height - 1, Int((max(a.y, b.y) + reach).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        dirty = dirty.map { (min($0.x0, x0), min($0.y0, y0), max($0.x1, x1), max($0.y1, y1)) } ?? (x0, y0, x1, y1)
        let dx = b.x - a.x, dy = b.y - a.y
        let lengthSquared = dx * dx + dy * dy
        for py in y0...y1 {
            for px in x0...x1 {
                let cx = Double(px) + 0.5 - a.x, cy = Double(py) + 0.5 - a.y
                let t = lengthSquared > 0 ? min(1, max(0, (cx * dx + cy * dy) / lengthSquared)) : 0
                let distance = hypot(cx - t * dx, cy - t * dy)
                let value = Float(min(1, max(0, halfWidth + 0.5 - distance)))
                coverage[py * width + px] = max(coverage[py * width + px], value)
            }
        }
    }

    /// Blends `color` by the gathered coverage and clears it.
    private mutating func composite(_ color: Color) {
        guard let box = dirty else { return }
        for py in box.y0...box.y1 {
            for px in box.x0...box.x1 where coverage[py * width + px] > 0 {
                blend(px, py, color, coverage[py * width + px])
                coverage[py * width + px] = 0
            }
        }
        dirty = nil
    }

    private mutating func drawText(_ text: String, x: Double, baseline: Double, anchor: TextAnchor, color: Color, bold: Bool) {
        let textWidth = Figure.textWidth(text)
        let left = switch anchor { case .start: x; case .middle: x - textWidth / 2; case .end: x - textWidth }
        let top = Int(baseline.rounded()) - BitmapFont.ascent
        for (index, character) in text.enumerated() {
            let glyphLeft = Int(left.rounded()) + index * BitmapFont.advance
            for (row, bits) in BitmapFont.glyph(character, bold: bold).enumerated() where bits != 0 {
                for column in 0..<BitmapFont.advance where bits & (0x80 >> column) != 0 {
                    blend(glyphLeft + column, top + row, color, 1)
                }
            }
        }
    }
}
