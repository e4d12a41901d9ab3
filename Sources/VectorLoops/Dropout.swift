// Dropout keep flags from a SplitMix64 stream (see Kernels/Random.swift), for both builds of this
// module (GELU.swift says why there are two).

/// SplitMix64's output function.
@inlinable @inline(__always)
public func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// SplitMix64's state increment per draw.
public let splitMix64Increment: UInt64 = 0x9E37_79B9_7F4A_7C15

/// keep[0..<count] = 0 where the stream's next uniform (24 bits, as SplitMix64.nextUniform) is
/// below p, else 1, drawing from the stream whose state is `state`.
public func dropoutKeepFlags(state: UInt64, probability p: Float, into keep: UnsafeMutablePointer<UInt8>, count: Int) {
    var s = state
    for i in 0..<count {
        s &+= splitMix64Increment
        keep[i] = Float(splitMix64(s) >> 40) * (1.0 / 16_777_216.0) < p ? 0 : 1
    }
}
