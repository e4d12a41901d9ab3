// The interface between a data set and batch assembly: random access to sample i's label and its
// pixels as H x W x C unsigned bytes (channels last). In-memory sets (IDX, CIFAR) hold fixed-size
// images; file sources (JPEG/PNG trees) and packed shards produce their fixed size by cropping each
// image as it is read, and a random crop depends on the epoch and the augmentation seed: they
// implement `sample(_:epoch:seed:into:)`, which BatchLoader calls, and which also returns the label
// of what it wrote (a source may substitute another sample for an unreadable one).

public protocol ImageSource: Sendable {
    /// Number of samples.
    var count: Int { get }
    /// Height, width and channels of every image that `pixels(_:into:)` produces.
    var height: Int { get }
    var width: Int { get }
    var channels: Int { get }
    /// Labels lie in 0..<numClasses.
    var numClasses: Int { get }

    /// Label of sample i (0 <= i < count).
    func label(_ i: Int) -> Int

    /// Writes sample i as height * width * channels bytes, row-major HWC, into `buffer`
    /// (which holds at least that many bytes), as epoch 0 with seed 0 would. Sources that read or
    /// decode files throw DataError. Called concurrently from several threads.
    func pixels(_ i: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError)

    /// Writes sample i as it is seen in `epoch` under augmentation seed `seed` and returns the label
    /// of what was written. The default ignores epoch and seed: pixels(i) with label(i).
    func sample(_ i: Int, epoch: Int, seed: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) -> Int
}

extension ImageSource {
    /// Bytes of one image: height * width * channels.
    public var imageByteCount: Int { height * width * channels }

    public func sample(_ i: Int, epoch: Int, seed: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) -> Int {
        try pixels(i, into: buffer)
        return label(i)
    }
}
