// The stored chunks of a checkpoint go into its file back to back, in order, from the start of the
// section area. With direct I/O (TemporaryFile) they are copied into an aligned staging buffer and
// every whole aligned block is written around the page cache as soon as it is complete; the
// unaligned head (where the header ends) and tail (where the file ends) are written buffered, into
// pages no direct write touches. Without direct I/O each chunk is simply written where it belongs.
// Either way a chunk's bytes are in the file, up to the last partial block, once append returns.
import Foundation

final class StoredChunkStream: @unchecked Sendable {
    private let file: TemporaryFile
    /// File offset of the first staged byte, or of the next chunk when nothing is staged.
    private(set) var position: Int
    /// Bytes waiting in `staging` (fewer than directAlignment between appends).
    private var staged = 0
    private let staging: UnsafeMutableRawBufferPointer

    /// A stream from file offset `start` for chunks of at most `largestChunk` stored bytes.
    init(file: TemporaryFile, start: Int, largestChunk: Int) {
        self.file = file
        position = start
        let alignment = TemporaryFile.directAlignment
        staging = UnsafeMutableRawBufferPointer.allocate(byteCount: file.isDirect ? largestChunk + 2 * alignment : 0, alignment: alignment)
    }

    deinit { staging.deallocate() }

    /// Writes `bytes` right after what was appended before and returns their XXH64: `knownXXH64`
    /// when given, else computed while they are copied into the staging buffer (direct I/O) or just
    /// before they are written.
    func append(_ bytes: UnsafeRawBufferPointer, knownXXH64: UInt64? = nil) throws(SystemCallError) -> UInt64 {
        guard file.isDirect else {
            let hash = knownXXH64 ?? XXH64.hash(bytes)
            try file.write(bytes, at: position)
            position += bytes.count
            return hash
        }
        let alignment = TemporaryFile.directAlignment
        let destination = staging.baseAddress! + staged
        let hash: UInt64
        if let knownXXH64 {
            destination.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            hash = knownXXH64
        } else {
            hash = XXH64.hash(bytes, copyingTo: destination)
        }
        staged += bytes.count
        // Up to the first block boundary, buffered (the block also holds the end of the header).
        let head = min(staged, (alignment - position % alignment) % alignment)
        if head > 0 {
            try file.write(UnsafeRawBufferPointer(rebasing: staging[0..<head]), at: position)
            consume(head)
        }
        let blocks = staged / alignment * alignment
        if blocks > 0 {
            try file.writeDirect(UnsafeRawBufferPointer(rebasing: staging[0..<blocks]), at: position)
            consume(blocks)
        }
        return hash
    }

    /// Writes what is still staged (less than one block, buffered) and returns the end offset.
    func finish() throws(SystemCallError) -> Int {
        if staged > 0 {
            try file.write(UnsafeRawBufferPointer(rebasing: staging[0..<staged]), at: position)
            consume(staged)
        }
        return position
    }

    /// Drops the first `count` staged bytes, which are in the file now, and moves the rest to the
    /// front of the (aligned) staging buffer.
    private func consume(_ count: Int) {
        staged -= count
        position += count
        if staged > 0 { memmove(staging.baseAddress!, staging.baseAddress! + count, staged) }
    }
}
