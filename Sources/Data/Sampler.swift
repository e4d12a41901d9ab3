// Which samples each rank reads, as a pure function of its arguments (no state, no communication).
//
// Training (EpochSampler): epoch e's order is a permutation of 0..<count (Fisher-Yates driven by
// SplitMix64(key: seed, e, DataRandomKeys.shuffle)), or the identity without shuffling. It is cut
// into global batches of G = batchSize * worldSize; global batch b is order[b*G ..< (b+1)*G], and
// rank r takes its slice [r*batchSize ..< (r+1)*batchSize]. The order does not depend on the world
// size, so the same G in another world size (1 x 2B or 2 x B) visits the same samples in the same
// global order: a run can resume on a different number of ranks. Every rank gets batchesPerEpoch
// batches. With dropLast (the default for training) the last incomplete global batch is skipped,
// so an epoch sees count - count % G samples; without it the remainder R forms one more global
// batch, split balanced ([r*R/W ..< (r+1)*R/W], possibly empty) so the batch count stays equal and
// the caller weights gradients by sample counts.
//
// Evaluation (EvalShard): rank r reads the contiguous, unshuffled range [r*count/W ..< (r+1)*count/W]:
// every sample exactly once, no padding or duplicates. Shards differ by at most one sample, so batch
// counts can differ by one between ranks: sum losses and correct counts with the sample counts, and
// run maxBatchCount collective steps on every rank (ranks out of batches contribute zeros).

public struct EpochSampler: Sendable, Equatable {
    public let count: Int
    /// Samples per rank per step.
    public let batchSize: Int
    public let worldSize: Int
    public let rank: Int
    public let seed: UInt64
    public let shuffle: Bool
    public let dropLast: Bool

    /// Throws globalBatchTooLarge when dropLast leaves no batch at all (count < batchSize * worldSize).
    public init(count: Int, batchSize: Int, worldSize: Int = 1, rank: Int = 0, seed: UInt64,
                shuffle: Bool = true, dropLast: Bool = true) throws(DataError) {
        precondition(count >= 0 && batchSize > 0, "EpochSampler: bad count or batch size")
        precondition(worldSize > 0 && (0..<worldSize).contains(rank), "EpochSampler: rank \(rank) outside world of \(worldSize)")
        if dropLast, count < batchSize * worldSize {
            throw .globalBatchTooLarge(count: count, batchSize: batchSize, worldSize: worldSize)
        }
        self.count = count
        self.batchSize = batchSize
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
        self.dropLast = dropLast
    }

    /// Samples per step over all ranks: batchSize * worldSize.
    public var globalBatchSize: Int { batchSize * worldSize }

    /// Steps per epoch, the same on every rank.
    public var batchesPerEpoch: Int {
        dropLast ? count / globalBatchSize : (count + globalBatchSize - 1) / globalBatchSize
    }

    /// The order in which epoch `epoch` visits the samples (identical on every rank and world size).
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0..<count)
        guard shuffle else { return order }
        var rng = DataRandomKeys.stream(seed: seed, epoch: epoch, salt: DataRandomKeys.shuffle)
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, rng.nextInt(below: i + 1))
        }
        return order
    }

    /// Global batch `step` of an epoch's `order`, all ranks' samples in rank order.
    public func globalBatch(_ step: Int, of order: [Int]) -> ArraySlice<Int> {
        precondition((0..<batchesPerEpoch).contains(step), "EpochSampler: step \(step) outside 0..<\(batchesPerEpoch)")
        let start = step * globalBatchSize
        return order[start..<min(start + globalBatchSize, count)]
    }

    /// This rank's samples at global batch `step` of an epoch's `order`.
    public func rankBatch(_ step: Int, of order: [Int]) -> [Int] {
        let global = globalBatch(step, of: order)
        let size = global.count  // globalBatchSize, except for a last partial batch
        let start = global.startIndex + rank * size / worldSize
        let end = global.startIndex + (rank + 1) * size / worldSize
        return Array(order[start..<end])
    }

    /// This rank's batches of epoch `epoch`, starting after `positionInEpoch` global batches already
    /// done (for resuming mid-epoch).
    public func batches(epoch: Int, from positionInEpoch: Int = 0) -> [[Int]] {
        precondition((0...batchesPerEpoch).contains(positionInEpoch),
                     "EpochSampler: position \(positionInEpoch) outside 0...\(batchesPerEpoch)")
        let order = permutation(epoch: epoch)
        return (positionInEpoch..<batchesPerEpoch).map { rankBatch($0, of: order) }
    }
}

public struct EvalShard: Sendable, Equatable {
    public let count: Int
    public let worldSize: Int
    public let rank: Int
    /// Samples per batch on this rank (the last batch may be smaller).
    public let batchSize: Int

    public init(count: Int, worldSize: Int = 1, rank: Int = 0, batchSize: Int) {
        precondition(count >= 0 && batchSize > 0, "EvalShard: bad count or batch size")
        precondition(worldSize > 0 && (0..<worldSize).contains(rank), "EvalShard: rank \(rank) outside world of \(worldSize)")
        self.count = count
        self.worldSize = worldSize
        self.rank = rank
        self.batchSize = batchSize
    }

    /// The samples of rank `rank`: [rank*count/worldSize ..< (rank+1)*count/worldSize].
    public static func range(count: Int, worldSize: Int, rank: Int) -> Range<Int> {
        (rank * count / worldSize)..<((rank + 1) * count / worldSize)
    }

    /// This rank's samples.
    public var indices: Range<Int> { Self.range(count: count, worldSize: worldSize, rank: rank) }

    /// This rank's number of batches.
    public var batchCount: Int { (indices.count + batchSize - 1) / batchSize }

    /// The largest batchCount over all ranks: how many collective steps every rank must join.
    public var maxBatchCount: Int {
        (0..<worldSize).map { EvalShard(count: count, worldSize: worldSize, rank: $0, batchSize: batchSize).batchCount }.max()!
    }

    /// The samples of this rank's batch `b` (0 <= b < batchCount).
    public func batch(_ b: Int) -> Range<Int> {
        precondition((0..<batchCount).contains(b), "EvalShard: batch \(b) outside 0..<\(batchCount)")
        let start = indices.lowerBound + b * batchSize
        return start..<min(start + batchSize, indices.upperBound)
    }
}
