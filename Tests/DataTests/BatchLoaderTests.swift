// Batch assembly: NHWC layout and labels, bitwise identical with 1, 2 or 3 threads and with
// prefetching, errors from a source surface deterministically, and a timing printout on the real
// Fashion-MNIST set (reported, never asserted).

import Foundation
import Testing
@testable import Data

/// A source that fails on chosen samples, to test error propagation.
struct FailingSource: ImageSource {
    let inner: ImageSet
    let failing: Set<Int>
    var count: Int { inner.count }
    var height: Int { inner.height }
    var width: Int { inner.width }
    var channels: Int { inner.channels }
    var numClasses: Int { inner.numClasses }
    func label(_ i: Int) -> Int { inner.label(i) }
    func pixels(_ i: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) {
        if failing.contains(i) { throw .unreadable(file: "sample-\(i)", reason: "test failure") }
        try inner.pixels(i, into: buffer)
    }
}

@Suite struct BatchLoaderTests {
    let set = syntheticImageSet(count: 200, height: 6, width: 5, channels: 1, numClasses: 7, key: 12)

    func transform(outputChannels: Int = 3) -> SampleTransform {
        SampleTransform(for: set, outputChannels: outputChannels, normalization: .fashionMNIST,
                        augmentation: Augmentation(cropPadding: 2, horizontalFlip: true), seed: 77)
    }

    /// Loads `indices` synchronously, returning pixels and labels.
    func load(_ loader: BatchLoader, _ indices: [Int], epoch: Int) throws -> ([Float], [Int32]) {
        var pixels = [Float](repeating: .nan, count: indices.count * loader.floatsPerSample)
        var labels = [Int32](repeating: -1, count: indices.count)
        try pixels.withUnsafeMutableBufferPointer { p in
            try labels.withUnsafeMutableBufferPointer { l in try loader.load(indices: indices, epoch: epoch, pixels: p.baseAddress!, labels: l.baseAddress!) }
        }
        return (pixels, labels)
    }

    /// Collects a prefetched batch.
    func take(_ loader: BatchLoader, count: Int) throws -> ([Float], [Int32], Int) {
        var pixels = [Float](repeating: .nan, count: count * loader.floatsPerSample)
        var labels = [Int32](repeating: -1, count: count)
        let taken = try pixels.withUnsafeMutableBufferPointer { p in
            try labels.withUnsafeMutableBufferPointer { l in try loader.take(pixels: p.baseAddress!, labels: l.baseAddress!) }
        }
        return (pixels, labels, taken)
    }

    @Test func batchesAreNHWCWithTheirLabels() throws {
        let transform = transform()
        let loader = BatchLoader(source: set, transform: transform)
        let indices = [17, 3, 199, 3]
        let (pixels, labels) = try load(loader, indices, epoch: 2)
        #expect(loader.floatsPerSample == 6 * 5 * 3)
        #expect(labels == indices.map { set.labels[$0] })
        for (position, index) in indices.enumerated() {
            let image = Array(set.pixels[(index * 30)..<((index + 1) * 30)])
            var expected = [Float](repeating: 0, count: 90)
            image.withUnsafeBufferPointer { transform.apply($0.baseAddress!, epoch: 2, sampleIndex: index, into: &expected) }
            #expect(Array(pixels[(position * 90)..<((position + 1) * 90)]) == expected)
        }
    }

    @Test func threadsAndPrefetchGiveIdenticalBatches() throws {
        let sampler = try EpochSampler(count: set.count, batchSize: 13, worldSize: 2, rank: 1, seed: 4)
        let single = BatchLoader(source: set, transform: transform(), threads: 1)
        let loaders = [2, 3, 16].map { BatchLoader(source: set, transform: transform(), threads: $0) }
        let prefetching = BatchLoader(source: set, transform: transform(), threads: 2)
        for epoch in 0..<2 {
            let batches = sampler.batches(epoch: epoch)
            prefetching.prefetch(indices: batches[0], epoch: epoch)
            for (step, batch) in batches.enumerated() {
                let expected = try load(single, batch, epoch: epoch)
                for loader in loaders {
                    let got = try load(loader, batch, epoch: epoch)
                    #expect(got.0 == expected.0 && got.1 == expected.1, "threads \(loader.threads)")
                }
                let prefetched = try take(prefetching, count: batch.count)
                if step + 1 < batches.count { prefetching.prefetch(indices: batches[step + 1], epoch: epoch) }
                #expect(prefetched.0 == expected.0 && prefetched.1 == expected.1 && prefetched.2 == batch.count)
            }
        }
    }

    @Test func prefetchHandlesGrowingBatches() throws {
        let loader = BatchLoader(source: set, transform: transform(outputChannels: 1), threads: 2)
        for size in [1, 5, 40, 3] {
            let indices = Array(0..<size)
            loader.prefetch(indices: indices, epoch: 0)
            let taken = try take(loader, count: size)
            let direct = try load(loader, indices, epoch: 0)
            #expect(taken.0 == direct.0 && taken.1 == direct.1 && taken.2 == size)
        }
    }

    @Test func sourceErrorsSurfaceFromTheFirstFailingChunk() throws {
        let source = FailingSource(inner: set, failing: [150, 20])
        let indices = Array(0..<200)
        for threads in [1, 4] {
            let loader = BatchLoader(source: source, transform: transform(), threads: threads)
            #expect(throws: DataError.unreadable(file: "sample-20", reason: "test failure")) { try load(loader, indices, epoch: 0) }
            loader.prefetch(indices: indices, epoch: 0)
            #expect(throws: DataError.unreadable(file: "sample-20", reason: "test failure")) { try take(loader, count: 200) }
            loader.prefetch(indices: [1, 2], epoch: 0)  // the loader stays usable after an error
            #expect(try take(loader, count: 2).2 == 2)
        }
    }

    @Test(.enabled(if: fashionMNISTInstalled, "dataset-fashion-mnist is not installed"))
    func fashionMNISTBatchTiming() throws {
        let dataSet = try fashionMNIST.get()
        let sampler = try EpochSampler(count: dataSet.train.count, batchSize: 128, seed: 1)
        let batches = Array(sampler.batches(epoch: 0).prefix(200))
        for (threads, channels) in [(1, 1), (1, 3), (2, 3)] {
            let transform = SampleTransform(for: dataSet.train, outputChannels: channels, normalization: dataSet.normalization,
                                            augmentation: Augmentation(cropPadding: 2, horizontalFlip: true), seed: 1)
            let loader = BatchLoader(source: dataSet.train, transform: transform, threads: threads)
            var pixels = [Float](repeating: 0, count: 128 * loader.floatsPerSample)
            var labels = [Int32](repeating: 0, count: 128)
            let start = Date()
            try pixels.withUnsafeMutableBufferPointer { p in
                try labels.withUnsafeMutableBufferPointer { l in
                    for batch in batches { try loader.load(indices: batch, epoch: 0, pixels: p.baseAddress!, labels: l.baseAddress!) }
                }
            }
            let microseconds = Date().timeIntervalSince(start) / Double(batches.count) * 1e6
            print("Fashion-MNIST batch of 128 (28x28x\(channels), crop+flip, \(threads) thread(s)): \(Int(microseconds)) us")
        }
    }
}
