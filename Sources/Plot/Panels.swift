// What `wavemix plot` draws, as a table: four panels (loss, top-1, learning rate, images/s), each
// naming the summary columns it shows and how, and the points of a run's series against the chosen
// horizontal axis.
import Foundation

/// The horizontal axis: the epoch, the optimizer step, or the run's training + evaluation time.
public enum XAxis: String, CaseIterable, Sendable {
    case epoch, step, time
}

struct PanelSpec {
    let title: String
    let series: [SeriesSpec]

    static let all = [
        PanelSpec(title: "loss", series: [SeriesSpec(.trainLoss, .train), SeriesSpec(.valLoss, .val), SeriesSpec(.testLoss, .test)]),
        PanelSpec(title: "top-1 accuracy (%)", series: [SeriesSpec(.valTop1, .val, scale: 100), SeriesSpec(.testTop1, .test, scale: 100)]),
        PanelSpec(title: "learning rate", series: [SeriesSpec(.lr, .train)]),
        PanelSpec(title: "training images/s", series: [SeriesSpec(.imagesPerSecond, .train)]),
    ]
}

/// Which split a value belongs to; it decides the line style.
enum Split: String, CaseIterable {
    case train, val, test

    var style: LineStyle {
        switch self {
        case .train: return .solid
        case .val: return .dashed
        case .test: return .dotted
        }
    }
}

struct SeriesSpec {
    let column: SummaryColumn
    let split: Split
    /// Multiplies the stored value (100 shows a fraction as percent).
    let scale: Double

    init(_ column: SummaryColumn, _ split: Split, scale: Double = 1) {
        self.column = column
        self.split = split
        self.scale = scale
    }

    /// The rows that have both this column and the horizontal axis, in file order. NaN, infinite and
    /// astronomically large values are left out: they have no place on a linear axis.
    func points(of run: RunSummary, x: HorizontalScale) -> [(x: Double, y: Double)] {
        run.rows.compactMap { row in
            guard let xValue = row[x.column], let yValue = row[column] else { return nil }
            let point = (x: xValue / x.divisor, y: yValue * scale)
            return abs(point.x) <= 1e300 && abs(point.y) <= 1e300 ? point : nil
        }
    }
}

/// The horizontal axis in its unit: time in seconds, minutes or hours, whichever keeps the numbers short.
struct HorizontalScale {
    let column: SummaryColumn
    let divisor: Double
    let label: String
    /// Whether ticks between whole numbers make no sense (epochs, steps).
    let integral: Bool

    init(_ axis: XAxis, runs: [RunSummary]) {
        switch axis {
        case .epoch:
            (column, divisor, label, integral) = (.epoch, 1, "epoch", true)
        case .step:
            (column, divisor, label, integral) = (.step, 1, "optimizer step", true)
        case .time:
            let longest = runs.flatMap { $0.rows.compactMap { $0[.elapsedSeconds] } }.filter(\.isFinite).max() ?? 0
            let (divisor, unit) = longest >= 3 * 3600 ? (3600.0, "hours") : longest >= 120 ? (60.0, "minutes") : (1.0, "seconds")
            (column, self.divisor, label, integral) = (.elapsedSeconds, divisor, "training + evaluation time (\(unit))", false)
        }
    }
}
