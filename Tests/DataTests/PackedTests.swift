// Packed shards: `prepare` (driven here in-process for several ranks, as the CLI drives it over
// MPI) writes records whose pixels are exactly those of the source's transforms, skips and lists
// unusable images, resumes after a crash to the same bytes, refuses to mix with another run, and
// the reader detects damaged records and files.

import TestSupport
import Foundation
import Testing
@testable import Data

/// Runs the whole preparation of `spec` into `out` as `world` ranks would, one after the other.
@discardableResult
private func prepare(_ spec: String, out: String, size: Int, world: Int, splits: [String] = ["train", "val"], strict: Bool = false,
                     warnings: Warnings = Warnings()) throws -> PackedManifest {
    let parsed = try DataSpec(parsing: spec)
    let data = try parsed.load(.prepare(size: size, dctDownscale: true))
    let sources = ["train": data.train as! ImageFileSource, "val": data.test as! ImageFileSource]
    let plan = PreparePlan(source: parsed.description, size: size, dctDownscale: true, worldSize: world,
                           splits: splits.map { PreparePlan.Split(name: $0, count: sources[$0]!.count, fingerprint: sources[$0]!.files.fingerprint) })
    _ = try plan.begin(out: out)
    for rank in 0..<world {
        for split in splits {
            _ = try ShardWriter.write(out: out, plan: plan, split: split, source: sources[split]!, rank: rank, threads: 2, strict: strict,
                                      progress: { _, _ in }, warn: warnings.sink)
        }
    }
    return try PackedManifest.finish(out: out, plan: plan, info: PackedManifest.SourceInfo(
        spec: parsed.description, classIDs: data.classIDs!, classNames: data.classNames!, normalization: data.normalization,
        files: Dictionary(uniqueKeysWithValues: splits.map { ($0, sources[$0]!.files) })))
}

private func samples(_ source: any ImageSource, epoch: Int = 0, seed: UInt64 = 0) throws -> [[UInt8]] {
    try (0..<source.count).map { i in
        var bytes = [UInt8](repeating: 0, count: source.imageByteCount)
        _ = try bytes.withUnsafeMutableBufferPointer { try source.sample(i, epoch: epoch, seed: seed, into: $0) }
        return bytes
    }
}

