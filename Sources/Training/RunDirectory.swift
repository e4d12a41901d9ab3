// The run directory: chosen once (rank 0 picks the default name and tells everyone), created by
// rank 0, and config.json written there atomically. A directory that already holds a run is
// refused rather than overwritten.
import Comm
import Data
import Foundation
import Kernels

public enum RunDirectory {
    /// Creates the directory (rank 0) and returns its path on every rank. `resuming` accepts a
    /// directory that already holds a run.
    public static func prepare(_ requested: String?, dataName: String, comm: Communicator, resuming: Bool = false) throws -> String {
        try create(requested, dataName: dataName, comm: comm, resuming: resuming).path
    }

    /// `prepare`, also telling (on rank 0) whether this call created the directory itself: only
    /// then may a failed start remove it whole.
    public static func create(_ requested: String?, dataName: String, comm: Communicator,
                              resuming: Bool = false) throws -> (path: String, created: Bool) {
        var created = false
        var path = requested ?? ""
        if comm.rank == 0 && requested == nil {
            let stamp = DateFormatter()
            stamp.dateFormat = "yyyyMMdd-HHmmss"
            stamp.locale = Locale(identifier: "en_US_POSIX")
            path = "runs/\(dataName)-\(stamp.string(from: Date()))"
        }
        if comm.size > 1 { path = String(decoding: try comm.broadcast(Array(path.utf8), root: 0), as: UTF8.self) }
        var failure = ""
        if comm.rank == 0 {
            let manager = FileManager.default
            var isDirectory: ObjCBool = false
            let layout = RunLayout(path)
            if !resuming && (manager.fileExists(atPath: layout.metrics) || manager.fileExists(atPath: layout.checkpoints.checkpointsDirectory)) {
                failure = "\(path) already holds a run; continue it with --resume auto, or choose another --run-dir (nothing was changed there)"
            } else if manager.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue {
                failure = "\(path) exists and is not a directory"
            } else {
                do {
                    let parent = (path as NSString).deletingLastPathComponent
                    if !parent.isEmpty { try manager.createDirectory(atPath: parent, withIntermediateDirectories: true) }
                    // mkdir itself says whether the leaf is new: another job may have made it a moment ago.
                    if mkdir(path, 0o755) == 0 {
                        created = true
                    } else if errno != EEXIST {
                        failure = "\(path): cannot create the run directory: \(String(cString: strerror(errno)))"
                    }
                } catch {
                    failure = "\(path): cannot create the run directory: \(fileErrorReason(error))"
                }
            }
        }
        if comm.size > 1 { failure = String(decoding: try comm.broadcast(Array(failure.utf8), root: 0), as: UTF8.self) }
        if !failure.isEmpty { throw InputError(failure) }
        return (path, created)
    }

    /// Takes back what a run that failed before its first step wrote (rank 0), so that the same
    /// command can be run again: the directory if this command created it, else the paths in
    /// `written`, which the caller names only when they did not exist before it wrote them.
    public static func discardUnstarted(_ path: String, created: Bool, written: [String], comm: Communicator) {
        guard comm.rank == 0 else { return }
        if created {
            try? FileManager.default.removeItem(atPath: path)
        } else {
            for file in written { try? FileManager.default.removeItem(atPath: file) }
        }
    }

    /// RUN_DIR/config.json: the options, the world size and the kernels rank 0 runs (CPU, OpenBLAS
    /// kernel set, element loops), written by rank 0 via a temporary file.
    public static func writeConfig(_ options: TrainingOptions, worldSize: Int, comm: Communicator) throws {
        guard comm.rank == 0 else { return }
        struct File: Encodable { let options: TrainingOptions; let worldSize: Int; let version: String; let kernels: KernelSelection
            enum CodingKeys: String, CodingKey { case options, worldSize = "world_size", version, kernels } }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(File(options: options, worldSize: worldSize, version: libraryVersion,
                                            kernels: KernelSelection.current))
        let path = RunLayout(options.runDirectory).config
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw InputError("\(path): cannot write: \(fileErrorReason(error))")
        }
    }
}

/// The version of wavemix-swift, recorded in run configurations and checkpoints.
public let libraryVersion = "0.1.0"
