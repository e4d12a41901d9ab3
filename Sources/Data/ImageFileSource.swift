// The ImageSource of a file-based data set (ImageFolder, ImageNet, Places-365): sample i is file i
// of the FileList, decoded and cropped to size x size x 3 by the SampleDecoder as sample i of the
// epoch asked for (a random resized crop for training, keyed by (seed, epoch, i); the centre crop for
// evaluation). Nothing is cached: memory does not grow with the data set beyond the file list.
// Unusable images are handled by the BadImagePolicy.

public struct ImageFileSource: ImageSource {
    public let files: FileList
    public let numClasses: Int
    public let decoder: SampleDecoder
    public let policy: BadImagePolicy
    public let log: BadImageLog

    public init(files: FileList, numClasses: Int, decoder: SampleDecoder, policy: BadImagePolicy, log: BadImageLog) {
        precondition(files.labels.allSatisfy { $0 >= 0 && Int($0) < numClasses }, "ImageFileSource: label out of range")
        self.files = files
        self.numClasses = numClasses
        self.decoder = decoder
        self.policy = policy
        self.log = log
    }

    public var count: Int { files.count }
    public var height: Int { decoder.size }
    public var width: Int { decoder.size }
    public var channels: Int { 3 }

    public func label(_ i: Int) -> Int { Int(files.labels[i]) }

    public func pixels(_ i: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) {
        _ = try sample(i, epoch: 0, seed: 0, into: buffer)
    }

    public func sample(_ i: Int, epoch: Int, seed: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) -> Int {
        precondition(buffer.count >= imageByteCount, "ImageFileSource: buffer holds \(buffer.count) bytes, needs \(imageByteCount)")
        let used = try policy.read(i, count: count, log: log, name: files.path) { j throws(DataError) in
            try decode(j, epoch: epoch, seed: seed, into: buffer)
        }
        return label(used)
    }

    /// Decodes file i as sample i of `epoch`, without substitution.
    public func decode(_ i: Int, epoch: Int, seed: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) {
        try decoder.decode(file: files.path(i), seed: seed, epoch: epoch, index: i, into: buffer.baseAddress!)
    }
}
