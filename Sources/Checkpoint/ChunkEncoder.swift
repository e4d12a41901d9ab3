// The write half of the chunk pipeline: each worker hashes a chunk's raw bytes, encodes it as the
// segments of codec "segments" (CheckpointFormat.swift) and parks the result (ChunkPlacement); a
// writer thread takes the chunks in order, hashes their stored bytes as it appends them to the
// file (StoredChunkStream, direct I/O where the file allows), so encoding overlaps writing and no
// buffer the size of the checkpoint is ever allocated.
//
// A byte-shuffled chunk is split into four planes in the worker's buffer; each plane that looks
// compressible (ByteShuffle.looksCompressible) is replaced by its zstd frame when that is smaller,
// the others stay as they are, and the segments are packed to the left in place. A chunk that is not
// shuffled is one segment: its zstd frame when smaller, else the caller's bytes, written without a
// copy (and then its stored checksum is its raw one, computed once).
import Foundation

/// The raw bytes of one chunk and whether to byte-shuffle them (4-byte elements) first.
struct ChunkSource: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    let byteShuffle: Bool
}

/// A chunk's stored size, checksums and segments (stored chunks lie back to back in chunk order).
struct EncodedChunk: Sendable {
    let storedBytes: Int
    let rawXXH64: UInt64
    let storedXXH64: UInt64
    let segments: [CheckpointSegment]
}

/// How chunks are compressed: zstd at `level` for whole chunks, and for byte planes the same or,
/// with `entropyCodedPlanes`, zstd's entropy stage alone (ZstdCompressor).
struct ChunkCoding: Sendable {
    let level: Int32
    let entropyCodedPlanes: Bool
}

enum ChunkEncoder {
    /// An encoded chunk waiting for its place: its stored bytes (in `buffer`, or the caller's raw
    /// bytes for a chunk stored as one raw segment), their checksum if known (that of the raw bytes
    /// when they are the same bytes; the writer computes the others as it writes them), and its
    /// raw checksum and segments.
    private struct Pending: @unchecked Sendable {
        let buffer: UnsafeMutableRawBufferPointer
        let stored: UnsafeRawBufferPointer
        let storedXXH64: UInt64?
        let rawXXH64: UInt64
        let segments: [CheckpointSegment]
    }

