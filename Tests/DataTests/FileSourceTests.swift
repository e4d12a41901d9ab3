// File sources under the loader: ranks read disjoint shards covering the set, evaluation counts
// every image exactly once, unusable images are substituted (counted, warned once) or stop the
// run under --strict, and batches do not depend on thread count, queue depth or prefetching.

import TestSupport
import Foundation
import Testing
@testable import Data

/// Collects warning lines from any thread.
final class Warnings: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.withLock { stored } }
    var sink: @Sendable (String) -> Void { { [self] line in lock.withLock { stored.append(line) } } }
}

/// An ImageFolder set of `perClass` images per class a, b, c, 32x32 samples.
private func folderSet(_ dir: TemporaryDirectory, perClass: [Int], test: [Int] = [1, 1, 1],
                       options: LoadOptions = LoadOptions(imageSize: 32)) throws -> DataSet {
    try writeClassTree(dir, split: "train", classes: ["a", "b", "c"], perClass: perClass)
    try writeClassTree(dir, split: "val", classes: ["a", "b", "c"], perClass: test, key: 100)
    return try DataSpec(parsing: "imagefolder:\(dir.path)").load(options)
}

private func load(_ loader: BatchLoader, _ indices: [Int], epoch: Int) throws -> ([Float], [Int32]) {
    var pixels = [Float](repeating: .nan, count: indices.count * loader.floatsPerSample)
    var labels = [Int32](repeating: -1, count: indices.count)
    try pixels.withUnsafeMutableBufferPointer { p in
        try labels.withUnsafeMutableBufferPointer { l in try loader.load(indices: indices, epoch: epoch, pixels: p.baseAddress!, labels: l.baseAddress!) }
    }
    return (pixels, labels)
}

private func take(_ loader: BatchLoader, count: Int) throws -> ([Float], [Int32]) {
    var pixels = [Float](repeating: .nan, count: count * loader.floatsPerSample)
    var labels = [Int32](repeating: -1, count: count)
    try pixels.withUnsafeMutableBufferPointer { p in
        try labels.withUnsafeMutableBufferPointer { l in _ = try loader.take(pixels: p.baseAddress!, labels: l.baseAddress!) }
    }
    return (pixels, labels)
}

private func transform(_ source: any ImageSource, flip: Bool = true) -> SampleTransform {
    SampleTransform(for: source, normalization: .imageNet, augmentation: Augmentation(horizontalFlip: flip), seed: 42)
}

