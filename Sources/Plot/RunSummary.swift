// A run's RUN_DIR/summary.csv as `wavemix train` writes it: a header line, then a row per epoch (and
// maybe a last row with only the test columns, the selected model's test). Cells are read by column
// name; an empty cell is a value that was not measured, and columns this reader does not know are
// ignored.
import Data
import Foundation

public enum SummaryColumn: String, CaseIterable, Sendable {
    case epoch, step, phase
    case trainLoss = "train_loss"
    case valLoss = "val_loss", valTop1 = "val_top1", valTop5 = "val_top5"
    case testLoss = "test_loss", testTop1 = "test_top1", testTop5 = "test_top5"
    case lr
    case imagesPerSecond = "images_per_second"
    case elapsedSeconds = "elapsed_seconds"
}

public struct RunSummary: Sendable {
    /// The run's name in legends: its directory's last path component.
    public let name: String
    /// One entry per data row, holding the cells that have a value.
    public let rows: [[SummaryColumn: Double]]

    /// Reads RUN_DIRECTORY/summary.csv.
    public static func read(runDirectory: String) throws(PlotError) -> RunSummary {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: runDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .noRunDirectory(path: runDirectory)
        }
        let file = URL(fileURLWithPath: runDirectory).appendingPathComponent("summary.csv").path
        guard FileManager.default.fileExists(atPath: file) else { throw .noSummary(file: file) }
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw .unreadable(file: file, reason: fileErrorReason(error))
        }
        let name = URL(fileURLWithPath: runDirectory).standardizedFileURL.lastPathComponent
        return try RunSummary(name: name, csv: text, file: file)
    }

    /// Parses summary.csv text; `file` names it in errors.
    public init(name: String, csv: String, file: String) throws(PlotError) {
        self.name = name
        // "\r\n" is one Character, a newline as "\n" is.
        let lines = csv.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        guard let header = lines.first, !header.allSatisfy(\.isWhitespace) else {
            throw .badSummary(file: file, line: 1, reason: "empty, expected the header line (epoch,step,phase,...)")
        }
        let names = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard names.contains(SummaryColumn.epoch.rawValue) else {
            throw .badSummary(file: file, line: 1, reason: "not a summary header: no 'epoch' column (expected epoch,step,phase,...)")
        }
        var columns: [SummaryColumn?] = []
        for name in names {
            let column = SummaryColumn(rawValue: name)
            if let column, columns.contains(column) { throw .badSummary(file: file, line: 1, reason: "column '\(name)' appears twice") }
            columns.append(column)
        }
        var rows: [[SummaryColumn: Double]] = []
        for (index, line) in lines.enumerated().dropFirst() where !line.allSatisfy(\.isWhitespace) {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == columns.count else {
                throw .badSummary(file: file, line: index + 1, reason: "\(cells.count) cells, the header has \(columns.count)")
            }
            var row: [SummaryColumn: Double] = [:]
            for (position, (column, cell)) in zip(columns, cells).enumerated() {
                let text = cell.trimmingCharacters(in: .whitespaces)
                guard let column, !text.isEmpty else { continue }
                guard let value = Double(text) else {
                    throw .badSummary(file: file, line: index + 1,
                                      reason: "column \(position + 1) (\(column.rawValue)): '\(text)' is not a number")
                }
                row[column] = value
            }
            rows.append(row)
        }
        self.rows = rows
    }
}
