// Reading a whole file into a scratch buffer with POSIX calls (open, fstat, read): no Foundation
// objects per sample. Failures become DataError.badImage naming the file and the system's reason.

import Foundation

enum FileBytes {
    /// Reads `path` into `buffer` and returns its byte count.
    static func read(_ path: String, into buffer: GrowableBuffer<UInt8>) throws(DataError) -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .badImage(file: path, reason: systemError()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .badImage(file: path, reason: systemError()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .badImage(file: path, reason: "not a regular file") }
        let size = Int(info.st_size)
        let bytes = buffer.reserve(max(size, 1))
        var done = 0
        while done < size {
            let n = Foundation.read(fd, bytes + done, size - done)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .badImage(file: path, reason: systemError()) }
            if n == 0 { break }  // the file shrank while we read it
            done += n
        }
        return done
    }

    static func systemError() -> String { String(cString: strerror(errno)) }
}
