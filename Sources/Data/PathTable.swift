// The relative paths of a split's files, millions of them, in one byte array with end offsets:
// about 30 bytes a file instead of a String (and an allocation) each.

public struct PathTable: Sendable, Equatable {
    private(set) var bytes: [UInt8] = []
    private(set) var ends: [Int] = []

    public init() {}

    public var count: Int { ends.count }

    /// Appends directory + "/" + name.
    mutating func append(directory: [UInt8], name: ArraySlice<UInt8>) {
        bytes.append(contentsOf: directory)
        bytes.append(UInt8(ascii: "/"))
        bytes.append(contentsOf: name)
        ends.append(bytes.count)
    }

    /// Appends one path given as UTF-8 bytes.
    mutating func append(_ path: some Collection<UInt8>) {
        bytes.append(contentsOf: path)
        ends.append(bytes.count)
    }

    /// Path i as UTF-8 bytes.
    func utf8(_ i: Int) -> ArraySlice<UInt8> {
        bytes[(i == 0 ? 0 : ends[i - 1])..<ends[i]]
    }

    public subscript(i: Int) -> String { String(decoding: utf8(i), as: UTF8.self) }
}
