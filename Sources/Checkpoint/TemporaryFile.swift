// Atomic replacement of a file: the bytes go to `.NAME.tmp-PID` in the same directory, are fsynced,
// and the temporary file is renamed over NAME, after which the directory is fsynced. Until commit()
// the final path is untouched; a TemporaryFile discarded or released without commit() removes its
// file, and a process killed mid-write leaves only the hidden temporary file, which scans ignore.
//
// A file can also be opened for direct I/O (a second descriptor with O_DIRECT, on ext4 and xfs):
// writes of whole aligned blocks then go from the caller's memory to the disk without being copied
// into the page cache. That copy was the largest single cost of a checkpoint save here: 25% of the
// samples of a profiled save, 0.07-0.36 s of system time per 280 MB (up to 0.6 s), against
// 0.01-0.04 s with O_DIRECT. Other file systems (tmpfs refuses O_DIRECT; with network file systems
// it can be slower) get the buffered path.
import Foundation
#if os(Linux)
import CFileSystem
import PositionalIO
#endif

/// Threads may call write(_:at:) concurrently for disjoint ranges (pwrite on one descriptor is
/// thread-safe); writeDirect(_:at:), which may give up direct I/O, one thread at a time; commit()
/// or discard() once, by the owner, after all writes. Hence @unchecked Sendable.
final class TemporaryFile: @unchecked Sendable {
    let finalPath: String
    let path: String
    private let descriptor: Int32
    /// A second descriptor of the same file opened with O_DIRECT, or -1.
    private var directDescriptor: Int32 = -1
    private var committed = false
    private var discarded = false

    /// Name prefix and infix that mark temporary files (".NAME.tmp-PID").
    static let infix = ".tmp-"

    /// Offsets, lengths and addresses of direct writes are multiples of this (the page size, which
    /// every block size of the file systems used here divides).
    static let directAlignment = 4096

    static func temporaryPath(for finalPath: String) -> String {
        let directory = directoryOf(finalPath)
        return "\(directory)/.\(fileNameOf(finalPath))\(infix)\(getpid())"
    }

    /// With `directIO`, also opens the file for direct I/O if it lies on ext4 or xfs and the open succeeds.
    init(finalPath: String, directIO: Bool = false) throws(SystemCallError) {
        self.finalPath = finalPath
        self.path = TemporaryFile.temporaryPath(for: finalPath)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if descriptor < 0 { throw SystemCallError(operation: "create", path: path, code: errno) }
        self.descriptor = descriptor
        #if os(Linux)
        if directIO && Self.supportsDirectIO(descriptor) {
            directDescriptor = open(path, O_WRONLY | O_CLOEXEC | __O_DIRECT)  // -1 where refused: buffered it is
        }
        #endif
    }

    deinit {
        closeDirect()
        if !committed {
            close(descriptor)
            if !discarded { unlink(path) }
        }
    }

    /// Removes the file now instead of when the last reference goes, which may be later than the
    /// owner's (a thread that wrote to it can still be winding down); nothing once committed.
    func discard() {
        guard !committed && !discarded else { return }
        discarded = true
        closeDirect()
        unlink(path)
    }

    private func closeDirect() {
        if directDescriptor >= 0 { close(directDescriptor) }
        directDescriptor = -1
    }

    /// Whether write(direct:at:) goes around the page cache.
    var isDirect: Bool { directDescriptor >= 0 }

    #if os(Linux)
    /// ext4 and xfs: local file systems whose O_DIRECT writes go straight to the block device.
    private static func supportsDirectIO(_ descriptor: Int32) -> Bool {
        var info = statfs()
        guard fstatfs(descriptor, &info) == 0 else { return false }
        return [0xEF53, 0x5846_5342].contains(Int(info.f_type))
    }
    #endif

    /// Writes all of `bytes` at `offset`; safe to call from several threads for disjoint ranges.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SystemCallError) {
        try writeAll(bytes, at: offset, to: descriptor)
        #if os(Linux)
        // Starts writeback of these pages now (they stay cached), so that commit()'s fsync finds
        // little left to write: measured 0.19 s -> 0.07 s for a 283 MB checkpoint here.
        _ = posix_fadvise(descriptor, off_t(offset), off_t(bytes.count), POSIX_FADV_DONTNEED)
        #endif
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(SystemCallError) {
        try bytes.withRawBytes { (raw) throws(SystemCallError) in try write(raw, at: offset) }
    }

    /// Writes `bytes` (address, length and `offset` multiples of directAlignment) at `offset`
    /// around the page cache when the file is open for direct I/O, else as write(_:at:) does. If
    /// the file system refuses a direct write (EINVAL: it needs another alignment, or does not do
    /// direct I/O after all), gives up direct I/O for good and writes buffered. Only one thread at
    /// a time may call it.
    func writeDirect(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SystemCallError) {
        if directDescriptor >= 0 {
            do throws(SystemCallError) {
                try writeAll(bytes, at: offset, to: directDescriptor)
                return
            } catch {
                guard error.code == EINVAL else { throw error }
                closeDirect()
            }
        }
        try write(bytes, at: offset)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int, to descriptor: Int32) throws(SystemCallError) {
        guard bytes.count > 0 else { return }
        do throws(PositionalIO.Failure) {
            try PositionalIO.write(descriptor, from: bytes.baseAddress!, count: bytes.count, at: offset)
        } catch {
            throw SystemCallError(operation: "write", path: path, code: error.code)
        }
    }

    /// fsyncs the data, renames the file over `finalPath` and fsyncs the directory.
    func commit() throws(SystemCallError) {
        closeDirect()  // direct writes are done when they return; the fsync below covers them
        if fsync(descriptor) != 0 { throw SystemCallError(operation: "fsync", path: path, code: errno) }
        if rename(path, finalPath) != 0 { throw SystemCallError(operation: "rename", path: finalPath, code: errno) }
        committed = true
        close(descriptor)
        try syncDirectory(directoryOf(finalPath))
    }
}
