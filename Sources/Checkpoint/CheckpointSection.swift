// The section table of a .wmx file as the reader exposes it and the header JSON stores it: one
// CheckpointSection per named array, each split into CheckpointChunks, and where each chunk lies.
// Under codec "zstd" a chunk is one zstd frame; under codec "segments" it is one segment (or four,
// one per byte plane, for byte-shuffled floats), each a zstd frame or the bytes as they are.

/// What a section's elements are.
public enum CheckpointSectionKind: String, Sendable, Codable {
    case f32, i64, bytes

    public var elementBytes: Int {
        switch self {
        case .f32: return 4
        case .i64: return 8
        case .bytes: return 1
        }
    }
}

public struct CheckpointSection: Sendable, Equatable, Codable {
    public let name: String
    public let kind: CheckpointSectionKind
    /// Number of elements.
    public let count: Int
    /// Whether the float bytes were split into byte planes before compression (ByteShuffle).
    public let byteShuffle: Bool
    /// How chunks are stored: "segments" (what this build writes) or "zstd" (files written before it).
    public let codec: String
    /// Start of the section's first chunk, relative to the start of the section area.
    public let offset: Int
    /// count * kind.elementBytes.
    public let rawBytes: Int
    /// Sum of the chunks' stored bytes.
    public let storedBytes: Int
    public let chunks: [CheckpointChunk]

    /// Raw bytes per stored byte (1 for an empty section).
    public var compressionRatio: Double { storedBytes == 0 ? 1 : Double(rawBytes) / Double(storedBytes) }
}

extension CheckpointSection {
    /// File offset of each chunk's frame, for a section area starting at `dataStart`.
    func chunkFileOffsets(dataStart: Int) -> [Int] { runningStarts(chunks.map(\.storedBytes), from: dataStart + offset) }

    /// Offset of each chunk's raw bytes within the section.
    var chunkRawOffsets: [Int] { runningStarts(chunks.map(\.rawBytes), from: 0) }

    /// "section 'params' chunk 3 of 80 (stored bytes)", for checksum errors.
    func describeChunk(_ index: Int, part: String) -> String {
        "section '\(name)' chunk \(index + 1) of \(chunks.count) (\(part))"
    }
}

/// The start of each run when runs of these lengths are laid back to back from `origin`.
private func runningStarts(_ lengths: [Int], from origin: Int) -> [Int] {
    var start = origin
    return lengths.map { length in
        defer { start += length }
        return start
    }
}

/// One piece of a chunk's stored bytes under codec "segments": a byte plane (byte-shuffled floats,
/// four segments per chunk) or the whole chunk (one segment), stored as a zstd frame or as is.
public struct CheckpointSegment: Sendable, Equatable, Codable {
    public enum Codec: String, Sendable, Codable {
        /// The segment's raw bytes, unchanged (what does not compress: low mantissa bytes).
        case raw
        /// One zstd frame holding exactly the segment's raw bytes.
        case zstd
    }

    public let codec: Codec
    public let storedBytes: Int
}

/// A run of a section's elements, stored back to back with the other chunks, with the checksums of
/// its raw (decoded) and stored bytes.
public struct CheckpointChunk: Sendable, Equatable, Codable {
    public let rawBytes: Int
    public let storedBytes: Int
    public let rawXXH64: UInt64
    public let storedXXH64: UInt64
    /// The stored bytes' segments, in order (codec "segments"); nil under codec "zstd".
    public let segments: [CheckpointSegment]?

    enum CodingKeys: String, CodingKey {
        case rawBytes, storedBytes, rawXXH64, storedXXH64, segments
    }

    init(rawBytes: Int, storedBytes: Int, rawXXH64: UInt64, storedXXH64: UInt64, segments: [CheckpointSegment]? = nil) {
        self.rawBytes = rawBytes
        self.storedBytes = storedBytes
        self.rawXXH64 = rawXXH64
        self.storedXXH64 = storedXXH64
        self.segments = segments
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        rawBytes = try container.decode(Int.self, forKey: .rawBytes)
        storedBytes = try container.decode(Int.self, forKey: .storedBytes)
        rawXXH64 = try Self.decodeHex(container, .rawXXH64)
        storedXXH64 = try Self.decodeHex(container, .storedXXH64)
        segments = try container.decodeIfPresent([CheckpointSegment].self, forKey: .segments)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rawBytes, forKey: .rawBytes)
        try container.encode(storedBytes, forKey: .storedBytes)
        try container.encode(Self.hex(rawXXH64), forKey: .rawXXH64)
        try container.encode(Self.hex(storedXXH64), forKey: .storedXXH64)
        try container.encodeIfPresent(segments, forKey: .segments)
    }

    /// 16 lowercase hex digits.
    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private static func decodeHex(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> UInt64 {
        let text = try container.decode(String.self, forKey: key)
        guard text.utf8.count == 16, text.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }),
              let value = UInt64(text, radix: 16) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "expected 16 lowercase hex digits, got '\(text)'")
        }
        return value
    }
}
