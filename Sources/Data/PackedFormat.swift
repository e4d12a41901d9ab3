// The packed data set format written by `wavemix prepare` and read by `packed:DIR`. Integers are
// little-endian. Per split and rank, two files:
//   <split>-<rank>-of-<world>.wmxp   shard: a 64-byte header, then fixed-size records
//     header  0 "WMXSHARD" | 8 version u32 = 1 | 12 header bytes u32 = 64 | 16 height u32 | 20 width u32
//             24 channels u32 | 28 record bytes u32 | 32 first source index u64 | 40 end source index u64
//             48 plan fingerprint u32 | 52 zero u32 x 2 | 60 CRC-32 of bytes 0..<60
//     record  0 source index u64 | 8 label u32 | 12 CRC-32 of bytes 0..<12 and the pixels | 16 pixels
//             (height x width x channels bytes, row-major HWC)
//   <split>-<rank>-of-<world>.index  written once the shard is complete: a 32-byte header, then per
//     record its source index u64, label u32 and record CRC u32 (16 bytes)
//     header  0 "WMXINDEX" | 8 version u32 = 1 | 12 zero u32 | 16 entry count u64
//             24 CRC-32 of the entries | 28 CRC-32 of bytes 0..<28
// Records of a shard are in increasing source index order; an image that could not be decoded has
// no record. manifest.json (PackedManifest) lists the shards and the classes; prepare.json
// (PreparePlan) is what the preparation was asked to do, so a rerun can resume it or refuse.

import Foundation

enum PackedFormat {
    static let version: UInt32 = 1
    static let shardMagic = Array("WMXSHARD".utf8)
    static let indexMagic = Array("WMXINDEX".utf8)
    static let shardHeaderBytes = 64
    static let indexHeaderBytes = 32
    static let recordHeaderBytes = 16
    static let indexEntryBytes = 16

    static func shardName(split: String, rank: Int, worldSize: Int) -> String {
        String(format: "%@-%05d-of-%05d.wmxp", split, rank, worldSize)
    }

    static func indexName(split: String, rank: Int, worldSize: Int) -> String {
        String(format: "%@-%05d-of-%05d.index", split, rank, worldSize)
    }
}

/// The header of a shard file.
struct ShardHeader: Equatable {
    var height: Int
    var width: Int
    var channels: Int
    var sourceRange: Range<Int>
    var planFingerprint: UInt32

    var pixelBytes: Int { height * width * channels }
    var recordBytes: Int { PackedFormat.recordHeaderBytes + pixelBytes }

    var encoded: [UInt8] {
        var bytes = PackedFormat.shardMagic
        for value in [PackedFormat.version, UInt32(PackedFormat.shardHeaderBytes), UInt32(height), UInt32(width),
                      UInt32(channels), UInt32(recordBytes)] { bytes.appendLittleEndian(value) }
        bytes.appendLittleEndian(UInt64(sourceRange.lowerBound))
        bytes.appendLittleEndian(UInt64(sourceRange.upperBound))
        bytes.appendLittleEndian(planFingerprint)
        bytes.appendLittleEndian(UInt64(0))
        bytes.appendLittleEndian(bytes.withUnsafeBytes { CRC32.checksum($0) })
        return bytes
    }

    init(height: Int, width: Int, channels: Int, sourceRange: Range<Int>, planFingerprint: UInt32) {
        self.height = height
        self.width = width
        self.channels = channels
        self.sourceRange = sourceRange
        self.planFingerprint = planFingerprint
    }

    /// Parses and checks a header read from `file`.
    init(_ bytes: [UInt8], file: String) throws(DataError) {
        guard bytes.count >= PackedFormat.shardHeaderBytes, Array(bytes[0..<8]) == PackedFormat.shardMagic else {
            throw .badPacked(file: file, reason: "not a packed shard (no WMXSHARD header)")
        }
        guard bytes.withUnsafeBytes({ CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<60])) }) == bytes.littleEndian(60) else {
            throw .badPacked(file: file, reason: "shard header checksum mismatch")
        }
        let version: UInt32 = bytes.littleEndian(8)
        guard version == PackedFormat.version else {
            throw .badPacked(file: file, reason: "shard format version \(version); this build reads version \(PackedFormat.version)")
        }
        height = Int(bytes.littleEndian(16) as UInt32)
        width = Int(bytes.littleEndian(20) as UInt32)
        channels = Int(bytes.littleEndian(24) as UInt32)
        let start = Int(bytes.littleEndian(32) as UInt64), end = Int(bytes.littleEndian(40) as UInt64)
        guard height > 0, width > 0, channels > 0, start <= end,
              Int(bytes.littleEndian(28) as UInt32) == PackedFormat.recordHeaderBytes + height * width * channels else {
            throw .badPacked(file: file, reason: "inconsistent shard header")
        }
        sourceRange = start..<end
        planFingerprint = bytes.littleEndian(48)
    }
}

/// One record's entry in an index file.
struct IndexEntry: Equatable {
    var sourceIndex: Int
    var label: Int
    var checksum: UInt32
}

enum IndexFile {
    static func encode(_ entries: [IndexEntry]) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(entries.count * PackedFormat.indexEntryBytes)
        for e in entries {
            body.appendLittleEndian(UInt64(e.sourceIndex))
            body.appendLittleEndian(UInt32(e.label))
            body.appendLittleEndian(e.checksum)
        }
        var bytes = PackedFormat.indexMagic
        bytes.appendLittleEndian(PackedFormat.version)
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(UInt64(entries.count))
        bytes.appendLittleEndian(body.withUnsafeBytes { CRC32.checksum($0) })
        bytes.appendLittleEndian(bytes.withUnsafeBytes { CRC32.checksum($0) })
        return bytes + body
    }

    static func read(_ file: String) throws(DataError) -> [IndexEntry] {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))) } catch {
            throw .badPacked(file: file, reason: "cannot read: \(fileErrorReason(error))")
        }
        guard bytes.count >= PackedFormat.indexHeaderBytes, Array(bytes[0..<8]) == PackedFormat.indexMagic,
              bytes.withUnsafeBytes({ CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }) == bytes.littleEndian(28) else {
            throw .badPacked(file: file, reason: "not a packed index file or its header is damaged")
        }
        let version: UInt32 = bytes.littleEndian(8)
        guard version == PackedFormat.version else {
            throw .badPacked(file: file, reason: "index format version \(version); this build reads version \(PackedFormat.version)")
        }
        let count = Int(bytes.littleEndian(16) as UInt64)
        guard bytes.count == PackedFormat.indexHeaderBytes + count * PackedFormat.indexEntryBytes else {
            throw .badPacked(file: file, reason: "holds \(bytes.count) bytes; \(count) entries need "
                + "\(PackedFormat.indexHeaderBytes + count * PackedFormat.indexEntryBytes)")
        }
        guard bytes.withUnsafeBytes({ CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[PackedFormat.indexHeaderBytes...])) })
                == bytes.littleEndian(24) else {
            throw .badPacked(file: file, reason: "index entries checksum mismatch")
        }
        return (0..<count).map { k in
            let at = PackedFormat.indexHeaderBytes + k * PackedFormat.indexEntryBytes
            return IndexEntry(sourceIndex: Int(bytes.littleEndian(at) as UInt64), label: Int(bytes.littleEndian(at + 8) as UInt32),
                              checksum: bytes.littleEndian(at + 12))
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    func littleEndian<T: FixedWidthInteger>(_ offset: Int) -> T {
        (0..<MemoryLayout<T>.size).reduce(T.zero) { $0 | T(self[offset + $1]) << (8 * $1) }
    }
}
