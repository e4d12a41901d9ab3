// The read half of the chunk pipeline: each worker preads a chunk's stored bytes into its own
// buffer, checks the stored checksum before zstd sees a byte, decodes the chunk (codec "segments":
// decompresses the zstd segments, merges byte planes straight from where they lie; codec "zstd":
// one frame), and checks the raw checksum of the result. A chunk stored as one raw segment is read
// straight into the destination and hashed once, its stored and raw bytes being the same.

enum ChunkDecoder {
    /// Decodes `section` of `file` (section area at `dataStart`) into `destination`, which holds
    /// exactly section.rawBytes bytes, on up to `threads` threads. On error the destination's
    /// contents are unspecified. The section's table must have passed CheckpointHeader's checks.
    static func read(_ section: CheckpointSection, from file: ReadOnlyFile, dataStart: Int,
                     into destination: UnsafeMutableRawBufferPointer, threads: Int) throws(CheckpointError) {
        precondition(destination.count == section.rawBytes, "destination must hold the whole section")
        let fileOffsets = section.chunkFileOffsets(dataStart: dataStart)
        let rawOffsets = section.chunkRawOffsets
        let largestStored = section.chunks.map(\.storedBytes).max() ?? 0
        let largestRaw = section.chunks.map(\.rawBytes).max() ?? 0
        let segmented = section.codec == CheckpointFormat.segmentsCodec
        let output = SharedMutableBytes(buffer: destination)
        let path = file.path
        let schedule = ChunkSchedule(chunkCount: section.chunks.count)
        schedule.run(threads: threads) {
            let decompressor = ZstdDecompressor()
            let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: largestStored, alignment: 64)
            let planes = UnsafeMutableRawBufferPointer.allocate(byteCount: section.byteShuffle ? largestRaw : 0, alignment: 64)
            defer {
                stored.deallocate()
                planes.deallocate()
            }
            while let index = schedule.claim() {
                let chunk = section.chunks[index]
                let target = UnsafeMutableRawBufferPointer(rebasing: output.buffer[rawOffsets[index]..<(rawOffsets[index] + chunk.rawBytes)])
                let storedInTarget = segmented && chunk.segments?.first?.codec == .raw && !section.byteShuffle
                let frame = storedInTarget ? target : UnsafeMutableRawBufferPointer(rebasing: stored[0..<chunk.storedBytes])
                do throws(SystemCallError) {
                    try file.read(into: frame, at: fileOffsets[index])
                } catch {
                    schedule.fail(index, CheckpointError(error, reportedAs: path))
                    return
                }
                let storedXXH64 = XXH64.hash(UnsafeRawBufferPointer(frame))
                guard storedXXH64 == chunk.storedXXH64 else {
                    schedule.fail(index, .checksumMismatch(path: path, region: section.describeChunk(index, part: "stored bytes")))
                    return
                }
                do throws(ZstdFailure) {
                    if storedInTarget {
                        // Nothing to decode: the raw bytes are the stored bytes just checked.
                    } else if segmented {
                        try decodeSegments(chunk, byteShuffle: section.byteShuffle, from: UnsafeRawBufferPointer(frame), into: target,
                                           planes: planes, decompressor: decompressor)
                    } else if section.byteShuffle {
                        let shuffled = UnsafeMutableRawBufferPointer(rebasing: planes[0..<chunk.rawBytes])
                        try decompressor.decompress(UnsafeRawBufferPointer(frame), into: shuffled)
                        ByteShuffle.merge(UnsafeRawPointer(shuffled.baseAddress!), into: target.baseAddress!, count: chunk.rawBytes / 4)
                    } else {
                        try decompressor.decompress(UnsafeRawBufferPointer(frame), into: target)
                    }
                } catch {
                    schedule.fail(index, .corruptSection(path: path, section: section.name, reason: "chunk \(index + 1) of \(section.chunks.count): \(error.reason)"))
                    return
                }
                let rawXXH64 = storedInTarget ? storedXXH64 : XXH64.hash(UnsafeRawBufferPointer(target))
                guard rawXXH64 == chunk.rawXXH64 else {
                    schedule.fail(index, .checksumMismatch(path: path, region: section.describeChunk(index, part: "decoded bytes")))
                    return
                }
            }
        }
        if let failure = schedule.firstFailure { throw failure }
    }

    /// Decodes the segments of one chunk (sizes checked by CheckpointHeader) from `stored` into
    /// `target`: one segment for the whole chunk, or four byte planes, zstd ones decompressed into
    /// `planes` and raw ones merged from `stored` where they lie.
    private static func decodeSegments(_ chunk: CheckpointChunk, byteShuffle: Bool, from stored: UnsafeRawBufferPointer,
                                       into target: UnsafeMutableRawBufferPointer, planes: UnsafeMutableRawBufferPointer,
                                       decompressor: ZstdDecompressor) throws(ZstdFailure) {
        let segments = chunk.segments!
        guard byteShuffle else {
            // One segment; a raw one was read straight into the target by the caller.
            try decompressor.decompress(stored, into: target)
            return
        }
        let planeBytes = chunk.rawBytes / 4
        var pointers: [UnsafeRawPointer] = []
        pointers.reserveCapacity(4)
        var start = 0
        for (plane, segment) in segments.enumerated() {
            let bytes = UnsafeRawBufferPointer(rebasing: stored[start..<(start + segment.storedBytes)])
            switch segment.codec {
            case .raw:
                pointers.append(bytes.baseAddress!)
            case .zstd:
                let decoded = UnsafeMutableRawBufferPointer(rebasing: planes[(plane * planeBytes)..<((plane + 1) * planeBytes)])
                try decompressor.decompress(bytes, into: decoded)
                pointers.append(UnsafeRawPointer(decoded.baseAddress!))
            }
            start += segment.storedBytes
        }
        ByteShuffle.merge(planes: (pointers[0], pointers[1], pointers[2], pointers[3]), into: target.baseAddress!, count: planeBytes)
    }
}
