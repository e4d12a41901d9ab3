// OUT/manifest.json of a packed data set, written by rank 0 once every rank's shards are complete
// (`finish`), atomically and last: its presence means the data set is whole. It names the source,
// the record geometry and how records were made, the classes (ids and names), the normalisation,
// and per split the shards with their record counts, the class counts and the images that were
// skipped as unusable.

import Foundation

public struct PackedManifest: Codable, Equatable, Sendable {
    public struct Shard: Codable, Equatable, Sendable {
        public var file: String
        public var index: String
        public var records: Int
    }

    public struct Skipped: Codable, Equatable, Sendable {
        public var index: Int
        public var file: String
    }

    public struct Split: Codable, Equatable, Sendable {
        public var name: String
        public var sourceCount: Int
        public var records: Int
        public var classCounts: [Int]
        public var skipped: [Skipped]
        public var shards: [Shard]
    }

    public var format = "wavemix-packed"
    public var version = 1
    public var source: String
    public var height: Int
    public var width: Int
    public var channels: Int
    public var preprocessing: String
    public var classIDs: [String]
    public var classNames: [String]
    public var mean: [Float]
    public var std: [Float]
    public var splits: [Split]

    static let fileName = "manifest.json"

    /// The sources' metadata that goes into the manifest.
    public struct SourceInfo: Sendable {
        public var spec: String
        public var classIDs: [String]
        public var classNames: [String]
        public var normalization: Normalization
        /// The file list of each planned split, by name (for the paths of skipped images).
        public var files: [String: FileList]

        public init(spec: String, classIDs: [String], classNames: [String], normalization: Normalization, files: [String: FileList]) {
            self.spec = spec
            self.classIDs = classIDs
            self.classNames = classNames
            self.normalization = normalization
            self.files = files
        }
    }

    /// Rank 0, after every rank's `ShardWriter.write` returned: gathers the index files of `plan`
    /// and writes manifest.json.
    public static func finish(out: String, plan: PreparePlan, info: SourceInfo) throws(DataError) -> PackedManifest {
        var splits: [Split] = []
        for split in plan.splits {
            let files = info.files[split.name]!
            var shards: [Shard] = []
            var counts = [Int](repeating: 0, count: info.classIDs.count)
            var present = [Bool](repeating: false, count: split.count)
            for rank in 0..<plan.worldSize {
                let name = PackedFormat.shardName(split: split.name, rank: rank, worldSize: plan.worldSize)
                let index = PackedFormat.indexName(split: split.name, rank: rank, worldSize: plan.worldSize)
                guard FileManager.default.fileExists(atPath: out + "/" + index) else {
                    throw .badPacked(file: out + "/" + index, reason: "missing: rank \(rank) did not finish; run prepare again to resume")
                }
                let entries = try IndexFile.read(out + "/" + index)
                if let bad = entries.first(where: { $0.sourceIndex >= split.count || $0.label >= counts.count }) {
                    throw .badPacked(file: out + "/" + index, reason: "entry for source index \(bad.sourceIndex), label \(bad.label) "
                        + "does not fit \(split.count) images of \(counts.count) classes; delete it and its shard to redo them")
                }
                for e in entries {
                    counts[e.label] += 1
                    present[e.sourceIndex] = true
                }
                shards.append(Shard(file: name, index: index, records: entries.count))
            }
            let skipped = present.indices.filter { !present[$0] }.map { Skipped(index: $0, file: files.path($0)) }
            splits.append(Split(name: split.name, sourceCount: split.count, records: shards.map(\.records).reduce(0, +),
                                classCounts: counts, skipped: skipped, shards: shards))
        }
        let manifest = PackedManifest(
            source: plan.source, height: plan.size, width: plan.size, channels: 3,
            preprocessing: "\(CropPolicy.centre(resize: plan.size)) to \(plan.size)x\(plan.size) (Pillow-exact antialiased bilinear)"
                + (plan.dctDownscale ? ", JPEGs reduced in the DCT domain by up to 8x where the resize shrinks that much" : ""),
            classIDs: info.classIDs, classNames: info.classNames, mean: info.normalization.mean, std: info.normalization.std,
            splits: splits)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try! encoder.encode(manifest), to: out + "/" + fileName)
        return manifest
    }

    /// Reads DIR/manifest.json.
    static func read(_ dir: String) throws(DataError) -> PackedManifest {
        let path = dir + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else {
            if FileManager.default.fileExists(atPath: dir + "/" + PreparePlan.fileName) {
                throw .badPacked(file: path, reason: "missing: the preparation has not finished; run the same wavemix prepare again to resume it")
            }
            throw .badPacked(file: path, reason: "missing: \(dir) is not a packed data set (make one with wavemix prepare)")
        }
        let manifest: PackedManifest
        do { manifest = try JSONDecoder().decode(PackedManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw .badPacked(file: path, reason: "unreadable manifest: \(error)")
        }
        guard manifest.format == "wavemix-packed", manifest.version == 1 else {
            throw .badPacked(file: path, reason: "format \(manifest.format) version \(manifest.version); this build reads wavemix-packed version 1")
        }
        return manifest
    }
}
