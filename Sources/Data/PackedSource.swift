// The ImageSource of a packed split (`packed:DIR`): record i of the split (shards in rank order,
// records in source order) is read with one pread from its shard, its checksum and header checked
// against the index, and cropped to size x size by the SampleDecoder as sample i of the epoch (a
// random resized crop of the stored square for training, its centre crop for evaluation). A
// damaged record is an unusable image under the BadImagePolicy. Shard files stay open (one
// descriptor each) for the life of the source; nothing else is held but the index (16 bytes a record).

import Foundation
import PositionalIO

public struct PackedSource: ImageSource {
    public let numClasses: Int
    public let decoder: SampleDecoder
    public let policy: BadImagePolicy
    public let log: BadImageLog
    /// Side of the stored square records.
    public let recordSize: Int
    let shards: ShardSet
    let entries: [IndexEntry]

    public var count: Int { entries.count }
    public var height: Int { decoder.size }
    public var width: Int { decoder.size }
    public var channels: Int { 3 }

    public func label(_ i: Int) -> Int { entries[i].label }

    public func pixels(_ i: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) {
        _ = try sample(i, epoch: 0, seed: 0, into: buffer)
    }

    public func sample(_ i: Int, epoch: Int, seed: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) -> Int {
        precondition(buffer.count >= imageByteCount, "PackedSource: buffer holds \(buffer.count) bytes, needs \(imageByteCount)")
        let used = try policy.read(i, count: count, log: log, name: shards.describe) { j throws(DataError) in
            let scratch = DecodeScratch.current
            let record = try shards.read(j, into: scratch.file, expected: entries[j])
            decoder.cropImage(record + PackedFormat.recordHeaderBytes, width: recordSize, height: recordSize, seed: seed,
                              epoch: epoch, index: j, into: buffer.baseAddress!)
        }
        return label(used)
    }

    /// Opens split `name` of the packed set in `dir` described by `manifest`.
    static func open(dir: String, manifest: PackedManifest, split name: String, decoder: SampleDecoder, policy: BadImagePolicy,
                     log: BadImageLog) throws(DataError) -> PackedSource {
        guard let split = manifest.splits.first(where: { $0.name == name }) else {
            throw .badPacked(file: dir + "/" + PackedManifest.fileName, reason: "has no '\(name)' split; prepare it with --split both")
        }
        let recordBytes = PackedFormat.recordHeaderBytes + manifest.height * manifest.width * manifest.channels
        var entries: [IndexEntry] = []
        var files: [String] = []
        for shard in split.shards {
            let index = try IndexFile.read(dir + "/" + shard.index)
            guard index.count == shard.records else {
                throw .badPacked(file: dir + "/" + shard.index, reason: "holds \(index.count) entries; the manifest says \(shard.records)")
            }
            if let bad = index.first(where: { $0.label < 0 || $0.label >= manifest.classIDs.count }) {
                throw .badPacked(file: dir + "/" + shard.index, reason: "label \(bad.label) is outside 0..<\(manifest.classIDs.count)")
            }
            entries += index
            files.append(dir + "/" + shard.file)
        }
        let shards = try ShardSet(files: files, counts: split.shards.map(\.records), recordBytes: recordBytes,
                                  size: (manifest.height, manifest.width, manifest.channels))
        return PackedSource(numClasses: manifest.classIDs.count, decoder: decoder, policy: policy, log: log,
                            recordSize: manifest.height, shards: shards, entries: entries)
    }
}

/// The open shard files of a split and where each record lives.
final class ShardSet: Sendable {
    let files: [String]
    let descriptors: [Int32]
    /// starts[s] = index of shard s's first record; starts.last = total.
    let starts: [Int]
    let recordBytes: Int

    init(files: [String], counts: [Int], recordBytes: Int, size: (Int, Int, Int)) throws(DataError) {
        var descriptors: [Int32] = []
        for (file, count) in zip(files, counts) {
            let fd = Foundation.open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                descriptors.forEach { close($0) }
                throw .badPacked(file: file, reason: "cannot open: \(FileBytes.systemError())")
            }
            descriptors.append(fd)
            var header = [UInt8](repeating: 0, count: PackedFormat.shardHeaderBytes)
            var info = stat()
            let headerRead = header.withUnsafeMutableBytes { (buffer) -> Bool in
                (try? PositionalIO.read(fd, into: buffer.baseAddress!, count: buffer.count, at: 0)) != nil
            }
            let parsed: ShardHeader
            do throws(DataError) {
                guard headerRead, fstat(fd, &info) == 0 else { throw .badPacked(file: file, reason: "truncated shard header") }
                parsed = try ShardHeader(header, file: file)
            } catch {
                descriptors.forEach { close($0) }
                throw error
            }
            let expected = PackedFormat.shardHeaderBytes + count * recordBytes
            guard (parsed.height, parsed.width, parsed.channels) == size, Int(info.st_size) == expected else {
                descriptors.forEach { close($0) }
                throw .badPacked(file: file, reason: "holds \(info.st_size) bytes of \(parsed.height)x\(parsed.width)x\(parsed.channels) "
                    + "records; the manifest needs \(expected) bytes of \(size.0)x\(size.1)x\(size.2)")
            }
        }
        self.files = files
        self.descriptors = descriptors
        starts = counts.reduce(into: [0]) { $0.append($0.last! + $1) }
        self.recordBytes = recordBytes
    }

    deinit { descriptors.forEach { close($0) } }

    /// Shard and record number of record i.
    private func locate(_ i: Int) -> (shard: Int, record: Int) {
        var low = 0, high = starts.count - 1  // the shard s with starts[s] <= i < starts[s + 1]
        while high - low > 1 {
            let mid = (low + high) / 2
            if starts[mid] <= i { low = mid } else { high = mid }
        }
        return (low, i - starts[low])
    }

    @Sendable func describe(_ i: Int) -> String {
        let (shard, record) = locate(i)
        return "\(files[shard]) record \(record)"
    }

    /// Reads record i into `buffer` and checks it against its index entry; returns the record.
    func read(_ i: Int, into buffer: GrowableBuffer<UInt8>, expected: IndexEntry) throws(DataError) -> UnsafePointer<UInt8> {
        let (shard, record) = locate(i)
        let bytes = buffer.reserve(recordBytes)
        do throws(PositionalIO.Failure) {
            try PositionalIO.read(descriptors[shard], into: bytes, count: recordBytes,
                                  at: PackedFormat.shardHeaderBytes + record * recordBytes)
        } catch .endOfFile {
            throw .badImage(file: describe(i), reason: "the shard ends inside this record")
        } catch {
            throw .badImage(file: describe(i), reason: error.reason)
        }
        let stored = Record.storedChecksum(bytes)
        guard Record.checksum(bytes, pixelBytes: recordBytes - PackedFormat.recordHeaderBytes) == stored, stored == expected.checksum,
              Record.sourceIndex(bytes) == expected.sourceIndex, Record.label(bytes) == expected.label else {
            throw .badImage(file: describe(i), reason: "record checksum or header does not match the index")
        }
        return UnsafePointer(bytes)
    }
}
