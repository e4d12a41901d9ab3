// The .wmx checkpoint container, format 1 (all integers little-endian):
//
//   offset 0        8 bytes  magic "WMXCKPT\0"
//          8        UInt32   format version (1)
//          12       UInt32   flags (0; reserved)
//          16       UInt64   header JSON length L
//          24       L bytes  header JSON (UTF-8), possibly followed by spaces, see below
//          24 + L   UInt64   XXH64 of bytes [0, 24 + L): covers the fixed fields and the JSON
//          32 + L   the section area: sections back to back in table order; a section is its
//                   chunks back to back, each of at most maxChunkBytes raw bytes
//
// The header JSON is {"metadata": <the caller's JSON>, "sections": [CheckpointSection, ...]}; a
// section records its name, element kind, count, byte shuffle, codec, offset in the section area,
// raw and stored sizes, and per chunk the raw and stored sizes and the XXH64 of the raw (decoded)
// and the stored bytes, as 16 hex digits. The file ends exactly where the last section ends. The
// writer reserves room for the table before the stored sizes are known and fills what the final
// table does not use with spaces (JSON whitespace).
//
// Codecs (per section; both are format 1, so this build reads every file earlier builds wrote):
//   "segments"  (what this build writes) each chunk lists its segments in order, each
//               {"codec": "raw" | "zstd", "storedBytes": n}: four segments, one per byte plane, for
//               a byte-shuffled chunk (a quarter of the chunk's raw bytes each), else one segment
//               for the whole chunk. A "zstd" segment is one zstd frame of exactly the segment's
//               raw bytes; a "raw" segment is those bytes as they are (storedBytes is their count).
//               The stored checksum covers the chunk's segments back to back.
//   "zstd"      (the first writers) each chunk is one zstd frame of its (byte-shuffled) raw bytes.
// Builds that know only "zstd" refuse "segments" sections as an unknown codec, before decoding.
//
// Readers check, in order and before decoding anything: magic, version, flags, that the header
// fits in the file, the header checksum, the JSON and the table's consistency (segment sizes
// included), the file size; then per chunk the stored checksum before decompressing and the raw
// checksum after.

public enum CheckpointFormat {
    /// The format this build writes and the newest it reads.
    public static let version: UInt32 = 1
    /// File name extension of checkpoints.
    public static let fileExtension = "wmx"

    static let magic: [UInt8] = Array("WMXCKPT\0".utf8)

    /// Whether the file at `path` starts with the checkpoint magic (false if it cannot be read):
    /// tells checkpoints from other weight files without trusting the name.
    public static func hasMagic(path: String) -> Bool {
        guard let file = try? ReadOnlyFile(path: path), file.size >= magic.count,
              let prefix = try? file.bytes(at: 0, count: magic.count) else { return false }
        return prefix == magic
    }
    static let fixedHeaderBytes = 24
    static let headerChecksumBytes = 8
    /// Largest header JSON accepted (a table for terabytes of state is far smaller).
    static let maxHeaderJSONBytes = 64 << 20
    /// Largest raw chunk accepted; bounds the readers' per-thread buffers.
    static let maxChunkBytes = 256 << 20
    /// The codec this build writes: chunks of raw or zstd segments.
    static let segmentsCodec = "segments"
    /// The codec of the first format-1 writers: each chunk one zstd frame. Still read.
    static let zstdCodec = "zstd"

    /// The fixed 24 bytes for a header JSON of `jsonBytes` bytes.
    static func fixedHeader(jsonBytes: Int) -> [UInt8] {
        var bytes = magic
        withUnsafeBytes(of: version.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt32(0).littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt64(jsonBytes).littleEndian) { bytes += $0 }
        return bytes
    }

    /// Checks the fixed fields at the start of a file of `fileBytes` bytes (`prefix` holds up to its
    /// first 24 bytes) and returns the header JSON length.
    static func headerJSONLength(prefix: [UInt8], fileBytes: Int, path: String) throws(CheckpointError) -> Int {
        guard prefix.count >= fixedHeaderBytes else {
            // A file cut inside the fixed header is truncated if what is there is a magic prefix.
            let present = min(prefix.count, magic.count)
            if Array(prefix[0..<present]) == Array(magic[0..<present]) {
                throw .truncated(path: path, expectedBytes: fixedHeaderBytes, actualBytes: fileBytes)
            }
            throw .badMagic(path: path)
        }
        guard Array(prefix[0..<8]) == magic else { throw .badMagic(path: path) }
        let (version, flags, jsonBytes) = prefix.withUnsafeBytes { bytes in
            (UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
             UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self)),
             UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        }
        guard version == Self.version else { throw .unsupportedVersion(path: path, version: version) }
        guard flags == 0 else {
            throw .corruptMetadata(path: path, reason: "unknown flags 0x\(String(flags, radix: 16))")
        }
        guard jsonBytes <= UInt64(maxHeaderJSONBytes) else {
            throw .corruptMetadata(path: path, reason: "header JSON length \(jsonBytes) exceeds the \(maxHeaderJSONBytes >> 20) MiB limit")
        }
        let headerEnd = fixedHeaderBytes + Int(jsonBytes) + headerChecksumBytes
        guard headerEnd <= fileBytes else {
            throw .truncated(path: path, expectedBytes: headerEnd, actualBytes: fileBytes)
        }
        return Int(jsonBytes)
    }
}
