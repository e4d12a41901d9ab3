// The checkpoints of one run: RUN_DIR/checkpoints/step-<N>.wmx (N zero-padded to 8 digits so names
// sort), a pointer file RUN_DIR/checkpoints/latest holding the newest file's name and, in runs that
// select on a validation set, a pointer `best` to the selected one. save() writes atomically,
// updates the pointer atomically, removes stale temporary files of killed writers and keeps the
// newest `keep` checkpoints plus the one `best` names; newestValid() picks the newest checkpoint that passes every
// check, reporting each one it skips. Scans go by file name: the pointer may be missing or stale.
import Foundation

public struct CheckpointDirectory: Sendable {
    /// A checkpoint file found in the directory.
    public struct Entry: Sendable, Equatable {
        public let step: Int
        public let path: String
    }

    public static let latestPointerName = "latest"
    public static let bestPointerName = "best"

    public let runDirectory: String

    public init(runDirectory: String) {
        self.runDirectory = runDirectory
    }

    /// RUN_DIR/checkpoints.
    public var checkpointsDirectory: String { runDirectory + "/checkpoints" }

    /// "step-00000042.wmx".
    public static func fileName(step: Int) -> String {
        precondition(step >= 0, "steps are non-negative")
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + "." + CheckpointFormat.fileExtension
    }

    /// The step of a checkpoint file name, nil for any other name (temporary files, the pointer, foreign files).
    public static func step(fromFileName name: String) -> Int? {
        let prefix = "step-", suffix = "." + CheckpointFormat.fileExtension
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.count >= 8, digits.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return Int(digits)
    }

    /// Checkpoint files by ascending step; [] when the directory does not exist yet.
    public func checkpoints() throws(CheckpointError) -> [Entry] {
        let names: [String]
        do {
            names = try directoryEntries(checkpointsDirectory)
        } catch where error.code == ENOENT {
            return []
        } catch {
            throw CheckpointError(error, reportedAs: checkpointsDirectory)
        }
        return names.compactMap { name in
            Self.step(fromFileName: name).map { Entry(step: $0, path: checkpointsDirectory + "/" + name) }
        }.sorted { $0.step < $1.step }
    }

    /// The file name the `latest` pointer holds, nil when there is no pointer.
    public func latestPointer() -> String? { pointer(Self.latestPointerName) }

    /// The file name the `best` pointer holds, nil when there is none.
    public func bestPointer() -> String? { pointer(Self.bestPointerName) }

    /// Points `best` at step `step`'s checkpoint, which --keep then never removes.
    public func markBest(step: Int) throws(CheckpointError) {
        try writePointer(Self.bestPointerName, to: Self.fileName(step: step))
    }

    /// Removes the `best` pointer, if there is one.
    public func removeBestPointer() throws(CheckpointError) {
        let path = checkpointsDirectory + "/" + Self.bestPointerName
        guard unlink(path) == 0 || errno == ENOENT else {
            throw CheckpointError(SystemCallError(operation: "remove", path: path, code: errno), reportedAs: path)
        }
    }

    private func pointer(_ name: String) -> String? {
        guard let file = try? ReadOnlyFile(path: checkpointsDirectory + "/" + name),
              let bytes = try? file.bytes(at: 0, count: min(file.size, 4096)) else { return nil }
        let name = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return name.isEmpty ? nil : name
    }

    /// Writes `writer`'s checkpoint as step `step`, points `latest` at it, then removes all but the
    /// newest `keep` checkpoints (never the one just written, nor the one `best` names). Returns the checkpoint's path. On
    /// error no checkpoint that was there before is damaged and no temporary file is left.
    @discardableResult
    public func save(_ writer: CheckpointWriter, step: Int, keep: Int) throws(CheckpointError) -> String {
        precondition(keep >= 1, "keep at least one checkpoint")
        do {
            try makeDirectories(checkpointsDirectory)
        } catch {
            throw .notWritable(directory: checkpointsDirectory, reason: error.reason)
        }
        try removeStaleTemporaryFiles()
        let name = Self.fileName(step: step)
        let path = checkpointsDirectory + "/" + name
        try writer.write(to: path)
        try writePointer(Self.latestPointerName, to: name)
        let best = bestPointer()
        for entry in try checkpoints().dropLast(keep) where entry.step != step && fileNameOf(entry.path) != best {
            do {
                try removeFile(entry.path)
            } catch {
                throw CheckpointError(error, reportedAs: entry.path)
            }
        }
        return path
    }

    /// The newest checkpoint (by step) whose header, table, size and stored checksums are all
    /// valid, or nil when there is none. Each newer checkpoint skipped is passed to `onSkip`.
    public func newestValid(onSkip: (CheckpointError) -> Void = { _ in }) throws(CheckpointError) -> CheckpointReader? {
        for entry in try checkpoints().reversed() {
            do throws(CheckpointError) {
                let reader = try CheckpointReader(contentsOf: entry.path)
                try reader.verify()
                return reader
            } catch {
                onSkip(error)
            }
        }
        return nil
    }

    /// Moves the checkpoints of steps after `step` into checkpoints/abandoned-after-step-<N>[-K]/
    /// and points `latest` at step `step`'s file when this directory holds it. A run continued from
    /// an older checkpoint starts a new branch: `--resume auto` and the `--keep` pruning must see
    /// that branch only, and nothing of the old one is deleted. Returns where they went, nil when
    /// there were none.
    public func setAside(after step: Int) throws(CheckpointError) -> String? {
        let newer = try checkpoints().filter { $0.step > step }
        guard !newer.isEmpty else { return nil }
        let base = checkpointsDirectory + "/abandoned-after-" + Self.fileName(step: step).dropLast(CheckpointFormat.fileExtension.count + 1)
        var target = base, attempt = 1
        while FileManager.default.fileExists(atPath: target) { attempt += 1; target = base + "-\(attempt)" }
        do throws(SystemCallError) {
            try makeDirectories(target)
            for entry in newer where rename(entry.path, target + "/" + fileNameOf(entry.path)) != 0 {
                throw SystemCallError(operation: "move", path: entry.path, code: errno)
            }
            try? syncDirectory(checkpointsDirectory)
        } catch {
            throw CheckpointError(error, reportedAs: target)
        }
        if FileManager.default.fileExists(atPath: checkpointsDirectory + "/" + Self.fileName(step: step)) {
            try writePointer(Self.latestPointerName, to: Self.fileName(step: step))
        }
        return target
    }

    private func writePointer(_ pointer: String, to name: String) throws(CheckpointError) {
        let pointerPath = checkpointsDirectory + "/" + pointer
        let contents = Array((name + "\n").utf8)
        do throws(SystemCallError) {
            let file = try TemporaryFile(finalPath: pointerPath)
            try file.write(contents, at: 0)
            try file.commit()
        } catch {
            throw CheckpointError(error, reportedAs: pointerPath)
        }
    }

    /// Removes ".NAME.tmp-PID" files that writers killed mid-save left behind.
    private func removeStaleTemporaryFiles() throws(CheckpointError) {
        do throws(SystemCallError) {
            for name in try directoryEntries(checkpointsDirectory) where name.hasPrefix(".") && name.contains(TemporaryFile.infix) {
                try removeFile(checkpointsDirectory + "/" + name)
            }
        } catch {
            throw CheckpointError(error, reportedAs: checkpointsDirectory)
        }
    }
}
