// The keys of every random decision the Data module makes. Each decision draws from
// SplitMix64(key: seed, epoch, [sample index,] salt), so it is a pure function of its key: it does not
// depend on batch composition, thread count, rank, world size or where a run was resumed. The salts
// keep the streams apart from each other and from other modules' streams keyed by the same numbers.

import Randomness

public enum DataRandomKeys {
    /// Epoch permutation: SplitMix64(key: seed, epoch, shuffle), then Fisher-Yates.
    public static let shuffle: UInt64 = 0x5348_5546  // "SHUF"
    /// Random crop offsets of one sample: SplitMix64(key: seed, epoch, sampleIndex, crop).
    public static let crop: UInt64 = 0x4352_4F50  // "CROP"
    /// Horizontal flip of one sample: SplitMix64(key: seed, epoch, sampleIndex, flip).
    public static let flip: UInt64 = 0x464C_4950  // "FLIP"
    /// RandomResizedCrop box of one sample: SplitMix64(key: seed, epoch, sampleIndex, resizedCrop).
    public static let resizedCrop: UInt64 = 0x5252_4350  // "RRCP"
    /// TrivialAugmentWide op and magnitude of one sample: SplitMix64(key: seed, epoch, sampleIndex, trivialAugment).
    public static let trivialAugment: UInt64 = 0x5441_5744  // "TAWD"

    static func stream(seed: UInt64, epoch: Int, salt: UInt64) -> SplitMix64 {
        precondition(epoch >= 0, "epoch must not be negative")
        return SplitMix64(key: seed, UInt64(epoch), salt)
    }

    static func stream(seed: UInt64, epoch: Int, sampleIndex: Int, salt: UInt64) -> SplitMix64 {
        precondition(epoch >= 0 && sampleIndex >= 0, "epoch and sample index must not be negative")
        return SplitMix64(key: seed, UInt64(epoch), UInt64(sampleIndex), salt)
    }
}
