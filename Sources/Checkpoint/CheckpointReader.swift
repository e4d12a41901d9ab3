// Reads a .wmx checkpoint: opening validates the whole header (CheckpointHeader); sections are
// decoded on demand on several threads (ChunkDecoder), each chunk checked against its stored and
// raw checksums; verify() checks every stored checksum without decoding.
import Foundation

public final class CheckpointReader: Sendable {
    public let path: String
    /// Size of the file in bytes.
    public let fileBytes: Int
    /// The sections in file order.
    public let sections: [CheckpointSection]
    private let file: ReadOnlyFile
    private let header: CheckpointHeader
    private let threads: Int

    /// Opens `path` and validates its header, section table and size; reads no section data.
    public init(contentsOf path: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws(CheckpointError) {
        do {
            file = try ReadOnlyFile(path: path)
        } catch {
            throw CheckpointError(error, reportedAs: path)
        }
        header = try CheckpointHeader.read(from: file)
        self.path = path
        self.fileBytes = file.size
        self.sections = header.sections
        self.threads = max(1, threads)
    }

    /// Bytes before the section area (fixed fields, JSON, header checksum).
    public var headerBytes: Int { header.dataStart }

    public func contains(_ name: String) -> Bool { section(name) != nil }

    public func section(_ name: String) -> CheckpointSection? { sections.first { $0.name == name } }

    /// The caller's metadata, decoded as `type`.
    public func metadata<T: Decodable>(as type: T.Type) throws(CheckpointError) -> T {
        do {
            return try JSONDecoder().decode(MetadataEnvelope<T>.self, from: header.json).metadata
        } catch {
            throw .metadataMismatch(path: path, reason: summarizeDecodingFailure(error))
        }
    }

    /// The caller's metadata as pretty-printed JSON with sorted keys, for display.
    public func metadataJSON() throws(CheckpointError) -> String {
        do {
            let object = try JSONSerialization.jsonObject(with: header.json, options: [.fragmentsAllowed])
            guard let metadata = (object as? [String: Any])?["metadata"] else {
                throw DecodingError.keyNotFound(AnyCodingKey(stringValue: "metadata"), .init(codingPath: [], debugDescription: ""))
            }
            let data = try JSONSerialization.data(withJSONObject: metadata, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw .metadataMismatch(path: path, reason: summarizeDecodingFailure(error))
        }
    }

    public func floats(_ name: String) throws(CheckpointError) -> [Float] {
        try elements(name, kind: .f32, as: Float.self)
    }

    public func int64s(_ name: String) throws(CheckpointError) -> [Int64] {
        try elements(name, kind: .i64, as: Int64.self)
    }

    public func bytes(_ name: String) throws(CheckpointError) -> [UInt8] {
        try elements(name, kind: .bytes, as: UInt8.self)
    }

    /// Decodes a float section into `destination`, which must have exactly its element count (the
    /// fastest way to restore a flat parameter buffer: no allocation). On error the destination's
    /// contents are unspecified.
    public func readFloats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws(CheckpointError) {
        let section = try find(name, kind: .f32)
        guard destination.count == section.count else {
            throw .wrongCount(path: path, section: name, expected: destination.count, actual: section.count)
        }
        try ChunkDecoder.read(section, from: file, dataStart: header.dataStart, into: UnsafeMutableRawBufferPointer(destination), threads: threads)
    }

    /// Checks the stored checksum of every chunk of every section (reads the whole file, decodes nothing).
    public func verify() throws(CheckpointError) {
        for section in sections {
            if let chunk = try firstCorruptChunk(section) {
                throw .checksumMismatch(path: path, region: section.describeChunk(chunk, part: "stored bytes"))
            }
        }
    }

    /// Index of the first chunk of `section` whose stored bytes do not match their checksum.
    func firstCorruptChunk(_ section: CheckpointSection) throws(CheckpointError) -> Int? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: section.chunks.map(\.storedBytes).max() ?? 0, alignment: 64)
        defer { buffer.deallocate() }
        let offsets = section.chunkFileOffsets(dataStart: header.dataStart)
        for (index, chunk) in section.chunks.enumerated() {
            let frame = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<chunk.storedBytes])
            do {
                try file.read(into: frame, at: offsets[index])
            } catch {
                throw CheckpointError(error, reportedAs: path)
            }
            if XXH64.hash(UnsafeRawBufferPointer(frame)) != chunk.storedXXH64 { return index }
        }
        return nil
    }

    private func find(_ name: String, kind: CheckpointSectionKind) throws(CheckpointError) -> CheckpointSection {
        guard let section = section(name) else { throw .missingSection(path: path, section: name) }
        guard section.kind == kind else { throw .wrongSectionKind(path: path, section: name, expected: kind, actual: section.kind) }
        return section
    }

    private func elements<T>(_ name: String, kind: CheckpointSectionKind, as type: T.Type) throws(CheckpointError) -> [T] {
        let section = try find(name, kind: kind)
        var failure: CheckpointError?
        let values = [T](unsafeUninitializedCapacity: section.count) { buffer, initialized in
            do throws(CheckpointError) {
                try ChunkDecoder.read(section, from: file, dataStart: header.dataStart, into: UnsafeMutableRawBufferPointer(buffer), threads: threads)
                initialized = section.count
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return values
    }
}

private struct MetadataEnvelope<Metadata: Decodable>: Decodable {
    let metadata: Metadata
}
