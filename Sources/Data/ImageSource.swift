// The interface between a data set and batch assembly: random access to sample i's label and its
// pixels as H x W x C unsigned bytes (channels last). Implemented by the in-memory ImageSet; JPEG,
// CIFAR and packed-shard sources implement it the same way, so BatchLoader, the transforms and the
// sampler work unchanged for them.

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
    /// (which holds at least that many bytes). Sources that read or decode files throw DataError.
    /// Called concurrently from several threads.
    func pixels(_ i: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError)
}

extension ImageSource {
    /// Bytes of one image: height * width * channels.
    public var imageByteCount: Int { height * width * channels }
}