    /// Encodes `chunks` on up to `threads` threads and writes them back to back, in order, into
    /// `file` from `dataStart` on one more thread (StoredChunkStream); returns what the table needs.
    /// `afterChunk(i)` runs on the writer just after chunk i is in the file (all of it but a last
    /// partial block). Errors name `path`, the file being replaced.
    static func write(_ chunks: [ChunkSource], coding: ChunkCoding, threads: Int, to file: TemporaryFile, at dataStart: Int,
                      reportedAs path: String, afterChunk: @escaping @Sendable (Int) -> Void) throws(CheckpointError) -> [EncodedChunk] {
        let schedule = ChunkSchedule(chunkCount: chunks.count)
        let results = ChunkResults<EncodedChunk>(count: chunks.count)
        let largest = chunks.map(\.bytes.count).max() ?? 0
        let workers = max(1, min(threads, chunks.count))
        // The stored bytes of a chunk are never longer than its raw bytes (segments that do not
        // shrink are stored as they are). Two spare buffers per worker: one being filled, one parked.
        let placement = ChunkPlacement<Pending>(chunkCount: chunks.count, buffers: 2 * workers, bytes: largest)
        let stream = StoredChunkStream(file: file, start: dataStart, largestChunk: largest)
        let writerDone = DispatchSemaphore(value: 0)
        let writer = Thread {
            defer { writerDone.signal() }
            while let (chunk, pending) = placement.takeNext() {
                let storedXXH64: UInt64
                do throws(SystemCallError) {
                    storedXXH64 = try stream.append(pending.stored, knownXXH64: pending.storedXXH64)
                } catch {
                    schedule.fail(chunk, CheckpointError(error, reportedAs: path))
                    placement.cancel()
                    return
                }
                results.set(chunk, EncodedChunk(storedBytes: pending.stored.count, rawXXH64: pending.rawXXH64, storedXXH64: storedXXH64,
                                                segments: pending.segments))
                placement.giveBack(pending.buffer)
                afterChunk(chunk)
            }
        }
        writer.start()
        schedule.run(threads: workers) {
            let chunkCompressor = ZstdCompressor(level: coding.level)
            // Entropy coding was tuned at level 1 (ZstdCompressor); `level` then applies to whole chunks only.
            let planeCompressor = ZstdCompressor(level: coding.entropyCodedPlanes ? 1 : coding.level, entropyOnly: coding.entropyCodedPlanes)
            // A plane's frame is kept only if shorter than the plane.
            let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: largest / 4, alignment: 64)
            defer { frame.deallocate() }
            while let buffer = placement.takeBuffer() {
                guard let index = schedule.claim() else {
                    placement.giveBack(buffer)
                    return
                }
                let source = chunks[index]
                let rawXXH64 = XXH64.hash(source.bytes)
                let encoded: (bytes: UnsafeRawBufferPointer, segments: [CheckpointSegment])
                do throws(ZstdFailure) {
                    if source.byteShuffle {
                        encoded = try encodePlanes(source.bytes, compressor: planeCompressor, buffer: buffer, frame: frame)
                    } else {
                        encoded = try encodeWhole(source.bytes, compressor: chunkCompressor, buffer: buffer)
                    }
                } catch {
                    schedule.fail(index, .io(operation: "zstd compression", path: path, reason: error.reason))
                    placement.cancel()
                    return
                }
                let unchanged = encoded.bytes.baseAddress == source.bytes.baseAddress && encoded.bytes.count == source.bytes.count
                placement.park(index, Pending(buffer: buffer, stored: encoded.bytes, storedXXH64: unchanged ? rawXXH64 : nil,
                                              rawXXH64: rawXXH64, segments: encoded.segments))
            }
        }
        writerDone.wait()
        if let failure = schedule.firstFailure { throw failure }
        let end: Int
        do throws(SystemCallError) {
            end = try stream.finish()
        } catch {
            throw CheckpointError(error, reportedAs: path)
        }
        let encoded = results.all
        precondition(end == dataStart + encoded.reduce(0) { $0 + $1.storedBytes }, "the stream ends where the chunks do")
        return encoded
    }

    /// One segment: the zstd frame of `source` in `buffer` if shorter, else `source` itself.
    static func encodeWhole(_ source: UnsafeRawBufferPointer, compressor: ZstdCompressor,
                                    buffer: UnsafeMutableRawBufferPointer) throws(ZstdFailure) -> (bytes: UnsafeRawBufferPointer, segments: [CheckpointSegment]) {
        let room = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(source.count - 1)])
        if let size = try compressor.compressIfItFits(source, into: room) {
            return (UnsafeRawBufferPointer(rebasing: buffer[0..<size]), [CheckpointSegment(codec: .zstd, storedBytes: size)])
        }
        return (source, [CheckpointSegment(codec: .raw, storedBytes: source.count)])
    }

    /// Four segments, one per byte plane of the 4-byte elements of `source`, packed into `buffer`.
    static func encodePlanes(_ source: UnsafeRawBufferPointer, compressor: ZstdCompressor, buffer: UnsafeMutableRawBufferPointer,
                                     frame: UnsafeMutableRawBufferPointer) throws(ZstdFailure) -> (bytes: UnsafeRawBufferPointer, segments: [CheckpointSegment]) {
        let planeBytes = source.count / 4
        ByteShuffle.split(source.baseAddress!, into: buffer.baseAddress!, count: planeBytes)
        var segments: [CheckpointSegment] = []
        segments.reserveCapacity(4)
        // Plane p starts at p * planeBytes and `end` never passes it, so packing a segment to the
        // left never overwrites a plane not yet encoded.
        var end = 0
        for plane in 0..<4 {
            let start = plane * planeBytes
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + planeBytes)])
            if ByteShuffle.looksCompressible(bytes),
               let size = try compressor.compressIfItFits(bytes, into: UnsafeMutableRawBufferPointer(rebasing: frame[0..<(planeBytes - 1)])) {
                (buffer.baseAddress! + end).copyMemory(from: frame.baseAddress!, byteCount: size)
                segments.append(CheckpointSegment(codec: .zstd, storedBytes: size))
                end += size
            } else {
                if end != start { memmove(buffer.baseAddress! + end, bytes.baseAddress!, planeBytes) }
                segments.append(CheckpointSegment(codec: .raw, storedBytes: planeBytes))
                end += planeBytes
            }
        }
        return (UnsafeRawBufferPointer(rebasing: buffer[0..<end]), segments)
    }
}
