// Writes a .wmx checkpoint (layout in CheckpointFormat.swift): named sections of floats, Int64s or
// bytes plus the caller's metadata as JSON, encoded in chunks on several threads and appended by a
// writer thread to a temporary file beside the target, which is fsynced and renamed over it
// (TemporaryFile). Float chunks are split into byte planes; the sign/exponent plane is entropy-coded
// by zstd, the low mantissa planes, which no coder shrinks, are stored as they are (codec
// "segments"); with direct I/O (ext4, xfs) the stored bytes go to the disk around the page cache.
//
// Measured here (2 cores shared with other engineers' builds and benchmarks: every comparison
// interleaved, ranges over runs, with the 1-minute load average; 84M floats, 336 MB: N(0, 0.02^2)
// weights and AdamW moments; CheckpointBenchmarkTests, CheckpointPipelineBenchmarkTests):
//   this writer vs the previous one (each chunk one level-1 zstd frame of its byte planes, pwrite
//   through the page cache), CheckpointWriter.write including fsync, rename and directory fsync,
//   15 saves each per session:
//     load 1.7-2.1: median 1.27 GB/s (1.01-1.44; 0.23-0.33 s) vs 0.76 (0.39-1.24); ratio 1.199 vs 1.188
//     load 1.4-1.6: median 1.09 GB/s (0.58-1.89) vs 0.71 (0.35-1.30)
//     load 2.3-2.9: median 1.10 GB/s (0.69-1.43) vs 0.67 (0.21-1.04)
//     load 3.7-4.4: median 1.00 GB/s (0.50-2.01) vs 0.49 (0.25-1.12)
//   load (readFloats into existing buffers) from the page cache, same sessions: median 3.3-4.3
//   GB/s vs 1.5-3.0; from the disk (the file's pages dropped first): median 1.0-1.4 vs 0.8-1.2.
// Where the time went and what each change bought (one thread, in memory unless said):
//   - zstd level 1 on the sign/exponent plane: 0.33 GB/s of plane bytes, ratio 2.72; entropy-only
//     zstd (ZstdCompressor): 0.88 GB/s, ratio 2.94. The mantissa planes do not compress (ratio
//     1.000) yet cost zstd ~0.2 ms per MiB to find out; a sampled entropy probe takes 14 us.
//     Encoding a 4 MiB chunk (split, probe, zstd): 2.25 GB/s of raw bytes, against 1.1 at level 1.
//   - The copy into the page cache was then the largest cost: 25% of a profiled save's samples,
//     0.07-0.36 s of system time per save (up to 0.6 s for the first save of a process); with
//     O_DIRECT 0.01-0.04 s. Encode + write + commit, 8 interleaved rounds at load 1.1-1.4: median
//     0.27 s direct, 0.43 s buffered.
//   - XXH64 (14 GB/s) and the byte split (10 GB/s) are not the bottleneck; hashing the stored bytes
//     while staging them for direct I/O (13.9 GB/s vs 11.2 for hash then copy) takes that hash
//     off the workers. Fusing the raw hash into the split gained 4% of the split and was dropped.
//   - Level 3 compresses worse (1.18) and slower. Not byte-shuffling: ratio 1.08.
//   - The host never had both cores free while this was measured; with about one free, 2 encoding
//     threads did slightly better than 1 at load 1.1-1.4 (median 0.268 vs 0.283 s) and no better
//     at load 2.6-3.4. fsync + rename + directory fsync: ~1-5 ms after direct writes, up to 50 ms
//     when the rename replaces a file (online discard of its blocks).
// Chunks of 4 MiB keep each worker's buffers in cache and let load decompress in parallel too,
// which ZSTD_c_nbWorkers (compression only) would not; 1 MiB is no better, 16 MiB loads slower.
import Foundation

public struct CheckpointWriter {
    public struct Options: Sendable {
        /// zstd compression level of whole chunks (sections that are not byte-shuffled), and of
        /// byte planes unless `entropyCodedPlanes` (negative levels trade ratio for speed).
        public var level: Int32
        /// Split float sections into byte planes before compression; planes that do not compress
        /// (low mantissa bytes) are then stored as they are.
        public var byteShuffle: Bool
        /// Compress byte planes with zstd's entropy stage and almost no match search (at level 1,
        /// whatever `level` says) instead of at `level`: faster and, on float planes, smaller
        /// (ZstdCompressor).
        public var entropyCodedPlanes: Bool
        /// Raw bytes per independently compressed chunk.
        public var chunkBytes: Int
        /// Threads compressing chunks (one more writes them).
        public var threads: Int
        /// Write whole blocks with O_DIRECT, around the page cache, where the file system is ext4 or
        /// xfs (TemporaryFile); elsewhere, or when false, write through the page cache.
        public var directIO: Bool

        public init(level: Int32 = 1, byteShuffle: Bool = true, entropyCodedPlanes: Bool = true, chunkBytes: Int = 4 << 20,
                    threads: Int = ProcessInfo.processInfo.activeProcessorCount, directIO: Bool = true) {
            precondition((1...CheckpointFormat.maxChunkBytes).contains(chunkBytes), "chunkBytes must be 1...\(CheckpointFormat.maxChunkBytes)")
            self.level = level
            self.byteShuffle = byteShuffle
            self.entropyCodedPlanes = entropyCodedPlanes
            self.chunkBytes = chunkBytes
            self.threads = max(1, threads)
            self.directIO = directIO
        }
    }

