// Reader for IDX files, the format of MNIST, Fashion-MNIST and EMNIST, raw or gzip-compressed:
//   00 00 | type byte (0x08 = unsigned byte) | dimension count | dims as big-endian UInt32 | data
// Images are [N, H, W] (3 dims), labels [N] (1 dim). Everything that does not match the header
// exactly (magic, type, dimension count, data length) is refused with a DataError naming the file.
// Note: EMNIST stores each image transposed; like torchvision, we keep the bytes as stored.

import Foundation

/// The contents of one IDX file: its dimensions and its unsigned-byte data, product(dims) long.
public struct IDXArray: Sendable, Equatable {
    public let dims: [Int]
    public let bytes: [UInt8]
}

public enum IDX {
    /// What an IDX file holds, which fixes its dimension count.
    public enum Role: Sendable {
        case images  // [N, H, W]
        case labels  // [N]

        var dimensionCount: Int { self == .images ? 3 : 1 }
    }

    /// Reads and validates an IDX file, inflating it if it is gzip-compressed (detected by content).
    public static func read(_ path: String, role: Role) throws(DataError) -> IDXArray {
        guard FileManager.default.fileExists(atPath: path) else { throw .unreadable(file: path, reason: "no such file") }
        let contents: Data
        do {
            contents = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw .unreadable(file: path, reason: fileErrorReason(error))
        }
        // Data.withUnsafeBytes only rethrows untyped errors, so the typed error travels in a Result.
        let result = contents.withUnsafeBytes { raw in
            Result { () throws(DataError) -> IDXArray in
                if Gzip.isGzip(raw) {
                    let inflated = try Gzip.inflate(raw, file: path)
                    return try inflated.withUnsafeBytes { bytes in
                        Result { () throws(DataError) in try decode(bytes, file: path, role: role) }
                    }.get()
                }
                if path.hasSuffix(".gz") {
                    let start = raw.prefix(2).map { String(format: "%02x", $0) }.joined(separator: " ")
                    throw .corruptGzip(file: path, reason: "not a gzip file (starts with \(start), expected 1f 8b)")
                }
                return try decode(raw, file: path, role: role)
            }
        }
        return try result.get()
    }

    /// Validates an uncompressed IDX byte stream; `file` names it in errors.
    public static func decode(_ raw: UnsafeRawBufferPointer, file: String, role: Role) throws(DataError) -> IDXArray {
        guard raw.count >= 4 else { throw .truncatedHeader(file: file, needed: 4, found: raw.count) }
        guard raw[0] == 0, raw[1] == 0 else { throw .badMagic(file: file, found: Array(raw.prefix(4))) }
        guard raw[2] == 0x08 else { throw .unsupportedElementType(file: file, typeByte: raw[2]) }
        let dimensionCount = Int(raw[3])
        guard dimensionCount == role.dimensionCount else {
            throw .wrongDimensionCount(file: file, expected: role.dimensionCount, found: dimensionCount)
        }
        let headerSize = 4 + 4 * dimensionCount
        guard raw.count >= headerSize else { throw .truncatedHeader(file: file, needed: headerSize, found: raw.count) }

        let dims = (0..<dimensionCount).map { d in
            (0..<4).reduce(0) { value, k in value << 8 | Int(raw[4 + 4 * d + k]) }
        }
        guard !dims.contains(0) else { throw .emptyDimension(file: file, dims: dims) }
        let dataBytes = raw.count - headerSize
        guard let expected = product(dims), dataBytes >= expected else {
            throw .truncatedData(file: file, dims: dims, foundBytes: dataBytes)
        }
        guard dataBytes == expected else { throw .trailingData(file: file, dims: dims, foundBytes: dataBytes) }
        return IDXArray(dims: dims, bytes: Array(raw[headerSize...]))
    }

    /// Loads an images file and a labels file into an ImageSet (1 channel). With `numClasses` nil
    /// the class count is the largest label + 1, and every class below it must have a sample (a
    /// corrupt label would otherwise silently add classes); otherwise every label must lie below it.
    public static func loadImageSet(images imagesPath: String, labels labelsPath: String,
                                    numClasses: Int? = nil, classNames: [String]? = nil) throws(DataError) -> ImageSet {
        let images = try read(imagesPath, role: .images)
        let labels = try read(labelsPath, role: .labels)
        guard images.dims[0] == labels.dims[0] else {
            throw .countMismatch(images: imagesPath, imageCount: images.dims[0], labels: labelsPath, labelCount: labels.dims[0])
        }
        let classCount = numClasses ?? Int(labels.bytes.max()!) + 1
        if let bad = labels.bytes.firstIndex(where: { Int($0) >= classCount }) {
            throw .labelOutOfRange(file: labelsPath, index: bad, label: Int(labels.bytes[bad]), numClasses: classCount)
        }
        if numClasses == nil {
            var present = [Bool](repeating: false, count: classCount)
            for label in labels.bytes { present[Int(label)] = true }
            if let missing = present.firstIndex(of: false) {
                let largest = classCount - 1, index = labels.bytes.firstIndex(of: UInt8(largest))!
                throw .sparseLabels(file: labelsPath, index: index, label: largest, missing: missing)
            }
        }
        return ImageSet(height: images.dims[1], width: images.dims[2], channels: 1, numClasses: classCount,
                        classNames: classNames, pixels: images.bytes, labels: labels.bytes.map(Int32.init))
    }

    /// Product of the dimensions, or nil if it overflows (then no file can be that long).
    private static func product(_ dims: [Int]) -> Int? {
        var result = 1
        for d in dims {
            let (next, overflow) = result.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            result = next
        }
        return result
    }
}
