// Every error of `wavemix plot`'s inputs: one line naming the run directory or file at fault and,
// for a malformed summary.csv, the line and column.

public enum PlotError: Error, Equatable, CustomStringConvertible {
    /// A run directory given on the command line does not exist.
    case noRunDirectory(path: String)
    /// A run directory holds no summary.csv.
    case noSummary(file: String)
    /// summary.csv exists but cannot be read.
    case unreadable(file: String, reason: String)
    /// A line of summary.csv is malformed.
    case badSummary(file: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case let .noRunDirectory(path):
            return "\(path): no such run directory"
        case let .noSummary(file):
            return "\(file) not found; `wavemix train` writes it after each epoch"
        case let .unreadable(file, reason):
            return "\(file): cannot read: \(reason)"
        case let .badSummary(file, line, reason):
            return "\(file): line \(line): \(reason)"
        }
    }
}
