// What a run tells its user: progress lines on stdout, RUN_DIR/metrics.jsonl (one JSON object a
// line), RUN_DIR/summary.csv (one row per epoch) and, when asked, TensorBoard event files in
// RUN_DIR/tensorboard (the metrics records as scalars: train/loss, val/top1, test/top1, ...). Only rank 0 writes; other ranks speak only to
// report an error. A resumed run first forgets what came after its checkpoint, then logs it again.
import Comm
import Data
import Foundation

final class RunLog {
    private let isWriter: Bool
    private let path: String
    private let summaryPath: String
    private var metrics: FileHandle?
    private var summary: FileHandle?
    private var tensorBoard: TensorBoardWriter?

    init(layout: RunLayout, isWriter: Bool, append: Bool, tensorBoard: Bool = false) throws {
        self.isWriter = isWriter
        path = layout.metrics
        summaryPath = layout.summary
        guard isWriter else { return }
        metrics = try Self.open(path, append: append, header: nil)
        summary = try Self.open(summaryPath, append: append, header: SummaryRow.header)
        if tensorBoard { self.tensorBoard = try TensorBoardWriter(directory: layout.tensorBoard) }
    }

    /// metrics.jsonl keys and the TensorBoard tags they are shown under.
    static let tensorBoardTags = [
        "loss": "train/loss", "lr": "train/lr", "images_per_second": "train/images_per_second",
        "val_loss": "val/loss", "val_top1": "val/top1", "val_top5": "val/top5",
        "eval_loss": "test/loss", "eval_top1": "test/top1", "eval_top5": "test/top5",
    ]

    /// Opens `path` for appending; a new (or, without `append`, emptied) file starts with `header`.
    private static func open(_ path: String, append: Bool, header: String?) throws -> FileHandle {
        if !append || !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: header.map { Data(($0 + "\n").utf8) }) else {
                throw InputError("\(path): cannot create")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw InputError("\(path): cannot open for writing") }
        handle.seekToEndOfFile()
        return handle
    }

    /// Drops the entries of steps after `step` from metrics.jsonl and summary.csv: a run resumed
    /// from that step's checkpoint logs them again. Unless the run had completed at that
    /// checkpoint, the selected model's test result goes too: the run's end writes it again. The
    /// files are rewritten atomically.
    func forget(after step: Int, runCompleted: Bool) throws {
        guard isWriter else { return }
        metrics = try Self.rewrite(path, handle: metrics) { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let logged = object["step"] as? Int else { return true }
            return logged <= step && (runCompleted || object["selected_step"] == nil)
        }
        summary = try Self.rewrite(summaryPath, handle: summary) { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count > 3, let logged = Int(fields[1]) else { return true }  // the header
            // The selected model's row is the one without a training loss.
            return logged <= step && (runCompleted || !fields[3].isEmpty)
        }
    }

    /// Keeps the lines of `path` that `keep` accepts, and reopens it for appending.
    private static func rewrite(_ path: String, handle: FileHandle?, keep: (Substring) -> Bool) throws -> FileHandle? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return handle }
        let kept = text.split(separator: "\n").filter(keep)
        try? handle?.close()
        do {
            try (kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw InputError("\(path): cannot rewrite: \(fileErrorReason(error))")
        }
        return try open(path, append: true, header: nil)
    }

    /// Appends one row to summary.csv; the TensorBoard events so far reach their file.
    func summaryRow(_ row: SummaryRow) {
        summary?.write(Data((row.csvLine + "\n").utf8))
        flushTensorBoard()
    }

    func flushTensorBoard() {
        do { try tensorBoard?.flush() } catch {
            line("warning: \(error); TensorBoard logging stops")
            tensorBoard = nil
        }
    }

    func line(_ text: String) {
        if isWriter { Console.out(text) }
    }

    /// Appends one JSON object to metrics.jsonl, keys sorted. JSON has no NaN or infinity: such a
    /// number is written as null, so no record is ever dropped.
    func record(_ fields: [String: Any]) {
        guard let metrics else { return }
        let fields = fields.mapValues { value -> Any in
            if let number = value as? Double, !number.isFinite { return NSNull() }
            if let number = value as? Float, !number.isFinite { return NSNull() }
            return value
        }
        guard var data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else {
            line("warning: cannot write a metrics record: \(fields)")
            return
        }
        data.append(0x0A)
        metrics.write(data)
        if let tensorBoard, let step = fields["step"] as? Int {
            let scalars = fields.keys.sorted().compactMap { key in
                Self.tensorBoardTags[key].flatMap { tag in (fields[key] as? Double).map { (tag: tag, value: $0) } }
            }
            tensorBoard.scalars(scalars, step: step)
        }
    }

    deinit {
        flushTensorBoard()
        try? metrics?.close()
        try? summary?.close()
    }
}

/// One row of summary.csv: an epoch's training loss, its evaluations, learning rate, training
/// speed and the run's wall time so far (over every sitting). Empty cells: not measured. A run that
/// selects on a validation split ends with one more row: the selected model's epoch and step with
/// its test result only.
struct SummaryRow {
    static let header = "epoch,step,phase,train_loss,val_loss,val_top1,val_top5,test_loss,test_top1,test_top5,lr,"
        + "images_per_second,elapsed_seconds"

    var epoch: Int
    var step: Int
    var phase: Int
    var trainLoss: Double?
    var validation: EvaluationResult?
    var test: EvaluationResult?
    var learningRate: Double?
    var imagesPerSecond: Double?
    var elapsedSeconds: Double

    var csvLine: String {
        // Shortest text that reads back as the same Double; NaN and infinities as Swift spells them.
        func cell(_ value: Double?) -> String { value.map { "\($0)" } ?? "" }
        return ["\(epoch)", "\(step)", "\(phase)", cell(trainLoss),
                cell(validation?.loss), cell(validation?.top1), cell(validation?.top5),
                cell(test?.loss), cell(test?.top1), cell(test?.top5),
                cell(learningRate), cell(imagesPerSecond), cell(elapsedSeconds)].joined(separator: ",")
    }
}

/// "1h02m", "4m05s", "12s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
