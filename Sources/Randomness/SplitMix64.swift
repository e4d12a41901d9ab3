// Counter-based randomness: every random draw in the project (shuffles, augmentation, dropout,
// initialisation) comes from a SplitMix64 stream whose seed is a pure function of a key such as
// (seed, epoch, sample index). Nothing depends on how many draws happened before, so results do not
// depend on world size, thread count or where a run was resumed. A leaf module: the data loader and
// the kernels draw from the same streams without one depending on the other.
import Foundation

/// SplitMix64's output function (inlined into the element loops' builds).
@inlinable @inline(__always)
public func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// SplitMix64's state increment per draw.
public let splitMix64Increment: UInt64 = 0x9E37_79B9_7F4A_7C15

public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A stream keyed by several integers (e.g. seed, epoch, index); distinct keys give independent streams.
    public init(key: UInt64...) {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for k in key { h = SplitMix64.mix(h ^ SplitMix64.mix(k &+ 0x632B_E59B_D9B4_E019)) }
        state = h
    }

    @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 { splitMix64(x) }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= splitMix64Increment
        return SplitMix64.mix(state)
    }

    /// Uniform in [0, 1) with 24 random bits (every value exactly representable as Float).
    @inline(__always)
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform integer in 0..<bound (bound > 0), by Lemire's multiply-shift with rejection.
    @inline(__always)
    public mutating func nextInt(below bound: Int) -> Int {
        Int(truncatingIfNeeded: next(upperBound: UInt64(bound)))
    }

    /// Standard normal by Box-Muller (used for initialisation and synthetic data only).
    public mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1.0p-53, 1e-300)
        let u2 = Double(next() >> 11) * 0x1.0p-53
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
