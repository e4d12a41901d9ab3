// IDX reader: raw and gzip files give the same data; every malformed file is refused with the right
// DataError and a one-line message; mutated headers and streams never crash the reader.

import TestSupport
import Foundation
import Kernels
import Randomness
import Testing
@testable import Data

@Suite struct IDXTests {
    let sample = SyntheticIDX(count: 20, height: 5, width: 4, numClasses: 10, key: 42)

    @Test func rawAndGzipFilesGiveTheSameData() throws {
        let dir = TemporaryDirectory()
        let rawImages = try dir.write("images", sample.imagesFile)
        let rawLabels = try dir.write("labels", sample.labelsFile)
        let gzImages = try dir.write("images.gz", try gzip(sample.imagesFile))
        let gzLabels = try dir.write("labels.gz", try gzip(sample.labelsFile))

        let raw = try IDX.loadImageSet(images: rawImages, labels: rawLabels, numClasses: 10)
        let gz = try IDX.loadImageSet(images: gzImages, labels: gzLabels, numClasses: 10)
        #expect(raw.pixels == sample.pixels)
        #expect(raw.labels == sample.labels.map(Int32.init))
        #expect((raw.count, raw.height, raw.width, raw.channels) == (20, 5, 4, 1))
        #expect(gz.pixels == raw.pixels && gz.labels == raw.labels)
    }

    @Test func concatenatedGzipMembersAreJoined() throws {
        let file = sample.imagesFile
        let joined = try gzip(Array(file[..<37])) + gzip(Array(file[37...]))
        let dir = TemporaryDirectory()
        let read = try IDX.read(try dir.write("images.gz", joined), role: .images)
        #expect(read.dims == [20, 5, 4] && read.bytes == sample.pixels)
    }

    @Test func numClassesIsInferredFromTheLargestLabel() throws {
        let dir = TemporaryDirectory()
        let labels = try dir.write("labels", idxBytes(dims: [3], data: [2, 0, 1]))
        let images = try dir.write("images", idxBytes(dims: [3, 1, 1], data: [0, 1, 2]))
        #expect(try IDX.loadImageSet(images: images, labels: labels).numClasses == 3)
    }

