// An image data set held in memory: N images of H x W x C unsigned bytes (row-major HWC, images
// back to back) and N labels. MNIST-family IDX files load into one; it is the ImageSource for
// every data set small enough to keep in RAM.

public struct ImageSet: ImageSource, Sendable {
    public let count: Int
    public let height: Int
    public let width: Int
    public let channels: Int
    public let numClasses: Int
    /// Human-readable class names, numClasses of them, when the data set defines them.
    public let classNames: [String]?
    /// count * height * width * channels bytes; image i starts at i * height * width * channels.
    public let pixels: [UInt8]
    /// count labels in 0..<numClasses.
    public let labels: [Int32]

    /// Sizes must agree and labels must lie in range (a bug otherwise: loaders validate files first).
    public init(height: Int, width: Int, channels: Int, numClasses: Int, classNames: [String]? = nil,
                pixels: [UInt8], labels: [Int32]) {
        precondition(height > 0 && width > 0 && channels > 0 && numClasses > 0, "ImageSet: empty dimension")
        precondition(pixels.count == labels.count * height * width * channels, "ImageSet: pixel count does not match labels")
        precondition(classNames == nil || classNames!.count == numClasses, "ImageSet: classNames.count != numClasses")
        precondition(labels.allSatisfy { $0 >= 0 && Int($0) < numClasses }, "ImageSet: label out of range")
        self.count = labels.count
        self.height = height
        self.width = width
        self.channels = channels
        self.numClasses = numClasses
        self.classNames = classNames
        self.pixels = pixels
        self.labels = labels
    }

    public func label(_ i: Int) -> Int { Int(labels[i]) }

    public func pixels(_ i: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) {
        let size = imageByteCount
        precondition(i >= 0 && i < count, "ImageSet.pixels: index \(i) outside 0..<\(count)")
        precondition(buffer.count >= size, "ImageSet.pixels: buffer holds \(buffer.count) bytes, needs \(size)")
        pixels.withUnsafeBufferPointer { all in
            buffer.baseAddress!.update(from: all.baseAddress! + i * size, count: size)
        }
    }

    /// Number of samples of each class, indexed by label.
    public func classCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: numClasses)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }
}
