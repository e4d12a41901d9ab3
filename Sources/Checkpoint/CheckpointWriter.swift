// Writes a .wmx checkpoint (layout in CheckpointFormat.swift): named sections of floats, Int64s or
// bytes plus the caller's metadata as JSON, compressed in chunks on several threads straight into a
// temporary file beside the target, which is fsynced and renamed over it (TemporaryFile).
//
// Measured here (2 cores; 84M floats: N(0, 0.02^2) weights and AdamW moments; numbers swing ~2x
// with the shared host, so configurations were compared interleaved; CheckpointBenchmarkTests):
//   level 1 + byte shuffle (default): ratio 1.19, save 0.6-0.7 GB/s, load 2.0-2.5 GB/s
//   level 1, no shuffle:              ratio 1.08, save about the same, load 1.5x slower
//   level 3 + byte shuffle:           ratio 1.17 (worse), save and load slower
//   level -1, no shuffle:             ratio 1.00 (zstd stores raw blocks), save up to ~1.1 GB/s
// zstd on the sign/exponent plane is most of the save time; fsync is ~0.07 s of it thanks to early
// writeback (TemporaryFile). Chunks of 4 MiB keep each worker's buffers in cache and let load
// decompress in parallel too, which ZSTD_c_nbWorkers (compression only) would not; 1 MiB is no
// better, 16 MiB loads slower.
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
