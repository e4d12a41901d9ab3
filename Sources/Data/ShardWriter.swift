// One rank's part of `wavemix prepare` for one split: decodes its range of source indices
// (PreparePlan.range) with `threads` threads, a block at a time, and appends a record per image to
// its shard file; then fsyncs the shard and writes its index file (atomically). The shard is locked
// (flock) while it is written, so a second prepare on the same output stops instead of interleaving.
//   Resume: an existing shard must carry this plan's header; its records are kept up to the last
//   one whose checksum verifies (a torn tail is cut off), and decoding continues after that
//   record's source index. A shard that already has its index file is complete and left alone.
//   Bad images: skipped with a warning (they get no record), or, when `strict`, the error stops
//   the run; skipped images are listed in the manifest.

import Dispatch
import Foundation
import PositionalIO

public enum ShardWriter {
    public struct Result: Sendable, Equatable {
        /// Records in the shard, including those of an earlier run.
        public var records: Int
        /// Source indices skipped by this run.
        public var skipped: [Int]
        /// Source indices that were already packed when this run started.
        public var resumed: Int
    }

    /// Packs `source`'s indices of rank `rank` into OUT/<split>-<rank>-of-<world>.wmxp and its index.
    /// `progress(done, total)` is called after every block, `warn` once per skipped image.
    public static func write(out: String, plan: PreparePlan, split: String, source: ImageFileSource, rank: Int, threads: Int,
                             strict: Bool, progress: (Int, Int) -> Void,
                             warn: (String) -> Void) throws(DataError) -> Result {
        precondition(source.height == plan.size && source.width == plan.size, "ShardWriter: source size differs from the plan")
        let range = PreparePlan.range(count: source.count, rank: rank, worldSize: plan.worldSize)
        let header = ShardHeader(height: plan.size, width: plan.size, channels: 3, sourceRange: range,
                                 planFingerprint: plan.fingerprint)
        let path = out + "/" + PackedFormat.shardName(split: split, rank: rank, worldSize: plan.worldSize)
        let indexPath = out + "/" + PackedFormat.indexName(split: split, rank: rank, worldSize: plan.worldSize)
        let shard = try ShardFile(path: path)
        if FileManager.default.fileExists(atPath: indexPath) {
            let entries = try IndexFile.read(indexPath)
            guard try shard.size() == PackedFormat.shardHeaderBytes + entries.count * header.recordBytes else {
                throw .badPacked(file: path, reason: "size does not match its complete index \(indexPath); delete both to redo this shard")
            }
            progress(range.count, range.count)
            return Result(records: entries.count, skipped: [], resumed: entries.count)
        }
        var entries = try shard.resume(header)
        let resumed = entries.count
        var next = entries.last.map { $0.sourceIndex + 1 } ?? range.lowerBound
        var skipped: [Int] = []
        let blockSize = max(16, 4 * threads)
        let block = RecordBlock(capacity: blockSize, recordBytes: header.recordBytes)
        progress(next - range.lowerBound, range.count)
        while next < range.upperBound {
            let indices = next..<min(next + blockSize, range.upperBound)
            block.decode(indices, source: source, threads: threads)
            for (k, index) in indices.enumerated() {
                if let error = block.errors[k] {
                    guard !strict, case .badImage = error else { throw error }
                    warn("warning: \(error); skipped")
                    skipped.append(index)
                    continue
                }
                let checksum = block.seal(k, sourceIndex: index, label: source.label(index))
                try shard.append(block.record(k), count: header.recordBytes)
                entries.append(IndexEntry(sourceIndex: index, label: source.label(index), checksum: checksum))
            }
            next = indices.upperBound
            progress(next - range.lowerBound, range.count)
        }
        try shard.sync()
        try AtomicFile.write(Data(IndexFile.encode(entries)), to: indexPath)
        return Result(records: entries.count, skipped: skipped, resumed: resumed)
    }
}

/// A block of records decoded in parallel: record k's pixels go after its 16-byte header.
private final class RecordBlock: @unchecked Sendable {
    let recordBytes: Int
    let buffer: UnsafeMutablePointer<UInt8>
    /// The error of record k's decode, if it failed; each written by the thread decoding k.
    let errors: UnsafeMutableBufferPointer<DataError?>

    init(capacity: Int, recordBytes: Int) {
        self.recordBytes = recordBytes
        buffer = .allocate(capacity: capacity * recordBytes)
        errors = .allocate(capacity: capacity)
        errors.initialize(repeating: nil)
    }

    deinit {
        buffer.deallocate()
        _ = errors.deinitialize()
        errors.deallocate()
    }

    func record(_ k: Int) -> UnsafeMutablePointer<UInt8> { buffer + k * recordBytes }

    /// Decodes `indices` (as epoch 0, seed 0: the source's centre crop) into records 0 ..< count.
    func decode(_ indices: Range<Int>, source: ImageFileSource, threads: Int) {
        let pixels = recordBytes - PackedFormat.recordHeaderBytes
        let work: @Sendable (Int) -> Void = { [self] k in
            let target = UnsafeMutableBufferPointer(start: record(k) + PackedFormat.recordHeaderBytes, count: pixels)
            do throws(DataError) {
                try source.decode(indices.lowerBound + k, epoch: 0, seed: 0, into: target)
                errors[k] = nil
            } catch {
                errors[k] = error
            }
        }
        if threads == 1 {
            for k in 0..<indices.count { work(k) }
        } else {
            DispatchQueue.concurrentPerform(iterations: indices.count, execute: work)
        }
    }

