// What a run tells its user: progress lines on stdout and RUN_DIR/metrics.jsonl (one JSON object a
// line). Only rank 0 writes; other ranks speak only to report an error.
import Comm
import Data
import Foundation

final class RunLog {
    private let isWriter: Bool
    private let path: String
    private var metrics: FileHandle?

    init(runDirectory: String, isWriter: Bool, append: Bool) throws {
        self.isWriter = isWriter
        path = runDirectory + "/metrics.jsonl"
        guard isWriter else { return }
        if !append || !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw InputError("\(path): cannot create the metrics file")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw InputError("\(path): cannot open for writing") }
        handle.seekToEndOfFile()
        metrics = handle
    }

    /// Drops the entries of steps after `step`: a run resumed from that step's checkpoint logs
    /// them again. The file is rewritten atomically.
    func forget(after step: Int) throws {
        guard isWriter, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        let kept = text.split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let logged = object["step"] as? Int else { return true }
            return logged <= step
        }
        try? metrics?.close()
        do {
            try (kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw InputError("\(path): cannot rewrite: \(fileErrorReason(error))")
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw InputError("\(path): cannot open for writing") }
        handle.seekToEndOfFile()
        metrics = handle
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
    }

    deinit { try? metrics?.close() }
}

/// "1h02m", "4m05s", "12s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