@Suite struct FileSourceTests {
    @Test func twoRanksReadDisjointShardsCoveringTheSet() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let data = try folderSet(dir, perClass: [4, 3, 3])
        let labels = (data.train as! ImageFileSource).files.labels
        for epoch in 0..<2 {
            var seen: [[Int]] = []
            for rank in 0..<2 {
                let sampler = try EpochSampler(count: data.train.count, batchSize: 2, worldSize: 2, rank: rank, seed: 7)
                let loader = BatchLoader(source: data.train, transform: transform(data.train), threads: 2)
                var mine: [Int] = []
                for batch in sampler.batches(epoch: epoch) {
                    #expect(try load(loader, batch, epoch: epoch).1 == batch.map { labels[$0] })
                    mine += batch
                }
                seen.append(mine)
            }
            #expect(Set(seen[0]).isDisjoint(with: seen[1]) && seen[0].count == 4 && seen[1].count == 4)
            #expect(Set(seen[0] + seen[1]).count == 8)  // 10 images, global batch 4: two dropped per epoch
        }
    }

    @Test func evaluationCountsEveryImageOnce() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let data = try folderSet(dir, perClass: [1, 1, 1], test: [3, 2, 2])
        let test = data.test as! ImageFileSource
        for world in 1...3 {
            var counted = [Int](repeating: 0, count: test.count)
            var labels: [Int32] = []
            for rank in 0..<world {
                let shard = EvalShard(count: test.count, worldSize: world, rank: rank, batchSize: 2)
                let loader = BatchLoader(source: test, transform: transform(test, flip: false))
                for b in 0..<shard.batchCount {
                    let indices = Array(shard.batch(b))
                    labels += try load(loader, indices, epoch: 0).1
                    for i in indices { counted[i] += 1 }
                }
            }
            #expect(counted == [Int](repeating: 1, count: 7) && labels == test.files.labels, "world size \(world)")
        }
    }

    @Test func unusableImagesAreSubstitutedCountedAndWarnedOnce() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let warnings = Warnings()
        let data = try folderSet(dir, perClass: [2, 2, 2], options: LoadOptions(imageSize: 32, warn: warnings.sink))
        let source = data.train as! ImageFileSource
        let good = jpeg(width: 40, height: 30, key: 1)
        try dir.write("train/a/img1.jpg", Array(good.prefix(good.count - 100)))  // sample 1: truncated
        try dir.write("train/c/img1.jpg", [0xFF, 0xD8, 0xFF, 0, 1, 2])          // sample 5, the last: corrupt
        let loader = BatchLoader(source: source, transform: transform(source, flip: false), threads: 3)
        let (pixels, labels) = try load(loader, Array(0..<6), epoch: 0)
        let floats = loader.floatsPerSample
        #expect(labels == [0, 1, 1, 1, 2, 0])  // 1 takes sample 2 (class b), 5 wraps around to sample 0 (class a)
        #expect(pixels[floats..<(2 * floats)] == pixels[(2 * floats)..<(3 * floats)])
        #expect(pixels[(5 * floats)...] == pixels[0..<floats])
        #expect(data.badImages?.badImageCount == 2 && data.badImages?.substitutionCount == 2)
        _ = try load(loader, [1, 5], epoch: 1)
        #expect(data.badImages?.badImageCount == 2 && data.badImages?.substitutionCount == 4)
        let lines = warnings.lines.sorted()
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("warning: \(dir.path)/train/a/img1.jpg: unusable image: truncated JPEG")
            && lines[0].hasSuffix("; using \(dir.path)/train/b/img0.jpg in its place"))
        #expect(lines[1].hasPrefix("warning: \(dir.path)/train/c/img1.jpg: unusable image: ")
            && lines[1].hasSuffix("; using \(dir.path)/train/a/img0.jpg in its place"))

        let strict = try DataSpec(parsing: "imagefolder:\(dir.path)").load(LoadOptions(imageSize: 32, badImages: .stop))
        let strictLoader = BatchLoader(source: strict.train, transform: transform(strict.train))
        let error = #expect(throws: DataError.self) { try load(strictLoader, [0, 5], epoch: 0) }
        #expect(error?.description.hasPrefix("\(dir.path)/train/c/img1.jpg: unusable image: ") == true)
    }

    @Test func aSetOfOnlyBadImagesGivesUp() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        for k in 0..<3 { try dir.create("train/a/\(k).jpg", [1]) }
        try dir.create("val/a/0.jpg", [1])
        let data = try DataSpec(parsing: "imagefolder:\(dir.path)").load(LoadOptions(imageSize: 8, warn: { _ in }))
        let loader = BatchLoader(source: data.train, transform: transform(data.train))
        #expect(throws: DataError.tooManyBadImages(file: "\(dir.path)/train/a/1.jpg", count: 3)) { try load(loader, [1], epoch: 0) }
    }

    @Test func batchesDoNotDependOnThreadsQueueDepthOrPrefetching() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let data = try folderSet(dir, perClass: [5, 4, 3])
        let sampler = try EpochSampler(count: data.train.count, batchSize: 3, seed: 2)
        let reference = BatchLoader(source: data.train, transform: transform(data.train), threads: 1)
        let pooled = BatchLoader(source: data.train, transform: transform(data.train), threads: 3, queueDepth: 3)
        for epoch in 0..<2 {
            let batches = sampler.batches(epoch: epoch)
            for b in 0..<min(3, batches.count) { pooled.prefetch(indices: batches[b], epoch: epoch) }
            for (b, batch) in batches.enumerated() {
                let expected = try load(reference, batch, epoch: epoch)
                let got = try take(pooled, count: batch.count)
                if b + 3 < batches.count { pooled.prefetch(indices: batches[b + 3], epoch: epoch) }
                #expect(got.0 == expected.0 && got.1 == expected.1, "epoch \(epoch) batch \(b)")
                if epoch == 1 { #expect(try load(reference, [batch[0]], epoch: 1).0 != load(reference, [batch[0]], epoch: 0).0) }
            }
        }
    }
}