    /// Test hook: with WAVEMIX_TEST_PAUSE_IN_SAVE=<seconds> in the environment, write(to:) sleeps
    /// that long once about half of the data is in the temporary file, so a test can kill the
    /// process in the middle of a save.
    public static let pauseEnvironmentVariable = "WAVEMIX_TEST_PAUSE_IN_SAVE"

    private struct PendingSection {
        let name: String
        let payload: ElementPayload

        var kind: CheckpointSectionKind {
            switch payload {
            case .floats, .borrowedFloats: return .f32
            case .int64s: return .i64
            case .bytes: return .bytes
            }
        }
    }

    public let options: Options
    private let metadata: any Encodable
    private var sections: [PendingSection] = []

    /// `metadata` is stored as JSON and read back with CheckpointReader.metadata(as:).
    public init(metadata: some Encodable = [String: String](), options: Options = Options()) {
        self.metadata = metadata
        self.options = options
    }

    public mutating func add(_ name: String, floats: [Float]) {
        sections.append(PendingSection(name: name, payload: .floats(floats)))
    }

    /// Adds floats without copying them: the memory must stay valid and unchanged until write(to:) returns.
    public mutating func add(_ name: String, floats: UnsafeBufferPointer<Float>) {
        sections.append(PendingSection(name: name, payload: .borrowedFloats(floats)))
    }

    public mutating func add(_ name: String, int64s: [Int64]) {
        sections.append(PendingSection(name: name, payload: .int64s(int64s)))
    }

    public mutating func add(_ name: String, bytes: [UInt8]) {
        sections.append(PendingSection(name: name, payload: .bytes(bytes)))
    }

    /// Writes the checkpoint to `path` atomically: on any error the file at `path` is untouched and
    /// no temporary file is left behind.
    public func write(to path: String) throws(CheckpointError) {
        var names = Set<String>()
        for section in sections where !names.insert(section.name).inserted {
            throw .duplicateSection(path: path, section: section.name)
        }
        let metadataJSON: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            metadataJSON = try encoder.encode(metadata)
        } catch {
            throw .metadataNotEncodable(path: path, reason: String(describing: error))
        }
        try Self.withRawBytes(sections[...], []) { (buffers) throws(CheckpointError) in
            try write(buffers, metadataJSON: metadataJSON, to: path)
        }
    }

    /// Calls `body` with the raw bytes of every section, valid for the duration of the call.
    private static func withRawBytes<R>(_ pending: ArraySlice<PendingSection>, _ collected: [UnsafeRawBufferPointer],
                                        _ body: ([UnsafeRawBufferPointer]) throws(CheckpointError) -> R) throws(CheckpointError) -> R {
        guard let first = pending.first else { return try body(collected) }
        return try first.payload.withRawBytes { (bytes) throws(CheckpointError) -> R in
            try withRawBytes(pending.dropFirst(), collected + [bytes], body)
        }
    }

    private func write(_ buffers: [UnsafeRawBufferPointer], metadataJSON: Data, to path: String) throws(CheckpointError) {
        let layout = ChunkLayout(sections: sections.map { ($0.name, $0.kind) }, buffers: buffers, options: options)
        // Room for the table with every stored size at its upper bound; the real table is never longer.
        let reservedJSON = layout.headerJSON(metadata: metadataJSON, chunks: layout.upperBounds).count
        let dataStart = CheckpointFormat.fixedHeaderBytes + reservedJSON + CheckpointFormat.headerChecksumBytes

        let file: TemporaryFile
        do throws(SystemCallError) {
            file = try TemporaryFile(finalPath: path, directIO: options.directIO)
        } catch {
            if error.meansNotWritable { throw .notWritable(directory: directoryOf(path), reason: error.reason) }
            throw CheckpointError(error, reportedAs: path)
        }
        // On any failure the temporary file goes now, not whenever the writer thread lets go of it.
        defer { file.discard() }
        let coding = ChunkCoding(level: options.level, entropyCodedPlanes: options.entropyCodedPlanes)
        let encoded = try ChunkEncoder.write(layout.sources, coding: coding, threads: options.threads, to: file,
                                             at: dataStart, reportedAs: path, afterChunk: Self.pauseHook(halfway: layout.halfwayChunk))
        var json = layout.headerJSON(metadata: metadataJSON, chunks: encoded)
        precondition(json.count <= reservedJSON, "the header outgrew the room reserved for it")
        json += [UInt8](repeating: UInt8(ascii: " "), count: reservedJSON - json.count)
        var header = CheckpointFormat.fixedHeader(jsonBytes: reservedJSON) + json
        let checksum = header.withUnsafeBytes { XXH64.hash($0) }
        withUnsafeBytes(of: checksum.littleEndian) { header += $0 }
        do throws(SystemCallError) {
            try file.write(header, at: 0)
            try file.commit()
        } catch {
            throw CheckpointError(error, reportedAs: path)
        }
    }

    /// The test hook of pauseEnvironmentVariable, run after each chunk is written.
    private static func pauseHook(halfway: Int) -> @Sendable (Int) -> Void {
        let seconds = ProcessInfo.processInfo.environment[pauseEnvironmentVariable].flatMap(Double.init) ?? 0
        return { chunk in
            if chunk == halfway && seconds > 0 { Thread.sleep(forTimeInterval: seconds) }
        }
    }
}
