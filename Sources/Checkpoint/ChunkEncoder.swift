// The write half of the chunk pipeline: each worker hashes a chunk's raw bytes, byte-shuffles
// floats, compresses the chunk into one zstd frame, hashes the frame, gets the frame's place from
// the ChunkSchedule and pwrites it there, so compression on one thread overlaps writing on another
// and no buffer the size of the checkpoint is ever allocated.

/// The raw bytes of one chunk and whether to byte-shuffle them (4-byte elements) first.
struct ChunkSource: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    let byteShuffle: Bool
}

/// A chunk's frame size and checksums (frames lie back to back in chunk order).
struct EncodedChunk: Sendable {
    let storedBytes: Int
    let rawXXH64: UInt64
    let storedXXH64: UInt64
}

enum ChunkEncoder {
    /// Compresses `chunks` at zstd `level` on up to `threads` threads and writes the frames back to
    /// back, in order, into `file` from `dataStart`. `afterChunk(i)` runs on the worker that has just
    /// written chunk i. Errors name `path`, the file being replaced.
    static func write(_ chunks: [ChunkSource], level: Int32, threads: Int, to file: TemporaryFile, at dataStart: Int,
                      reportedAs path: String, afterChunk: @escaping @Sendable (Int) -> Void) throws(CheckpointError) -> [EncodedChunk] {
        let schedule = ChunkSchedule(chunkCount: chunks.count)
        let results = ChunkResults<EncodedChunk>(count: chunks.count)
        let largest = chunks.map(\.bytes.count).max() ?? 0
        let needsShuffle = chunks.contains(where: \.byteShuffle)
        schedule.run(threads: threads) {
            let compressor = ZstdCompressor(level: level)
            let shuffled = UnsafeMutableRawBufferPointer.allocate(byteCount: needsShuffle ? largest : 0, alignment: 64)
            let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: Zstd.compressBound(largest), alignment: 64)
            defer {
                shuffled.deallocate()
                frame.deallocate()
            }
            while let index = schedule.claim() {
                let source = chunks[index]
                let rawXXH64 = XXH64.hash(source.bytes)
                var input = source.bytes
                if source.byteShuffle {
                    ByteShuffle.split(source.bytes.baseAddress!, into: shuffled.baseAddress!, count: source.bytes.count / 4)
                    input = UnsafeRawBufferPointer(rebasing: shuffled[0..<source.bytes.count])
                }
                let storedBytes: Int
                do throws(ZstdFailure) {
                    storedBytes = try compressor.compress(input, into: frame)
                } catch {
                    schedule.fail(index, .io(operation: "zstd compression", path: path, reason: error.reason))
                    return
                }
                let stored = UnsafeRawBufferPointer(rebasing: frame[0..<storedBytes])
                let storedXXH64 = XXH64.hash(stored)
                guard let offset = schedule.place(index, storedBytes: storedBytes) else { return }
                do throws(SystemCallError) {
                    try file.write(stored, at: dataStart + offset)
                } catch {
                    schedule.fail(index, CheckpointError(error, reportedAs: path))
                    return
                }
                results.set(index, EncodedChunk(storedBytes: storedBytes, rawXXH64: rawXXH64, storedXXH64: storedXXH64))
                afterChunk(index)
            }
        }
        if let failure = schedule.firstFailure { throw failure }
        return results.all
    }
}
