// What a `wavemix prepare` run is asked to do, kept as OUT/prepare.json: the source, the record
// size, the decoding option, the world size (which fixes each rank's range of source indices) and,
// per split, the sample count and the file list's fingerprint. `begin` (rank 0, before any rank
// writes) creates the output directory with the plan, or accepts an unfinished earlier run of the
// very same plan (to resume it), and refuses everything else: a finished output, another plan, or
// a directory that holds other files. Nothing is deleted or overwritten by a refusal.

import Foundation

public struct PreparePlan: Codable, Equatable, Sendable {
    public struct Split: Codable, Equatable, Sendable {
        public var name: String
        public var count: Int
        public var fingerprint: UInt32

        public init(name: String, count: Int, fingerprint: UInt32) {
            self.name = name
            self.count = count
            self.fingerprint = fingerprint
        }
    }

    public var format = "wavemix-prepare"
    public var version = 1
    public var source: String
    /// Records are size x size x 3: the shorter side resized to `size`, then the centred square.
    public var size: Int
    public var dctDownscale: Bool
    public var worldSize: Int
    public var splits: [Split]

    public init(source: String, size: Int, dctDownscale: Bool, worldSize: Int, splits: [Split]) {
        self.source = source
        self.size = size
        self.dctDownscale = dctDownscale
        self.worldSize = worldSize
        self.splits = splits
    }

    /// The source indices rank `rank` packs of a split of `count` samples.
    public static func range(count: Int, rank: Int, worldSize: Int) -> Range<Int> {
        (rank * count / worldSize)..<((rank + 1) * count / worldSize)
    }

    var encoded: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try! encoder.encode(self)  // plain strings and numbers always encode
    }

    /// CRC-32 of the plan's JSON: stamped into every shard header.
    var fingerprint: UInt32 { encoded.withUnsafeBytes { CRC32.checksum($0) } }

    static let fileName = "prepare.json"

    /// Creates `out` with this plan or accepts an unfinished run of the same plan; returns true
    /// when resuming.
    public func begin(out: String) throws(DataError) -> Bool {
        let files = FileManager.default
        let planPath = out + "/" + Self.fileName
        if files.fileExists(atPath: out + "/" + PackedManifest.fileName) {
            throw .prepareRefused(directory: out, reason: "already holds a finished packed data set (manifest.json); "
                + "choose another --out or delete it first")
        }
        if files.fileExists(atPath: planPath) {
            let earlier: PreparePlan
            do { earlier = try JSONDecoder().decode(PreparePlan.self, from: Data(contentsOf: URL(fileURLWithPath: planPath))) } catch {
                throw .prepareRefused(directory: out, reason: "\(Self.fileName) is unreadable (\(error)); delete the directory to start over")
            }
            guard earlier == self else {
                throw .prepareRefused(directory: out, reason: "holds an unfinished preparation with other settings ("
                    + differences(from: earlier) + "); rerun with those settings to resume it, or choose another --out")
            }
            return true
        }
        if let existing = try? files.contentsOfDirectory(atPath: out), !existing.isEmpty {
            throw .prepareRefused(directory: out, reason: "is not empty and holds no \(Self.fileName); choose a new or empty --out")
        }
        do { try files.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw .unwritable(file: out, reason: fileErrorReason(error))
        }
        try AtomicFile.write(encoded, to: planPath)
        return false
    }

    /// "size 256 (now 224), world size 2 (now 4)": how `earlier` differs from this plan.
    private func differences(from earlier: PreparePlan) -> String {
        var parts: [String] = []
        if earlier.source != source { parts.append("source \(earlier.source) (now \(source))") }
        if earlier.size != size { parts.append("size \(earlier.size) (now \(size))") }
        if earlier.dctDownscale != dctDownscale { parts.append("DCT downscaling \(earlier.dctDownscale) (now \(dctDownscale))") }
        if earlier.worldSize != worldSize { parts.append("world size \(earlier.worldSize) (now \(worldSize))") }
        if earlier.splits.map(\.name) != splits.map(\.name) {
            parts.append("splits \(earlier.splits.map(\.name).joined(separator: "+")) (now \(splits.map(\.name).joined(separator: "+")))")
        } else if earlier.splits != splits {
            parts.append("the source's files or labels changed")
        }
        if earlier.format != format || earlier.version != version { parts.append("format \(earlier.format) v\(earlier.version)") }
        return parts.joined(separator: ", ")
    }
}

/// Whole-file writes that never leave a half-written file under the final name: write a temporary
/// file beside it, fsync, rename.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws(DataError) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .unwritable(file: temporary, reason: FileBytes.systemError()) }
        var failure: String?
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { failure = FileBytes.systemError(); return }
                done += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = FileBytes.systemError() }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = FileBytes.systemError() }
        if let failure {
            unlink(temporary)
            throw .unwritable(file: path, reason: failure)
        }
    }
}
