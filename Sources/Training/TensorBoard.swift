// TensorBoard event files: DIRECTORY/events.out.tfevents.<unix seconds>.<host>.<pid>.<n>, named as
// TensorFlow names them, a new file per writer (TensorBoard reads a resumed run's files together).
// Scalars are buffered in memory and reach the file at flush(), so logging a step makes no system
// call; call flush() at each evaluation and before exit. Not thread-safe: one rank, one thread.
import Data
import Foundation

public final class TensorBoardWriter {
    /// The event file this writer appends to.
    public let path: String
    private let file: FileHandle
    private var pending: [UInt8] = []

    /// Creates `directory` if needed and a new event file in it, holding the file-version event.
    public convenience init(directory: String) throws {
        try self.init(directory: directory, wallTime: Date().timeIntervalSince1970, writer: "wavemix")
    }

    /// `wallTime` dates the file (its name and first event); `writer` names the program in the
    /// first event (the tests give the tensorboard package's name to compare bytes with its files).
    init(directory: String, wallTime: Double, writer: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw InputError("\(directory): cannot create the TensorBoard directory: \(fileErrorReason(error))")
        }
        let seconds = String(format: "%010ld", Int(wallTime))
        path = "\(directory)/events.out.tfevents.\(seconds).\(hostName()).\(getpid()).\(eventFileCounter.next())"
        // O_EXCL: a name already taken belongs to another writer and is never truncated.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw InputError("\(path): cannot create the TensorBoard event file: \(String(cString: strerror(errno)))")
        }
        file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        pending = TensorBoardEvents.record(TensorBoardEvents.fileVersion(wallTime: wallTime, writer: writer))
        try flush()
    }

    /// Buffers one event with `values` at optimizer step `step`; `wallTime` is seconds since the
    /// Unix epoch. Values are stored as float32; NaN and infinities as they are.
    public func scalars(_ values: [(tag: String, value: Double)], step: Int, wallTime: Double = Date().timeIntervalSince1970) {
        guard !values.isEmpty else { return }
        let event = TensorBoardEvents.scalars(values.map { ($0.tag, Float($0.value)) }, step: step, wallTime: wallTime)
        pending += TensorBoardEvents.record(event)
    }

    /// Writes the buffered events to the file.
    public func flush() throws(DataError) {
        guard !pending.isEmpty else { return }
        defer { pending.removeAll(keepingCapacity: true) }
        do { try file.write(contentsOf: pending) } catch { throw .unwritable(file: path, reason: fileErrorReason(error)) }
    }

    deinit { try? flush() }
}

/// The `<n>` of event file names: distinguishes the files one process opens in the same second.
private let eventFileCounter = Counter()

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value - 1
    }
}

private func hostName() -> String {
    var name = [CChar](repeating: 0, count: 256)
    guard gethostname(&name, name.count - 1) == 0 else { return "localhost" }
    return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
