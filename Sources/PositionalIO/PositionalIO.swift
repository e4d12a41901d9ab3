// Whole reads and writes at a file offset: pread and pwrite repeated until every byte has moved,
// retrying after EINTR. The one place the project loops over them (checkpoints, packed shards);
// callers turn a failure into their own one-line error.
import Glibc

public enum PositionalIO {
    public enum Failure: Error, Equatable {
        /// The file ended after `bytesMoved` of the bytes asked for.
        case endOfFile(bytesMoved: Int)
        /// The call failed with this errno.
        case system(errno: Int32)

        /// The errno to report: EIO for a file that ends early.
        public var code: Int32 {
            switch self {
            case .endOfFile: EIO
            case .system(let errno): errno
            }
        }

        /// The system's words for it ("Input/output error", "No space left on device").
        public var reason: String { String(cString: strerror(code)) }
    }

    /// Reads `count` bytes at `offset` into `buffer`.
    public static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws(Failure) {
        var done = 0
        while done < count {
            let result = pread(descriptor, buffer + done, count - done, off_t(offset + done))
            if result < 0 {
                if errno == EINTR { continue }
                throw .system(errno: errno)
            }
            if result == 0 { throw .endOfFile(bytesMoved: done) }
            done += result
        }
    }

    /// Writes `count` bytes of `buffer` at `offset`.
    public static func write(_ descriptor: Int32, from buffer: UnsafeRawPointer, count: Int, at offset: Int) throws(Failure) {
        var done = 0
        while done < count {
            let result = pwrite(descriptor, buffer + done, count - done, off_t(offset + done))
            if result < 0 {
                if errno == EINTR { continue }
                throw .system(errno: errno)
            }
            done += result
        }
    }
}
