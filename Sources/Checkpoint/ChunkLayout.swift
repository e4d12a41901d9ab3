// How a CheckpointWriter's sections are cut into chunks (Options.chunkBytes, rounded down to whole
// elements), and the header JSON for given per-chunk results: the real ones after compression, or
// upper bounds beforehand to reserve room for the header.
import Foundation

struct ChunkLayout {
    private struct Section {
        let name: String
        let kind: CheckpointSectionKind
        let count: Int
        let byteShuffle: Bool
        let chunks: Range<Int>
    }

    private let sections: [Section]
    /// Every section's chunks, in file order.
    let sources: [ChunkSource]

    init(sections named: [(name: String, kind: CheckpointSectionKind)], buffers: [UnsafeRawBufferPointer], options: CheckpointWriter.Options) {
        var sections: [Section] = []
        var sources: [ChunkSource] = []
        for ((name, kind), buffer) in zip(named, buffers) {
            let byteShuffle = options.byteShuffle && kind == .f32
            let step = max(kind.elementBytes, options.chunkBytes / kind.elementBytes * kind.elementBytes)
            let first = sources.count
            for start in stride(from: 0, to: buffer.count, by: step) {
                let piece = UnsafeRawBufferPointer(rebasing: buffer[start..<min(start + step, buffer.count)])
                sources.append(ChunkSource(bytes: piece, byteShuffle: byteShuffle))
            }
            sections.append(Section(name: name, kind: kind, count: buffer.count / kind.elementBytes,
                                    byteShuffle: byteShuffle, chunks: first..<sources.count))
        }
        self.sections = sections
        self.sources = sources
    }

    /// Per chunk, the longest table entry encoding can produce: stored sizes are at most the raw
    /// ones, "zstd" is longer than "raw", and checksums have a fixed width.
    var upperBounds: [EncodedChunk] {
        sources.map { source in
            let planes = source.byteShuffle ? 4 : 1
            return EncodedChunk(storedBytes: source.bytes.count, rawXXH64: 0, storedXXH64: 0,
                                segments: Array(repeating: CheckpointSegment(codec: .zstd, storedBytes: source.bytes.count / planes), count: planes))
        }
    }

    /// The chunk whose end reaches half of all raw bytes (-1 when there are no chunks).
    var halfwayChunk: Int {
        let total = sources.reduce(0) { $0 + $1.bytes.count }
        var written = 0
        return sources.firstIndex { source in
            written += source.bytes.count
            return 2 * written >= total
        } ?? -1
    }

    /// {"metadata": <metadata>, "sections": [...]} for these per-chunk results.
    func headerJSON(metadata: Data, chunks: [EncodedChunk]) -> [UInt8] {
        var offset = 0
        let table = sections.map { section in
            let sectionChunks = section.chunks.map { index in
                CheckpointChunk(rawBytes: sources[index].bytes.count, storedBytes: chunks[index].storedBytes,
                                rawXXH64: chunks[index].rawXXH64, storedXXH64: chunks[index].storedXXH64, segments: chunks[index].segments)
            }
            let storedBytes = sectionChunks.reduce(0) { $0 + $1.storedBytes }
            defer { offset += storedBytes }
            return CheckpointSection(name: section.name, kind: section.kind, count: section.count, byteShuffle: section.byteShuffle,
                                     codec: CheckpointFormat.segmentsCodec, offset: offset, rawBytes: section.count * section.kind.elementBytes,
                                     storedBytes: storedBytes, chunks: sectionChunks)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Only integers, booleans and the caller's section names: encoding cannot fail.
        let tableJSON = try! encoder.encode(table)
        return Array(#"{"metadata":"#.utf8) + metadata + Array(#","sections":"#.utf8) + tableJSON + Array("}".utf8)
    }
}
