// Console: whole-line writes to standard output and standard error with write(2), unbuffered, so a
// line is out before an abort or a kill. Swift 6 language mode rejects `fputs(…, stderr)` and
// `setvbuf`, and a piped stdout is block-buffered, hence this. It lives in Comm because the abort
// and timeout diagnostics need it; it knows nothing of ranks (callers add their own prefix).
import Glibc

public enum Console {
    /// Writes `line` and a newline to standard output at once.
    public static func out(_ line: String) { write(line, to: 1) }

    /// Writes `line` and a newline to standard error at once.
    public static func err(_ line: String) { write(line, to: 2) }

    private static func write(_ line: String, to fd: Int32) {
        var bytes = Array(line.utf8)
        bytes.append(10)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }
}
