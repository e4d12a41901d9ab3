// The figure of `wavemix plot` as shapes: a legend on top (a colour per run, a line style per split:
// train solid, val dashed, test dotted), then the four panels in a 2 x 2 grid, each with a title,
// grid lines, numbered ticks and every run's series. Text is measured in the bitmap font's cells,
// so the SVG (a monospace font of the same advance) and the PNG share one layout.
import Foundation

struct Figure {
    let width: Int
    let height: Int
    private(set) var shapes: [Shape] = []

    /// Matplotlib's "tab10" colours, a run each (repeating after ten runs).
    static let palette: [Color] = [0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD,
                                   0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF].map(Color.init)
    private static let margin = 16.0
    private static let lineHeight = 18.0

    init(runs: [RunSummary], x axis: XAxis, width: Int = 1200, height: Int = 900) {
        self.width = width
        self.height = height
        shapes.append(.rect(x: 0, y: 0, width: Double(width), height: Double(height), color: .white))
        let scale = HorizontalScale(axis, runs: runs)
        let series = PanelSpec.all.map { panel in
            runs.map { run in panel.series.map { spec in (spec: spec, points: spec.points(of: run, x: scale)) } }
        }
        let xs = series.flatMap { $0.flatMap { $0.flatMap { $0.points.map(\.x) } } }
        let xTicks = Ticks(low: xs.min() ?? 0, high: xs.max() ?? 1, integral: scale.integral)

        let top = drawLegend(runs: runs) + 8
        let cellWidth = (Double(width) - 2 * Self.margin) / 2
        let cellHeight = (Double(height) - top - Self.margin) / 2
        for (index, panel) in PanelSpec.all.enumerated() {
            let cell = (x: Self.margin + Double(index % 2) * cellWidth, y: top + Double(index / 2) * cellHeight)
            drawPanel(panel, series: series[index], runs: runs, xTicks: xTicks, xLabel: scale.label,
                      cell: (cell.x, cell.y, cellWidth, cellHeight))
        }
    }

    static func textWidth(_ text: String) -> Double { Double(text.count * BitmapFont.advance) }

    /// Draws the legend rows from the top; returns their bottom.
    private mutating func drawLegend(runs: [RunSummary]) -> Double {
        let sample = 28.0, gap = 22.0
        var items = runs.enumerated().map { index, run in
            (label: run.name, color: Self.palette[index % Self.palette.count], style: LineStyle(width: 3, dash: []), split: Split?.none)
        }
        items += Split.allCases.map { (label: $0.rawValue, color: Color.frame, style: $0.style, split: $0) }
        var x = Self.margin, baseline = Self.margin + 10
        for item in items {
            let itemWidth = sample + 6 + Self.textWidth(item.label)
            if x > Self.margin, x + itemWidth > Double(width) - Self.margin {
                x = Self.margin
                baseline += Self.lineHeight
            }
            let middle = baseline - 4
            shapes.append(.polyline(points: [Point(x: x, y: middle), Point(x: x + sample, y: middle)], color: item.color,
                                    style: item.style, series: nil))
            if item.split == .test {
                shapes += Self.marker(at: Point(x: x + sample / 2, y: middle), color: item.color, split: .test)
            }
            shapes.append(.text(item.label, x: x + sample + 6, y: baseline, anchor: .start, color: .text, bold: false))
            x += itemWidth + gap
        }
        return baseline + 6
    }

    /// A dot, or for test values a ring.
    private static func marker(at center: Point, color: Color, split: Split) -> [Shape] {
        guard split == .test else { return [.circle(center: center, radius: 3, color: color)] }
        return [.circle(center: center, radius: 4.5, color: color), .circle(center: center, radius: 2.5, color: .white)]
    }