    @Test func aLabelThatLeavesClassesEmptyIsAnErrorUnlessTheCountIsGiven() throws {
        // One corrupt label (255) in a 3-class set must not make a 256-class model.
        let dir = TemporaryDirectory()
        let labels = try dir.write("labels", idxBytes(dims: [4], data: [2, 0, 255, 1]))
        let images = try dir.write("images", idxBytes(dims: [4, 1, 1], data: [0, 1, 2, 3]))
        #expect(throws: DataError.sparseLabels(file: labels, index: 2, label: 255, missing: 3)) {
            try IDX.loadImageSet(images: images, labels: labels)
        }
        #expect(throws: DataError.labelOutOfRange(file: labels, index: 2, label: 255, numClasses: 3)) {
            try IDX.loadImageSet(images: images, labels: labels, numClasses: 3)
        }
        #expect(try IDX.loadImageSet(images: images, labels: labels, numClasses: 256).numClasses == 256)
    }

    @Test func malformedHeadersAreRefused() throws {
        let good = sample.imagesFile
        let cases: [(String, [UInt8], IDX.Role, (String) -> DataError)] = [
            ("bad magic", [0x01] + good.dropFirst(), .images, { .badMagic(file: $0, found: [0x01, 0x00, 0x08, 0x03]) }),
            ("type byte", idxBytes(type: 0x0D, dims: [20, 5, 4], data: sample.pixels), .images,
             { .unsupportedElementType(file: $0, typeByte: 0x0D) }),
            ("dims count", sample.labelsFile, .images, { .wrongDimensionCount(file: $0, expected: 3, found: 1) }),
            ("labels dims count", good, .labels, { .wrongDimensionCount(file: $0, expected: 1, found: 3) }),
            ("empty file", [], .images, { .truncatedHeader(file: $0, needed: 4, found: 0) }),
            ("truncated header", Array(good.prefix(10)), .images, { .truncatedHeader(file: $0, needed: 16, found: 10) }),
            ("zero dimension", idxBytes(dims: [0, 5, 4], data: []), .images, { .emptyDimension(file: $0, dims: [0, 5, 4]) }),
            ("truncated data", Array(good.dropLast(3)), .images,
             { .truncatedData(file: $0, dims: [20, 5, 4], foundBytes: 397) }),
            ("trailing data", good + [1, 2], .images, { .trailingData(file: $0, dims: [20, 5, 4], foundBytes: 402) }),
            ("huge dims", idxBytes(dims: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], data: [1]), .images,
             { .truncatedData(file: $0, dims: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], foundBytes: 1) }),
        ]
        for (name, bytes, role, expected) in cases {
            let dir = TemporaryDirectory()
            let path = try dir.write("file", bytes)
            #expect(throws: expected(path), "\(name)") { try IDX.read(path, role: role) }
        }
    }

    @Test func errorMessagesAreOneLineAndNameTheFile() {
        let truncated = DataError.truncatedData(file: "train-labels-idx1-ubyte.gz", dims: [60000], foundBytes: 59990)
        #expect(truncated.description == "train-labels-idx1-ubyte.gz: truncated: header says 60000 labels, file holds 59990")
        let images = DataError.truncatedData(file: "x", dims: [10, 2, 2], foundBytes: 38)
        #expect(images.description == "x: truncated: header says 10 images of 2x2, file holds 9 and 2 bytes of another")
        let magic = DataError.badMagic(file: "x", found: [0x1f, 0x8b])
        #expect(magic.description == "x: not an IDX file: starts with 1f 8b, expected 00 00")
        let huge = DataError.truncatedData(file: "x", dims: [1, 0xFFFF_FFFF, 0xFFFF_FFFF], foundBytes: 5)
        #expect(!huge.description.contains("\n") && huge.description.hasSuffix("file holds 5 bytes"))
    }

    @Test func imagesAndLabelsMustAgree() throws {
        let dir = TemporaryDirectory()
        let images = try dir.write("images", sample.imagesFile)
        let shortLabels = try dir.write("labels", idxBytes(dims: [19], data: Array(sample.labels.prefix(19))))
        #expect(throws: DataError.countMismatch(images: images, imageCount: 20, labels: shortLabels, labelCount: 19)) {
            try IDX.loadImageSet(images: images, labels: shortLabels)
        }
        var labels = sample.labels
        labels[7] = 10
        let badLabels = try dir.write("bad-labels", idxBytes(dims: [20], data: labels))
        #expect(throws: DataError.labelOutOfRange(file: badLabels, index: 7, label: 10, numClasses: 10)) {
            try IDX.loadImageSet(images: images, labels: badLabels, numClasses: 10)
        }
    }

    @Test func corruptGzipIsRefused() throws {
        let compressed = try gzip(sample.imagesFile)
        let dir = TemporaryDirectory()
        var flipped = compressed
        flipped[compressed.count / 2] ^= 0xFF
        let corruptions: [(String, [UInt8])] = [
            ("flipped byte", flipped),
            ("truncated stream", Array(compressed.dropLast(12))),
            ("only the header", Array(compressed.prefix(10))),
            ("trailing garbage", compressed + Array("garbage".utf8)),
            ("bad CRC", compressed.enumerated().map { $0.offset == compressed.count - 6 ? $0.element ^ 1 : $0.element }),
        ]
        for (name, bytes) in corruptions {
            let path = try dir.write("\(name).gz", bytes)
            let error = try #require(throws: DataError.self, "\(name)") { try IDX.read(path, role: .images) }
            guard case .corruptGzip = error else {
                Issue.record("\(name): expected corruptGzip, got \(error)")
                continue
            }
            #expect(!error.description.contains("\n"))
        }
        let notGzip = try dir.write("raw-named.gz", sample.imagesFile)
        #expect(throws: DataError.corruptGzip(file: notGzip, reason: "not a gzip file (starts with 00 00, expected 1f 8b)")) {
            try IDX.read(notGzip, role: .images)
        }
    }

    @Test func missingFileIsUnreadable() throws {
        let dir = TemporaryDirectory()
        #expect(throws: DataError.unreadable(file: dir.file("absent"), reason: "no such file")) {
            try IDX.read(dir.file("absent"), role: .labels)
        }
    }

    @Test func mutatedHeadersNeverCrash() throws {
        let good = idxBytes(dims: [3, 2, 2], data: Array(0..<12))
        var rng = SplitMix64(key: 7, 1)
        var accepted = 0
        for _ in 0..<3000 {
            var bytes = good
            for _ in 0...rng.nextInt(below: 3) {
                bytes[rng.nextInt(below: 16)] = UInt8(rng.nextInt(below: 256))
            }
            bytes.removeLast(rng.nextInt(below: 3) == 0 ? rng.nextInt(below: bytes.count + 1) : 0)
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(DataError) in try IDX.decode(raw, file: "fuzz", role: .images) }
            }
            if case .success(let array) = result {
                #expect(array.dims.reduce(1, *) == array.bytes.count && array.dims.count == 3)
                accepted += 1
            }
        }
        #expect(accepted > 0)
    }

    @Test func mutatedGzipStreamsNeverCrash() throws {
        let compressed = try gzip(sample.imagesFile)
        var rng = SplitMix64(key: 7, 2)
        for _ in 0..<500 {
            var bytes = compressed
            for _ in 0...rng.nextInt(below: 4) {
                bytes[rng.nextInt(below: bytes.count)] = UInt8(rng.nextInt(below: 256))
            }
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(DataError) in try Gzip.inflate(raw, file: "fuzz") }
            }
            if case .failure(let error) = result, case .corruptGzip = error {} else if case .failure(let error) = result {
                Issue.record("unexpected error \(error)")
            }
        }
    }
}
