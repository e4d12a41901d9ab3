// EpochSampler and EvalShard: permutations, determinism, disjoint equal rank slices, resuming
// mid-epoch and in another world size, and eval shards that cover every sample exactly once.

import Testing
@testable import Data

@Suite struct SamplerTests {
    @Test func permutationIsDeterministicAndChangesWithEpochAndSeed() throws {
        let sampler = try EpochSampler(count: 1000, batchSize: 10, seed: 5)
        let order = sampler.permutation(epoch: 3)
        #expect(order.sorted() == Array(0..<1000))
        #expect(order == sampler.permutation(epoch: 3))
        #expect(order != sampler.permutation(epoch: 4))
        #expect(order != (try EpochSampler(count: 1000, batchSize: 10, seed: 6)).permutation(epoch: 3))
        #expect(order != Array(0..<1000))
        let unshuffled = try EpochSampler(count: 1000, batchSize: 10, seed: 5, shuffle: false)
        #expect(unshuffled.permutation(epoch: 3) == Array(0..<1000))
    }

    @Test func ranksGetDisjointSlicesOfEachGlobalBatch() throws {
        let (count, batchSize, world) = (1003, 8, 4)
        let samplers = try (0..<world).map { try EpochSampler(count: count, batchSize: batchSize, worldSize: world, rank: $0, seed: 1) }
        let perRank = samplers.map { $0.batches(epoch: 2) }
        #expect(samplers.allSatisfy { $0.batchesPerEpoch == 31 })  // 1003 / 32, the last 11 samples dropped
        #expect(perRank.allSatisfy { $0.count == 31 && $0.allSatisfy { $0.count == batchSize } })
        let order = samplers[0].permutation(epoch: 2)
        var seen = Set<Int>()
        for step in 0..<31 {
            let union = (0..<world).flatMap { perRank[$0][step] }
            #expect(union == Array(order[(step * 32)..<((step + 1) * 32)]))
            seen.formUnion(union)
        }
        #expect(seen.count == 31 * 32)
    }

    @Test func worldSizeDoesNotChangeTheGlobalOrder() throws {
        let single = try EpochSampler(count: 500, batchSize: 16, worldSize: 1, rank: 0, seed: 9)
        let pair = try (0..<2).map { try EpochSampler(count: 500, batchSize: 8, worldSize: 2, rank: $0, seed: 9) }
        let quad = try (0..<4).map { try EpochSampler(count: 500, batchSize: 4, worldSize: 4, rank: $0, seed: 9) }
        let reference = single.batches(epoch: 7)
        let pairBatches = pair.map { $0.batches(epoch: 7) }
        let quadBatches = quad.map { $0.batches(epoch: 7) }
        #expect(reference.count == 31)
        for step in reference.indices {
            #expect(pairBatches[0][step] + pairBatches[1][step] == reference[step])
            #expect(quadBatches.flatMap { $0[step] } == reference[step])
        }
    }

    @Test func resumingMidEpochGivesTheRemainingBatches() throws {
        let sampler = try EpochSampler(count: 300, batchSize: 7, worldSize: 3, rank: 1, seed: 2)
        let all = sampler.batches(epoch: 4)
        #expect(Array(all[5...]) == sampler.batches(epoch: 4, from: 5))
        #expect(sampler.batches(epoch: 4, from: sampler.batchesPerEpoch).isEmpty)
        // Resuming in another world size: rank slices of the remaining steps union to the same global batches.
        let other = try (0..<7).map { try EpochSampler(count: 300, batchSize: 3, worldSize: 7, rank: $0, seed: 2) }
        let before = try (0..<3).map { try EpochSampler(count: 300, batchSize: 7, worldSize: 3, rank: $0, seed: 2).batches(epoch: 4) }
        let after = other.map { $0.batches(epoch: 4, from: 5) }
        for (k, step) in (5..<sampler.batchesPerEpoch).enumerated() {
            #expect(after.flatMap { $0[k] } == before.flatMap { $0[step] })
        }
    }

    @Test func keepingTheLastPartialBatchSplitsItEvenly() throws {
        let samplers = try (0..<3).map { try EpochSampler(count: 50, batchSize: 4, worldSize: 3, rank: $0, seed: 0, dropLast: false) }
        #expect(samplers.allSatisfy { $0.batchesPerEpoch == 5 })  // 4 full global batches of 12, then 2 samples
        let last = samplers.map { $0.batches(epoch: 0).last! }
        #expect(last.map(\.count) == [0, 1, 1])
        #expect(last.flatMap { $0 } == Array(samplers[0].permutation(epoch: 0)[48...]))
        let all = samplers.flatMap { $0.batches(epoch: 0).flatMap { $0 } }
        #expect(all.sorted() == Array(0..<50))
    }

    @Test func aGlobalBatchLargerThanTheDataSetIsAnError() {
        #expect(throws: DataError.globalBatchTooLarge(count: 100, batchSize: 64, worldSize: 2)) {
            try EpochSampler(count: 100, batchSize: 64, worldSize: 2, rank: 0, seed: 0)
        }
        #expect(throws: Never.self) { try EpochSampler(count: 100, batchSize: 64, worldSize: 2, rank: 0, seed: 0, dropLast: false) }
    }

    @Test func evalShardsCoverEverySampleOnce() {
        for (count, world) in [(10, 3), (10, 4), (10, 1), (3, 4), (0, 2), (10000, 3)] {
            for batchSize in [1, 3, 128] {
                let shards = (0..<world).map { EvalShard(count: count, worldSize: world, rank: $0, batchSize: batchSize) }
                let visited = shards.flatMap { shard in (0..<shard.batchCount).flatMap { Array(shard.batch($0)) } }
                #expect(visited == Array(0..<count), "count \(count), world \(world), batch \(batchSize)")
                let sizes = shards.map(\.indices.count)
                #expect(sizes.max()! - sizes.min()! <= 1)
                #expect(shards.allSatisfy { $0.maxBatchCount == shards.map(\.batchCount).max()! })
                #expect(shards.allSatisfy { shard in (0..<shard.batchCount).allSatisfy { (1...batchSize).contains(shard.batch($0).count) } })
            }
        }
        #expect(EvalShard(count: 10, worldSize: 4, rank: 1, batchSize: 2).indices == 2..<5)
        #expect(EvalShard(count: 10, worldSize: 3, rank: 2, batchSize: 2).indices == 6..<10)
    }
}
