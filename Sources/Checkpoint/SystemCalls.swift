// Thin POSIX wrappers for the files this module reads and writes: every failure becomes a
// SystemCallError naming the call, the path and errno's text, which the format layers turn into
// their own one-line errors. Reads use pread so several threads can share one descriptor.
import Foundation
import PositionalIO

struct SystemCallError: Error {
    let operation: String
    let path: String
    let code: Int32

    var reason: String { String(cString: strerror(code)) }

    /// True when the call failed because the directory cannot take new files (permissions, a
    /// read-only file system, a path component that is missing or not a directory).
    var meansNotWritable: Bool { [EACCES, EPERM, EROFS, ENOENT, ENOTDIR].contains(code) }
}

/// A file opened read-only; immutable after opening, so threads may read it concurrently.
final class ReadOnlyFile: Sendable {
    let path: String
    let size: Int
    private let descriptor: Int32

    init(path: String) throws(SystemCallError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { throw SystemCallError(operation: "open", path: path, code: errno) }
        var status = stat()
        if fstat(descriptor, &status) != 0 {
            let code = errno
            close(descriptor)
            throw SystemCallError(operation: "stat", path: path, code: code)
        }
        self.path = path
        self.size = Int(status.st_size)
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Fills `buffer` with the bytes at `offset`; the caller has checked that they lie within the file,
    /// so a short read means the file shrank underneath us and is reported as EIO-like "unexpected end".
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(SystemCallError) {
        guard buffer.count > 0 else { return }
        do throws(PositionalIO.Failure) {
            try PositionalIO.read(descriptor, into: buffer.baseAddress!, count: buffer.count, at: offset)
        } catch {
            throw SystemCallError(operation: "read", path: path, code: error.code)
        }
    }

    /// The bytes at `offset ..< offset + count`.
    func bytes(at offset: Int, count: Int) throws(SystemCallError) -> [UInt8] {
        var failure: SystemCallError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(SystemCallError) {
                if count > 0 { try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset) }
                initialized = count
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }
}

/// The directory part of a path ("." for a bare file name).
func directoryOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// The last component of a path.
func fileNameOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

/// fsyncs a directory so that a rename inside it survives a crash.
func syncDirectory(_ directory: String) throws(SystemCallError) {
    let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if descriptor < 0 { throw SystemCallError(operation: "open directory", path: directory, code: errno) }
    defer { close(descriptor) }
    if fsync(descriptor) != 0 { throw SystemCallError(operation: "fsync directory", path: directory, code: errno) }
}

/// Creates `path` and any missing parents (mode 0755); an existing entry of that name is accepted.
func makeDirectories(_ path: String) throws(SystemCallError) {
    if mkdir(path, 0o755) == 0 || errno == EEXIST { return }
    guard errno == ENOENT, directoryOf(path) != path else {
        throw SystemCallError(operation: "create directory", path: path, code: errno)
    }
    try makeDirectories(directoryOf(path))
    if mkdir(path, 0o755) != 0 && errno != EEXIST {
        throw SystemCallError(operation: "create directory", path: path, code: errno)
    }
}

/// The names in a directory, without "." and "..".
func directoryEntries(_ path: String) throws(SystemCallError) -> [String] {
    guard let directory = opendir(path) else { throw SystemCallError(operation: "list directory", path: path, code: errno) }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Removes a file; one that is already gone counts as removed.
func removeFile(_ path: String) throws(SystemCallError) {
    if unlink(path) != 0 && errno != ENOENT { throw SystemCallError(operation: "remove", path: path, code: errno) }
}
