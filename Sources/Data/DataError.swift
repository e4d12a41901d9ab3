// Every error the Data module throws: one enum, each case printing one line that names the file or
// spec at fault and the problem, with a hint where the fix is known.

import Foundation

public enum DataError: Error, Equatable, CustomStringConvertible {
    /// A data set file that should exist does not; `hint` says how to get it.
    case fileNotFound(dataSet: String, path: String, hint: String)
    /// No IDX train/test pair could be found under a path given with `idx:`.
    case noIDXFiles(path: String, reason: String)
    /// Reading a file failed at the operating-system level.
    case unreadable(file: String, reason: String)
    /// A gzip/zlib stream is damaged or cut short.
    case corruptGzip(file: String, reason: String)
    /// The file does not start with the IDX magic (two zero bytes).
    case badMagic(file: String, found: [UInt8])
    /// The IDX element type is not 0x08 (unsigned byte).
    case unsupportedElementType(file: String, typeByte: UInt8)
    /// The IDX header has the wrong number of dimensions for its role (3 for images, 1 for labels).
    case wrongDimensionCount(file: String, expected: Int, found: Int)
    /// The file is shorter than the header it announces.
    case truncatedHeader(file: String, needed: Int, found: Int)
    /// A dimension in the header is zero.
    case emptyDimension(file: String, dims: [Int])
    /// The file holds fewer data bytes than its header says.
    case truncatedData(file: String, dims: [Int], foundBytes: Int)
    /// The file holds more data bytes than its header says.
    case trailingData(file: String, dims: [Int], foundBytes: Int)
    /// The images file and the labels file disagree on the number of samples.
    case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int)
    /// The test images differ in size from the training images.
    case imageSizeMismatch(file: String, found: [Int], expected: [Int], reference: String)
    /// A label is not in 0..<numClasses.
    case labelOutOfRange(file: String, index: Int, label: Int, numClasses: Int)
    /// A set without a class list whose largest label leaves a class below it without a sample.
    case sparseLabels(file: String, index: Int, label: Int, missing: Int)
    /// A `--data` spec could not be parsed.
    case badSpec(spec: String, reason: String)
    /// An image file could not be read or decoded (missing, unreadable, corrupt, truncated, not an image).
    case badImage(file: String, reason: String)
    /// Substituting unreadable images gave up: `count` images in a row from `file` on failed.
    case tooManyBadImages(file: String, count: Int)
    /// A directory tree does not have the layout its data set kind needs.
    case badLayout(path: String, reason: String)
    /// A line of a list or label file is malformed or names something that does not exist.
    case badListEntry(file: String, line: Int, reason: String)
    /// A class directory holds no image.
    case emptyClass(directory: String)
    /// A packed data set file is damaged, truncated or of another format or version.
    case badPacked(file: String, reason: String)
    /// `wavemix prepare` will not write into this output directory.
    case prepareRefused(directory: String, reason: String)
    /// Writing a file failed.
    case unwritable(file: String, reason: String)
    /// The data set cannot produce inputs of the requested size.
    case imageSizeUnavailable(spec: String, reason: String)
    /// The sampler cannot make a single global batch from the data set.
    case globalBatchTooLarge(count: Int, batchSize: Int, worldSize: Int)
    /// A validation split that leaves no validation or no training image.
    case badSplit(String)

    public var description: String {
        switch self {
        case let .fileNotFound(dataSet, path, hint):
            return "\(dataSet): \(path) not found; \(hint)"
        case let .noIDXFiles(path, reason):
            return "idx:\(path): \(reason)"
        case let .unreadable(file, reason):
            return "\(file): cannot read: \(reason)"
        case let .corruptGzip(file, reason):
            return "\(file): corrupt gzip stream: \(reason)"
        case let .badMagic(file, found):
            let hex = found.map { String(format: "%02x", $0) }.joined(separator: " ")
            return "\(file): not an IDX file: starts with \(hex), expected 00 00"
        case let .unsupportedElementType(file, typeByte):
            return "\(file): IDX element type 0x\(String(typeByte, radix: 16)) is not supported; only 0x08 (unsigned byte) is"
        case let .wrongDimensionCount(file, expected, found):
            return "\(file): IDX header has \(found) dimensions, expected \(expected)"
        case let .truncatedHeader(file, needed, found):
            return "\(file): truncated header: needs \(needed) bytes, file holds \(found)"
        case let .emptyDimension(file, dims):
            return "\(file): IDX header has a zero dimension (\(Self.shape(dims)))"
        case let .truncatedData(file, dims, foundBytes):
            return "\(file): truncated: header says \(Self.contents(dims)), file holds \(Self.held(dims, foundBytes))"
        case let .trailingData(file, dims, foundBytes):
            return "\(file): too long: header says \(Self.contents(dims)), file holds \(Self.held(dims, foundBytes))"
        case let .countMismatch(images, imageCount, labels, labelCount):
            return "\(labels): holds \(labelCount) labels but \(images) holds \(imageCount) images"
        case let .imageSizeMismatch(file, found, expected, reference):
            return "\(file): images are \(Self.shape(found)) but \(reference) has \(Self.shape(expected))"
        case let .labelOutOfRange(file, index, label, numClasses):
            return "\(file): label \(label) at index \(index) is outside 0..<\(numClasses)"
        case let .sparseLabels(file, index, label, missing):
            return "\(file): label \(label) at index \(index) implies \(label + 1) classes, but class \(missing) has no sample "
                + "(a corrupt label?); pass --num-classes N to train on N classes anyway"
        case let .badSpec(spec, reason):
            return "--data \(spec): \(reason)"
        case let .badImage(file, reason):
            return "\(file): unusable image: \(reason)"
        case let .tooManyBadImages(file, count):
            return "\(file): \(count) unusable images in a row from here on; is the data set damaged?"
        case let .badLayout(path, reason):
            return "\(path): \(reason)"
        case let .badListEntry(file, line, reason):
            return "\(file):\(line): \(reason)"
        case let .emptyClass(directory):
            return "\(directory): class directory holds no .jpg, .jpeg or .png image"
        case let .badPacked(file, reason):
            return "\(file): \(reason)"
        case let .prepareRefused(directory, reason):
            return "\(directory): \(reason)"
        case let .unwritable(file, reason):
            return "\(file): cannot write: \(reason)"
        case let .imageSizeUnavailable(spec, reason):
            return "--data \(spec): \(reason)"
        case let .globalBatchTooLarge(count, batchSize, worldSize):
            return "global batch \(batchSize) x \(worldSize) ranks = \(batchSize * worldSize) exceeds the "
                + "\(count) samples of the data set; lower --batch-size"
        case let .badSplit(reason):
            return reason
        }
    }

    private static func shape(_ dims: [Int]) -> String {
        dims.map(String.init).joined(separator: "x")
    }

    /// What a header announces: "60000 labels" or "60000 images of 28x28".
    private static func contents(_ dims: [Int]) -> String {
        dims.count == 1 ? "\(dims[0]) labels" : "\(dims[0]) images of \(shape(Array(dims.dropFirst())))"
    }

    /// What a file really holds, in the unit of `contents`: "59990", or "59990 and 12 bytes of another".
    private static func held(_ dims: [Int], _ bytes: Int) -> String {
        var perItem = 1
        for d in dims.dropFirst() {
            let (product, overflow) = perItem.multipliedReportingOverflow(by: d)
            if overflow || product == 0 { return "\(bytes) bytes" }
            perItem = product
        }
        if bytes % perItem == 0 { return "\(bytes / perItem)" }
        return "\(bytes / perItem) and \(bytes % perItem) bytes of another"
    }
}
