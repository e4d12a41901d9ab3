// The read half of the chunk pipeline: each worker preads a chunk's frame into its own buffer,
// checks the stored checksum before zstd sees a byte, decompresses, merges byte planes back into
// floats, and checks the raw checksum of the result.

enum ChunkDecoder {
    /// Decodes `section` of `file` (section area at `dataStart`) into `destination`, which holds
    /// exactly section.rawBytes bytes, on up to `threads` threads. On error the destination's
    /// contents are unspecified.
    static func read(_ section: CheckpointSection, from file: ReadOnlyFile, dataStart: Int,
                     into destination: UnsafeMutableRawBufferPointer, threads: Int) throws(CheckpointError) {
        precondition(destination.count == section.rawBytes, "destination must hold the whole section")
        let fileOffsets = section.chunkFileOffsets(dataStart: dataStart)
        let rawOffsets = section.chunkRawOffsets
        let largestStored = section.chunks.map(\.storedBytes).max() ?? 0
        let largestRaw = section.chunks.map(\.rawBytes).max() ?? 0
        let output = SharedMutableBytes(buffer: destination)
        let path = file.path
        let schedule = ChunkSchedule(chunkCount: section.chunks.count)
        schedule.run(threads: threads) {
            let decompressor = ZstdDecompressor()
            let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: largestStored, alignment: 64)
            let shuffled = UnsafeMutableRawBufferPointer.allocate(byteCount: section.byteShuffle ? largestRaw : 0, alignment: 64)
            defer {
                stored.deallocate()
                shuffled.deallocate()
            }
            while let index = schedule.claim() {
                let chunk = section.chunks[index]
                let frame = UnsafeMutableRawBufferPointer(rebasing: stored[0..<chunk.storedBytes])
                let target = UnsafeMutableRawBufferPointer(rebasing: output.buffer[rawOffsets[index]..<(rawOffsets[index] + chunk.rawBytes)])
                do throws(SystemCallError) {
                    try file.read(into: frame, at: fileOffsets[index])
                } catch {
                    schedule.fail(index, CheckpointError(error, reportedAs: path))
                    return
                }
                guard XXH64.hash(UnsafeRawBufferPointer(frame)) == chunk.storedXXH64 else {
                    schedule.fail(index, .checksumMismatch(path: path, region: section.describeChunk(index, part: "stored bytes")))
                    return
                }
                let decoded = section.byteShuffle ? UnsafeMutableRawBufferPointer(rebasing: shuffled[0..<chunk.rawBytes]) : target
                do throws(ZstdFailure) {
                    try decompressor.decompress(UnsafeRawBufferPointer(frame), into: decoded)
                } catch {
                    schedule.fail(index, .corruptSection(path: path, section: section.name, reason: "chunk \(index + 1) of \(section.chunks.count): \(error.reason)"))
                    return
                }
                if section.byteShuffle {
                    ByteShuffle.merge(decoded.baseAddress!, into: target.baseAddress!, count: chunk.rawBytes / 4)
                }
                guard XXH64.hash(UnsafeRawBufferPointer(target)) == chunk.rawXXH64 else {
                    schedule.fail(index, .checksumMismatch(path: path, region: section.describeChunk(index, part: "decoded bytes")))
                    return
                }
            }
        }
        if let failure = schedule.firstFailure { throw failure }
    }
}