    /// Fills record k's header and returns its checksum.
    func seal(_ k: Int, sourceIndex: Int, label: Int) -> UInt32 {
        let r = record(k)
        var header: [UInt8] = []
        header.appendLittleEndian(UInt64(sourceIndex))
        header.appendLittleEndian(UInt32(label))
        r.update(from: header, count: 12)
        let checksum = Record.checksum(r, pixelBytes: recordBytes - PackedFormat.recordHeaderBytes)
        withUnsafeBytes(of: checksum.littleEndian) { (r + 12).update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: 4) }
        return checksum
    }
}

enum Record {
    /// CRC-32 of a record's first 12 bytes and its pixels.
    static func checksum(_ record: UnsafePointer<UInt8>, pixelBytes: Int) -> UInt32 {
        let head = CRC32.update(0, UnsafeRawBufferPointer(start: record, count: 12))
        return UInt32(truncatingIfNeeded: CRC32.update(head, UnsafeRawBufferPointer(start: record + PackedFormat.recordHeaderBytes,
                                                                                    count: pixelBytes)))
    }

    static func sourceIndex(_ record: UnsafePointer<UInt8>) -> Int {
        Int((0..<8).reduce(UInt64(0)) { $0 | UInt64(record[$1]) << (8 * UInt64($1)) })
    }

    static func label(_ record: UnsafePointer<UInt8>) -> Int {
        Int((0..<4).reduce(UInt32(0)) { $0 | UInt32(record[8 + $1]) << (8 * UInt32($1)) })
    }

    static func storedChecksum(_ record: UnsafePointer<UInt8>) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(record[12 + $1]) << (8 * UInt32($1)) }
    }
}

/// A shard file open for appending, locked against a concurrent writer.
private final class ShardFile {
    let path: String
    let fd: Int32
    private var end = 0

    init(path: String) throws(DataError) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .unwritable(file: path, reason: FileBytes.systemError()) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw .prepareRefused(directory: path, reason: "another wavemix prepare is writing this shard")
        }
    }

    deinit { close(fd) }

    func size() throws(DataError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(file: path, reason: FileBytes.systemError()) }
        return Int(info.st_size)
    }

    /// Checks (or writes) the header and returns the entries of the records that survive.
    func resume(_ header: ShardHeader) throws(DataError) -> [IndexEntry] {
        let size = try size()
        if size < PackedFormat.shardHeaderBytes {  // new, or torn while its header was written
            try truncate(to: 0)
            try append(header.encoded, count: PackedFormat.shardHeaderBytes)
            return []
        }
        let found = try ShardHeader(try read(PackedFormat.shardHeaderBytes, at: 0), file: path)
        guard found == header else {
            throw .prepareRefused(directory: path, reason: "belongs to another preparation (its header differs); delete it to redo this shard")
        }
        var count = (size - PackedFormat.shardHeaderBytes) / header.recordBytes
        while count > 0 {  // drop torn or unwritten records at the end
            let record = try read(header.recordBytes, at: offset(count - 1, header))
            let valid = record.withUnsafeBufferPointer { r in
                Record.checksum(r.baseAddress!, pixelBytes: header.pixelBytes) == Record.storedChecksum(r.baseAddress!)
                    && header.sourceRange.contains(Record.sourceIndex(r.baseAddress!))
            }
            if valid { break }
            count -= 1
        }
        var entries: [IndexEntry] = []
        for k in 0..<count {
            let head = try read(PackedFormat.recordHeaderBytes, at: offset(k, header))
            let entry = head.withUnsafeBufferPointer { h in
                IndexEntry(sourceIndex: Record.sourceIndex(h.baseAddress!), label: Record.label(h.baseAddress!),
                           checksum: Record.storedChecksum(h.baseAddress!))
            }
            guard header.sourceRange.contains(entry.sourceIndex), entry.sourceIndex > (entries.last?.sourceIndex ?? -1) else {
                throw .badPacked(file: path, reason: "record \(k) is out of order; delete this shard to redo it")
            }
            entries.append(entry)
        }
        try truncate(to: offset(count, header))
        return entries
    }

    private func offset(_ record: Int, _ header: ShardHeader) -> Int {
        PackedFormat.shardHeaderBytes + record * header.recordBytes
    }

    private func read(_ count: Int, at offset: Int) throws(DataError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let outcome = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(PositionalIO.Failure) in try PositionalIO.read(fd, into: buffer.baseAddress!, count: count, at: offset) }
        }
        do throws(PositionalIO.Failure) {
            try outcome.get()
        } catch .endOfFile {
            throw .unreadable(file: path, reason: "short read at byte \(offset)")
        } catch {
            throw .unreadable(file: path, reason: error.reason)
        }
        return bytes
    }

    private func truncate(to size: Int) throws(DataError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw .unwritable(file: path, reason: FileBytes.systemError()) }
        end = size
    }

    func append(_ bytes: UnsafePointer<UInt8>, count: Int) throws(DataError) {
        do throws(PositionalIO.Failure) {
            try PositionalIO.write(fd, from: bytes, count: count, at: end)
        } catch {
            throw .unwritable(file: path, reason: error.reason)
        }
        end += count
    }

    func sync() throws(DataError) {
        guard fsync(fd) == 0 else { throw .unwritable(file: path, reason: FileBytes.systemError()) }
    }
}
