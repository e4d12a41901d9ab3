// The images of one split of a file-based data set: paths relative to a root directory, each with
// a label, in the data set's canonical order (the sample index is the position here).

public struct FileList: Sendable, Equatable {
    /// The directory the paths are relative to (no trailing slash).
    public let root: String
    public let paths: PathTable
    public let labels: [Int32]

    init(root: String, paths: PathTable, labels: [Int32]) {
        precondition(paths.count == labels.count, "FileList: \(paths.count) paths, \(labels.count) labels")
        self.root = root
        self.paths = paths
        self.labels = labels
    }

    public var count: Int { labels.count }

    /// The full path of file i.
    public func path(_ i: Int) -> String { root + "/" + paths[i] }

    /// CRC-32 of every relative path and label, in order: identifies the list's contents.
    public var fingerprint: UInt32 {
        var crc: UInt = 0
        paths.bytes.withUnsafeBytes { crc = CRC32.update(crc, $0) }
        paths.ends.withUnsafeBytes { crc = CRC32.update(crc, $0) }
        labels.withUnsafeBytes { crc = CRC32.update(crc, $0) }
        return UInt32(truncatingIfNeeded: crc)
    }
}