    private mutating func drawPanel(_ panel: PanelSpec, series: [[(spec: SeriesSpec, points: [(x: Double, y: Double)])]],
                                    runs: [RunSummary], xTicks: Ticks, xLabel: String,
                                    cell: (x: Double, y: Double, width: Double, height: Double)) {
        let ys = series.flatMap { $0.flatMap { $0.points.map(\.y) } }
        let yTicks = Ticks(low: ys.min() ?? 0, high: ys.max() ?? 1)
        let area = PlotArea(left: cell.x + (yTicks.labels.map(Self.textWidth).max() ?? 0) + 14, right: cell.x + cell.width - 16,
                            top: cell.y + 28, bottom: cell.y + cell.height - 40, xTicks: xTicks, yTicks: yTicks)
        shapes.append(.text(panel.title, x: (area.left + area.right) / 2, y: cell.y + 16, anchor: .middle, color: .text, bold: true))
        drawAxes(area, xLabel: xLabel)
        guard !ys.isEmpty else {
            shapes.append(.text("no data", x: (area.left + area.right) / 2, y: (area.top + area.bottom) / 2, anchor: .middle,
                                color: .frame, bold: false))
            return
        }
        for (index, run) in runs.enumerated() {
            let color = Self.palette[index % Self.palette.count]
            for (spec, points) in series[index] where !points.isEmpty {
                let pixels = points.map { area.pixel(x: $0.x, y: $0.y) }
                shapes.append(.polyline(points: pixels, color: color, style: spec.split.style,
                                        series: SeriesID(run: run.name, column: spec.column)))
                // Test values (often one, the selected model's) are rings; short series get a dot per value.
                if spec.split == .test || pixels.count <= 12 {
                    shapes += pixels.flatMap { Self.marker(at: $0, color: color, split: spec.split) }
                }
            }
        }
    }

    /// Grid lines, frame, ticks and their numbers, and the horizontal axis' name. The lines sit on
    /// whole pixels, so they stay sharp in the PNG.
    private mutating func drawAxes(_ area: PlotArea, xLabel: String) {
        for (tick, label) in zip(area.xTicks.values, area.xTicks.labels) {
            let x = area.pixel(x: tick, y: area.yTicks.lower).x.rounded(.down)
            shapes.append(.rect(x: x, y: area.top, width: 1, height: area.bottom - area.top, color: .grid))
            shapes.append(.rect(x: x, y: area.bottom, width: 1, height: 5, color: .frame))
            shapes.append(.text(label, x: x + 0.5, y: area.bottom + 17, anchor: .middle, color: .text, bold: false))
        }
        for (tick, label) in zip(area.yTicks.values, area.yTicks.labels) {
            let y = area.pixel(x: area.xTicks.lower, y: tick).y.rounded(.down)
            shapes.append(.rect(x: area.left, y: y, width: area.right - area.left, height: 1, color: .grid))
            shapes.append(.rect(x: area.left - 5, y: y, width: 5, height: 1, color: .frame))
            shapes.append(.text(label, x: area.left - 8, y: y + 5, anchor: .end, color: .text, bold: false))
        }
        shapes.append(.text(xLabel, x: (area.left + area.right) / 2, y: area.bottom + 33, anchor: .middle, color: .text, bold: false))
        let (l, r, t, b) = (area.left.rounded(.down), area.right.rounded(.down), area.top.rounded(.down), area.bottom.rounded(.down))
        shapes += [.rect(x: l, y: t, width: r - l + 1, height: 1, color: .frame), .rect(x: l, y: b, width: r - l + 1, height: 1, color: .frame),
                   .rect(x: l, y: t, width: 1, height: b - t, color: .frame), .rect(x: r, y: t, width: 1, height: b - t, color: .frame)]
    }
}

/// A panel's plotting rectangle in pixels and the axis ranges it shows.
private struct PlotArea {
    let left: Double, right: Double, top: Double, bottom: Double
    let xTicks: Ticks, yTicks: Ticks

    func pixel(x: Double, y: Double) -> Point {
        Point(x: left + (x - xTicks.lower) / (xTicks.upper - xTicks.lower) * (right - left),
              y: bottom - (y - yTicks.lower) / (yTicks.upper - yTicks.lower) * (bottom - top))
    }
}
