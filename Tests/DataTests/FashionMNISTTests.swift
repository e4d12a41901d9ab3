// The real Fashion-MNIST files from the Debian package dataset-fashion-mnist (skipped where absent):
// sizes, first labels (checked against the files with zcat | xxd), class balance, normalisation.

import Foundation
import Testing
@testable import Data

let fashionMNISTInstalled = FileManager.default.fileExists(
    atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

/// Loaded once for all tests that need it.
let fashionMNIST: Result<DataSet, DataError> = Result { () throws(DataError) in
    let start = Date()
    let dataSet = try DataSpec(parsing: "fashion-mnist").load()
    print("Fashion-MNIST: loaded train + test from gzip in \(Int(Date().timeIntervalSince(start) * 1000)) ms")
    return dataSet
}

@Suite(.enabled(if: fashionMNISTInstalled, "dataset-fashion-mnist is not installed"))
struct FashionMNISTTests {
    @Test func splitsHaveTheExpectedShape() throws {
        let dataSet = try fashionMNIST.get()
        let train = try #require(dataSet.train as? ImageSet)
        let test = try #require(dataSet.test as? ImageSet)
        #expect((train.count, train.height, train.width, train.channels) == (60000, 28, 28, 1))
        #expect((test.count, test.height, test.width, test.channels) == (10000, 28, 28, 1))
        #expect(dataSet.numClasses == 10 && train.numClasses == 10 && test.numClasses == 10)
        #expect(dataSet.classNames?.first == "T-shirt/top" && dataSet.classNames?.last == "Ankle boot")
        #expect(dataSet.spec.description == "fashion-mnist")
    }

    @Test func labelsMatchTheFiles() throws {
        let dataSet = try fashionMNIST.get()
        let train = try #require(dataSet.train as? ImageSet)
        let test = try #require(dataSet.test as? ImageSet)
        #expect(Array(train.labels.prefix(8)) == [9, 0, 0, 3, 0, 2, 7, 2])
        #expect(Array(test.labels.prefix(4)) == [9, 2, 1, 1])
        #expect(train.classCounts() == Array(repeating: 6000, count: 10))
        #expect(test.classCounts() == Array(repeating: 1000, count: 10))
    }

    @Test func pixelsMatchTheFiles() throws {
        let train = try #require(try fashionMNIST.get().train as? ImageSet)
        // Reference values computed from the gzip files with Python's gzip module.
        let first = train.pixels[0..<784]
        #expect(first.filter { $0 == 0 }.count == 351)
        #expect(first.reduce(0) { $0 + Int($1) } == 76247)
        #expect(train.pixels[(784 * 100)..<(784 * 101)].reduce(0) { $0 + Int($1) } == 81027)
    }

    @Test func normalisationDefaultsMatchTheMeasuredStatistics() throws {
        let dataSet = try fashionMNIST.get()
        #expect(dataSet.normalization == .fashionMNIST)
        let measured = Normalization.measured(from: try #require(dataSet.train as? ImageSet))
        #expect(abs(measured.mean[0] - 0.2860) < 5e-4)
        #expect(abs(measured.std[0] - 0.3530) < 5e-4)
    }
}
