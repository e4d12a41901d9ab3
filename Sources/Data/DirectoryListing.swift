// Listing directories fast enough for 1.28 million files (ImageNet's training set) in seconds:
// readdir(3) without a stat per file (the entry's d_type says file or directory; only symbolic
// links and file systems that do not fill d_type cost a stat), names gathered in one byte buffer
// and sorted by bytes (= code points, as Python's sorted()). Names starting with "." are skipped.

import Foundation

/// The entries of one directory, sorted by name bytes.
struct DirectoryListing {
    /// All names back to back; entry k is bytes[starts[k] ..< starts[k] + lengths[k]].
    private(set) var bytes: [UInt8] = []
    private(set) var starts: [Int] = []
    private(set) var lengths: [Int] = []
    private(set) var isDirectory: [Bool] = []

    var count: Int { starts.count }

    /// Lists `path`; with `imagesOnly`, files keep only .jpg, .jpeg and .png names (any case).
    init(_ path: String, imagesOnly: Bool) throws(DataError) {
        guard let dir = opendir(path) else { throw .badLayout(path: path, reason: "cannot list directory: \(FileBytes.systemError())") }
        defer { closedir(dir) }
        var unsorted = DirectoryListing(empty: ())
        while let entry = readdir(dir) {
            let type = entry.pointee.d_type
            withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                let length = strlen(raw.baseAddress!.assumingMemoryBound(to: CChar.self))
                let name = UnsafeRawBufferPointer(rebasing: raw[0..<length])
                guard length > 0, name[0] != UInt8(ascii: ".") else { return }
                var directory = type == UInt8(DT_DIR)
                let image = Self.hasImageExtension(name)
                if type == UInt8(DT_UNKNOWN) || (type == UInt8(DT_LNK) && !image) {
                    directory = Self.isDirectory(path + "/" + String(decoding: name, as: UTF8.self))
                }
                if directory || !imagesOnly || image {
                    unsorted.add(name, isDirectory: directory)
                }
            }
        }
        self = unsorted.sorted()
    }

    private init(empty: Void) {}

    private mutating func add(_ name: some Collection<UInt8>, isDirectory directory: Bool) {
        starts.append(bytes.count)
        lengths.append(name.count)
        bytes.append(contentsOf: name)
        isDirectory.append(directory)
    }

    private func sorted() -> DirectoryListing {
        var order = Array(0..<count)
        bytes.withUnsafeBufferPointer { all in
            let base = all.baseAddress
            order.sort { a, b in
                let common = min(lengths[a], lengths[b])
                let c = common == 0 ? 0 : memcmp(base! + starts[a], base! + starts[b], common)
                return c != 0 ? c < 0 : lengths[a] < lengths[b]
            }
        }
        var result = DirectoryListing(empty: ())
        result.bytes.reserveCapacity(bytes.count)
        for k in order { result.add(nameBytes(k), isDirectory: isDirectory[k]) }
        return result
    }

    /// Entry k's name as bytes.
    func nameBytes(_ k: Int) -> ArraySlice<UInt8> { bytes[starts[k]..<(starts[k] + lengths[k])] }

    func name(_ k: Int) -> String { String(decoding: nameBytes(k), as: UTF8.self) }

    /// Whether an entry is called `name` (binary search over the sorted names).
    func contains(_ name: some Collection<UInt8>) -> Bool {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            let entry = nameBytes(mid)
            if entry.elementsEqual(name) { return true }
            if entry.lexicographicallyPrecedes(name) { low = mid + 1 } else { high = mid }
        }
        return false
    }

    static func hasImageExtension(_ name: UnsafeRawBufferPointer) -> Bool {
        for suffix in [".jpg", ".jpeg", ".png"] where name.count > suffix.utf8.count {
            let tail = name.suffix(suffix.utf8.count)
            if zip(tail, suffix.utf8).allSatisfy({ $0 | 0x20 == $1 | 0x20 }) { return true }
        }
        return false
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func isFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Device and inode of a directory (following links), to detect link cycles.
    static func identity(_ path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }
}
