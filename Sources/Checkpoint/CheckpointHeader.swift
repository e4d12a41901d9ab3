// Reading and validating the header of a .wmx file (layout in CheckpointFormat.swift): fixed
// fields, header checksum, JSON, and a section table whose sizes, chunking and offsets agree with
// each other and with the file size. Nothing is decoded from a header that fails any of these.
import Foundation

struct CheckpointHeader {
    let jsonBytes: Int
    /// The header JSON (with any padding), for decoding the caller's metadata.
    let json: Data
    let sections: [CheckpointSection]

    /// File offset of the section area.
    var dataStart: Int { CheckpointFormat.fixedHeaderBytes + jsonBytes + CheckpointFormat.headerChecksumBytes }

    /// Reads the header of `file`.
    static func read(from file: ReadOnlyFile) throws(CheckpointError) -> CheckpointHeader {
        let prefix = try file.checkpointBytes(at: 0, count: min(file.size, CheckpointFormat.fixedHeaderBytes))
        let jsonBytes = try CheckpointFormat.headerJSONLength(prefix: prefix, fileBytes: file.size, path: file.path)
        let headerEnd = CheckpointFormat.fixedHeaderBytes + jsonBytes + CheckpointFormat.headerChecksumBytes
        return try parse(try file.checkpointBytes(at: 0, count: headerEnd), fileBytes: file.size, path: file.path)
    }

    /// Parses the header at the start of `bytes` (at least the whole header) of a `fileBytes`-byte file.
    static func parse(_ bytes: [UInt8], fileBytes: Int, path: String) throws(CheckpointError) -> CheckpointHeader {
        let jsonBytes = try CheckpointFormat.headerJSONLength(prefix: Array(bytes.prefix(CheckpointFormat.fixedHeaderBytes)), fileBytes: fileBytes, path: path)
        let checksumOffset = CheckpointFormat.fixedHeaderBytes + jsonBytes
        precondition(bytes.count >= checksumOffset + CheckpointFormat.headerChecksumBytes, "parse needs the whole header")
        let (computed, stored) = bytes.withUnsafeBytes { raw in
            (XXH64.hash(UnsafeRawBufferPointer(rebasing: raw[0..<checksumOffset])),
             UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: checksumOffset, as: UInt64.self)))
        }
        guard computed == stored else { throw .checksumMismatch(path: path, region: "header") }
        let json = Data(bytes[CheckpointFormat.fixedHeaderBytes..<checksumOffset])
        let sections: [CheckpointSection]
        do {
            sections = try JSONDecoder().decode(SectionTable.self, from: json).sections
        } catch {
            throw .corruptMetadata(path: path, reason: summarizeDecodingFailure(error))
        }
        let header = CheckpointHeader(jsonBytes: jsonBytes, json: json, sections: sections)
        let sectionBytes = try validate(sections, path: path)
        let end = header.dataStart + sectionBytes
        if end > fileBytes { throw .truncated(path: path, expectedBytes: end, actualBytes: fileBytes) }
        if end < fileBytes { throw .trailingData(path: path, expectedBytes: end, actualBytes: fileBytes) }
        return header
    }

    /// Checks the table's internal consistency and returns the size of the section area. The sums
    /// cannot overflow: each chunk is at most maxChunkBytes, and the JSON limit bounds their number.
    private static func validate(_ sections: [CheckpointSection], path: String) throws(CheckpointError) -> Int {
        var names = Set<String>()
        var offset = 0
        for section in sections {
            func problem(_ reason: String) -> CheckpointError {
                .corruptMetadata(path: path, reason: "section '\(section.name)': \(reason)")
            }
            guard !section.name.isEmpty, names.insert(section.name).inserted else {
                throw .corruptMetadata(path: path, reason: "empty or repeated section name '\(section.name)'")
            }
            let segmented = section.codec == CheckpointFormat.segmentsCodec
            guard segmented || section.codec == CheckpointFormat.zstdCodec else { throw problem("unknown codec '\(section.codec)'") }
            guard !section.byteShuffle || section.kind == .f32 else { throw problem("byte shuffle on \(section.kind.rawValue) data") }
            guard section.count >= 0,
                  case (let rawBytes, false) = section.count.multipliedReportingOverflow(by: section.kind.elementBytes),
                  rawBytes == section.rawBytes else {
                throw problem("\(section.count) elements do not make \(section.rawBytes) raw bytes")
            }
            guard section.offset == offset else { throw problem("offset \(section.offset), expected \(offset)") }
            var chunkRaw = 0, chunkStored = 0
            for (index, chunk) in section.chunks.enumerated() {
                guard chunk.rawBytes > 0, chunk.rawBytes <= CheckpointFormat.maxChunkBytes,
                      chunk.rawBytes % section.kind.elementBytes == 0 else {
                    throw problem("chunk \(index) has \(chunk.rawBytes) raw bytes")
                }
                if segmented {
                    if let reason = segmentProblem(chunk, byteShuffle: section.byteShuffle) { throw problem("chunk \(index): \(reason)") }
                } else {
                    guard chunk.segments == nil else { throw problem("chunk \(index) has segments under codec '\(section.codec)'") }
                    guard chunk.storedBytes > 0, chunk.storedBytes <= Zstd.compressBound(chunk.rawBytes) else {
                        throw problem("chunk \(index) has \(chunk.storedBytes) stored bytes for \(chunk.rawBytes) raw")
                    }
                }
                chunkRaw += chunk.rawBytes
                chunkStored += chunk.storedBytes
            }
            guard chunkRaw == section.rawBytes, chunkStored == section.storedBytes else {
                throw problem("chunks hold \(chunkRaw) raw and \(chunkStored) stored bytes, the section \(section.rawBytes) and \(section.storedBytes)")
            }
            offset += section.storedBytes
        }
        return offset
    }
}

/// What is wrong with the segments of a chunk (whose raw size is already checked) under codec
/// "segments", nil if nothing: one per byte plane or one for the whole chunk, raw ones exactly their
/// raw size, zstd ones at most zstd's bound for it, together exactly the chunk's stored bytes.
private func segmentProblem(_ chunk: CheckpointChunk, byteShuffle: Bool) -> String? {
    guard let segments = chunk.segments else { return "no segments" }
    let count = byteShuffle ? 4 : 1
    guard segments.count == count else { return "\(segments.count) segments, expected \(count)" }
    let segmentRawBytes = chunk.rawBytes / count
    var stored = 0
    for (index, segment) in segments.enumerated() {
        switch segment.codec {
        case .raw:
            guard segment.storedBytes == segmentRawBytes else {
                return "raw segment \(index) has \(segment.storedBytes) bytes, expected \(segmentRawBytes)"
            }
        case .zstd:
            guard segment.storedBytes > 0, segment.storedBytes <= Zstd.compressBound(segmentRawBytes) else {
                return "zstd segment \(index) has \(segment.storedBytes) stored bytes for \(segmentRawBytes) raw"
            }
        }
        stored += segment.storedBytes
    }
    guard stored == chunk.storedBytes else { return "segments hold \(stored) stored bytes, the chunk \(chunk.storedBytes)" }
    return nil
}

/// The library's part of the header JSON; the caller's metadata is decoded separately.
private struct SectionTable: Decodable {
    let sections: [CheckpointSection]
}