private func fileContents(_ dir: String) throws -> [String: Data] {
    var contents: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix(".wmxp") || name.hasSuffix(".index") {
        contents[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
    }
    return contents
}

@Suite struct PackedTests {
    /// An ImageFolder tree of JPEGs of assorted sizes (one large enough for DCT downscaling) and a PNG.
    func writeSource(_ dir: TemporaryDirectory) throws {
        try writeClassTree(dir, split: "train", classes: ["cat", "dog"], perClass: [4, 3])
        try dir.create("train/dog/wide.jpg", jpeg(width: 300, height: 120, key: 50))
        try dir.create("train/dog/zz.png", png(width: 30, height: 40, colorType: 2, pixels: patternImage(width: 30, height: 40, key: 9)))
        try writeClassTree(dir, split: "val", classes: ["cat", "dog"], perClass: [2, 3], key: 70)
    }

    @Test func recordsRoundTripTheSourceTransformsExactly() throws {
        let source = TemporaryDirectory(), out = TemporaryDirectory()
        defer { withExtendedLifetime(source) {} }
        defer { withExtendedLifetime(out) {} }
        try writeSource(source)
        let manifest = try prepare("imagefolder:\(source.path)", out: out.path + "/packed", size: 24, world: 2)
        #expect(manifest.splits.map(\.records) == [9, 5] && manifest.splits[0].classCounts == [4, 5] && manifest.classIDs == ["cat", "dog"])
        #expect(manifest.splits[0].shards.map(\.records) == [4, 5] && manifest.splits.allSatisfy { $0.skipped.isEmpty })

        // Records hold Resize(24) + CenterCrop(24) of every image, as the source decodes it.
        let packed = try DataSpec(parsing: "packed:\(out.path)/packed").load(LoadOptions(imageSize: 24, trainCrop: .centre(resize: 24)))
        let files = try DataSpec(parsing: "imagefolder:\(source.path)").load(.prepare(size: 24, dctDownscale: true))
        #expect(try samples(packed.train) == samples(files.train))
        #expect(try samples(packed.test) == samples(files.test))
        #expect(packed.classNames == ["cat", "dog"] && packed.normalization == .imageNet && packed.numClasses == 2)
        #expect((0..<packed.train.count).map(packed.train.label) == (0..<files.train.count).map(files.train.label))

        // Evaluating at 20 from the 24-pixel records is Resize(24) + CenterCrop(20) of the originals.
        let packed20 = try DataSpec(parsing: "packed:\(out.path)/packed").load(LoadOptions(imageSize: 20))
        let files20 = try DataSpec(parsing: "imagefolder:\(source.path)").load(LoadOptions(imageSize: 20, evalResize: 24))
        #expect(try samples(packed20.test) == samples(files20.test))
        // Training crops are random resized crops of the records, keyed like any other source.
        #expect(try samples(packed20.train, epoch: 3, seed: 5) == samples(packed20.train, epoch: 3, seed: 5))
        #expect(try samples(packed20.train, epoch: 3, seed: 5) != samples(packed20.train, epoch: 4, seed: 5))
    }

    @Test func unusableImagesAreSkippedAndListed() throws {
        let source = TemporaryDirectory(), out = TemporaryDirectory()
        defer { withExtendedLifetime(source) {} }
        defer { withExtendedLifetime(out) {} }
        try writeSource(source)
        try source.write("train/cat/img2.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0, 0])
        let warnings = Warnings()
        let manifest = try prepare("imagefolder:\(source.path)", out: out.path, size: 16, world: 2, warnings: warnings)
        #expect(manifest.splits[0].records == 8 && manifest.splits[0].classCounts == [3, 5])
        #expect(manifest.splits[0].skipped == [PackedManifest.Skipped(index: 2, file: "\(source.path)/train/cat/img2.jpg")])
        #expect(warnings.lines.count == 1 && warnings.lines[0].hasPrefix("warning: \(source.path)/train/cat/img2.jpg: unusable image:"))
        let packed = try DataSpec(parsing: "packed:\(out.path)").load(LoadOptions(imageSize: 16))
        #expect((0..<packed.train.count).map(packed.train.label) == [0, 0, 0, 1, 1, 1, 1, 1])

        let strictOut = TemporaryDirectory()
        #expect(throws: DataError.self) { try prepare("imagefolder:\(source.path)", out: strictOut.path, size: 16, world: 1, strict: true) }
    }

    @Test func aResumedPreparationWritesTheSameBytes() throws {
        let source = TemporaryDirectory(), whole = TemporaryDirectory(), crashed = TemporaryDirectory()
        defer { withExtendedLifetime(source) {} }
        defer { withExtendedLifetime(whole) {} }
        defer { withExtendedLifetime(crashed) {} }
        try writeSource(source)
        let expected = try prepare("imagefolder:\(source.path)", out: whole.path, size: 16, world: 2)
        try prepare("imagefolder:\(source.path)", out: crashed.path, size: 16, world: 2)
        // Rank 1's train shard dies mid-record; rank 0's val shard after a power loss left a zero-filled tail.
        let recordBytes = PackedFormat.recordHeaderBytes + 16 * 16 * 3
        for (name, cut) in [("train-00001-of-00002", 3 * recordBytes / 2), ("val-00000-of-00002", 0)] {
            try FileManager.default.removeItem(atPath: crashed.file(name + ".index"))
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: crashed.file(name + ".wmxp")))
            let size = try handle.seekToEnd()
            if cut > 0 { try handle.truncate(atOffset: size - UInt64(cut)) } else { handle.write(Data(count: 2 * recordBytes)) }
            try handle.close()
        }
        try FileManager.default.removeItem(atPath: crashed.file("manifest.json"))
        let resumed = try prepare("imagefolder:\(source.path)", out: crashed.path, size: 16, world: 2)
        #expect(resumed == expected)
        #expect(try fileContents(crashed.path) == fileContents(whole.path))
    }

    @Test func preparationRefusesToMixRuns() throws {
        let source = TemporaryDirectory(), out = TemporaryDirectory()
        defer { withExtendedLifetime(source) {} }
        defer { withExtendedLifetime(out) {} }
        try writeSource(source)
        try prepare("imagefolder:\(source.path)", out: out.path, size: 16, world: 1)
        let again = #expect(throws: DataError.self) { try prepare("imagefolder:\(source.path)", out: out.path, size: 16, world: 1) }
        #expect(again?.description == "\(out.path): already holds a finished packed data set (manifest.json); choose another --out or delete it first")
        try FileManager.default.removeItem(atPath: out.file("manifest.json"))
        let other = #expect(throws: DataError.self) { try prepare("imagefolder:\(source.path)", out: out.path, size: 20, world: 2) }
        #expect(other?.description == "\(out.path): holds an unfinished preparation with other settings (size 16 (now 20), "
            + "world size 1 (now 2)); rerun with those settings to resume it, or choose another --out")
        let foreign = TemporaryDirectory()
        try foreign.write("photo.jpg", [1])
        #expect(throws: DataError.prepareRefused(directory: foreign.path, reason: "is not empty and holds no prepare.json; choose a new or empty --out")) {
            try prepare("imagefolder:\(source.path)", out: foreign.path, size: 16, world: 1)
        }
        // A second writer of the same shard is turned away while the first holds it.
        let shard = out.file("train-00000-of-00001.wmxp")
        try FileManager.default.removeItem(atPath: out.file("train-00000-of-00001.index"))
        let fd = open(shard, O_RDWR)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        #expect(throws: DataError.prepareRefused(directory: shard, reason: "another wavemix prepare is writing this shard")) {
            try prepare("imagefolder:\(source.path)", out: out.path, size: 16, world: 1)
        }
    }

    @Test func damagedPackedFilesAreDetected() throws {
        let source = TemporaryDirectory(), out = TemporaryDirectory()
        defer { withExtendedLifetime(source) {} }
        defer { withExtendedLifetime(out) {} }
        try writeSource(source)
        try prepare("imagefolder:\(source.path)", out: out.path, size: 16, world: 1)
        let recordBytes = PackedFormat.recordHeaderBytes + 16 * 16 * 3
        let shard = out.file("train-00000-of-00001.wmxp")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: shard))
        bytes[PackedFormat.shardHeaderBytes + 2 * recordBytes + 100] ^= 0x40  // a pixel of record 2
        try bytes.write(to: URL(fileURLWithPath: shard))
        let warnings = Warnings()
        let packed = try DataSpec(parsing: "packed:\(out.path)").load(LoadOptions(imageSize: 16, trainCrop: .centre(resize: 16), warn: warnings.sink))
        let all = try samples(packed.train)
        #expect(all[2] == all[3] && warnings.lines == ["warning: \(shard) record 2: unusable image: record checksum or header does not "
            + "match the index; using \(shard) record 3 in its place"])
        let strict = try DataSpec(parsing: "packed:\(out.path)").load(LoadOptions(imageSize: 16, badImages: .stop))
        #expect(throws: DataError.badImage(file: "\(shard) record 2", reason: "record checksum or header does not match the index")) {
            try samples(strict.train)
        }
        #expect(throws: DataError.imageSizeUnavailable(spec: "packed:\(out.path)", reason: "records are 16x16; image size 32 with "
            + "evaluation resize 16 needs size <= 16 and resize >= size")) { try DataSpec(parsing: "packed:\(out.path)").load(LoadOptions(imageSize: 32)) }
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: shard))
        let truncated = #expect(throws: DataError.self) { try DataSpec(parsing: "packed:\(out.path)").load() }
        #expect(truncated?.description == "\(shard): holds \(bytes.count - 10) bytes of 16x16x3 records; the manifest needs \(bytes.count) bytes of 16x16x3")
        try FileManager.default.removeItem(atPath: out.file("manifest.json"))
        #expect(throws: DataError.badPacked(file: out.file("manifest.json"), reason: "missing: the preparation has not finished; "
            + "run the same wavemix prepare again to resume it")) { try DataSpec(parsing: "packed:\(out.path)").load() }
    }
}
