// Dropout keep flags from a SplitMix64 stream (see Randomness/SplitMix64.swift), for both builds of
// this module (GELU.swift says why there are two).
import Randomness

/// keep[0..<count] = 0 where the stream's next uniform (24 bits, as SplitMix64.nextUniform) is
/// below p, else 1, drawing from the stream whose state is `state`.
public func dropoutKeepFlags(state: UInt64, probability p: Float, into keep: UnsafeMutablePointer<UInt8>, count: Int) {
    var s = state
    for i in 0..<count {
        s &+= splitMix64Increment
        keep[i] = Float(splitMix64(s) >> 40) * (1.0 / 16_777_216.0) < p ? 0 : 1
    }
}
