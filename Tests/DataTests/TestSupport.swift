// Helpers for the Data tests: IDX byte builders, a self-deleting temporary directory, gzip through
// the system `gzip` tool (independent of the zlib code under test), and synthetic image sets.

import Foundation
import TestSupport
import Kernels
import Randomness
@testable import Data

/// IDX bytes: 00 00, type, dimension count, big-endian dims, data.
func idxBytes(type: UInt8 = 0x08, dims: [Int], data: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, type, UInt8(dims.count)]
    for d in dims { bytes += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
    return bytes + data
}

/// Random bytes from a keyed stream.
func randomBytes(_ count: Int, key: UInt64, below bound: Int = 256) -> [UInt8] {
    var rng = SplitMix64(key: key)
    return (0..<count).map { _ in UInt8(rng.nextInt(below: bound)) }
}

/// gzip-compresses bytes with /usr/bin/gzip.
func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
    let directory = TemporaryDirectory()
    let path = try directory.write("payload", bytes)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/gzip")
    process.arguments = ["-n", "-f", path]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    return try directory.read("payload.gz")
}

extension TemporaryDirectory {
    /// Writes IDX bytes, gzipped when `name` ends in .gz.
    @discardableResult
    func writeIDX(_ name: String, _ bytes: [UInt8]) throws -> String {
        try write(name, name.hasSuffix(".gz") ? try gzip(bytes) : bytes)
    }
}

/// A small synthetic IDX data set: images [count, height, width] and labels, as file bytes.
struct SyntheticIDX {
    let count: Int
    let height: Int
    let width: Int
    let numClasses: Int
    let key: UInt64

    var pixels: [UInt8] { randomBytes(count * height * width, key: key) }
    var labels: [UInt8] { randomBytes(count, key: key &+ 1, below: numClasses) }
    var imagesFile: [UInt8] { idxBytes(dims: [count, height, width], data: pixels) }
    var labelsFile: [UInt8] { idxBytes(dims: [count], data: labels) }

    /// Writes the four files of a data set (this as train, a set of half the size as test) under
    /// `names` (train images, train labels, test images, test labels); names ending in .gz are gzipped.
    func writeDataSet(into directory: TemporaryDirectory, names: [String]) throws {
        let test = SyntheticIDX(count: count / 2, height: height, width: width, numClasses: numClasses, key: key &+ 7)
        for (name, bytes) in zip(names, [imagesFile, labelsFile, test.imagesFile, test.labelsFile]) {
            try directory.writeIDX(name, bytes)
        }
    }
}

/// A synthetic in-memory set with random pixels and labels.
func syntheticImageSet(count: Int, height: Int, width: Int, channels: Int, numClasses: Int, key: UInt64) -> ImageSet {
    ImageSet(height: height, width: width, channels: channels, numClasses: numClasses,
             pixels: randomBytes(count * height * width * channels, key: key),
             labels: randomBytes(count, key: key &+ 1, below: numClasses).map(Int32.init))
}
