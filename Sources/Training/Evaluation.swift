// Exact sharded evaluation: each rank takes a contiguous slice of the evaluation set (no padding,
// no duplicates), runs eval-mode forwards, and the loss sum and top-1/top-5 counts are summed over
// ranks, so every sample is counted exactly once whatever the world size.
import Comm
import Data
import Kernels
import WaveMix

public struct EvaluationResult: Sendable, Equatable {
    public var samples: Int
    public var loss: Double
    public var top1: Double
    public var top5: Double
}

func evaluate(model: WaveMixModel, loader: BatchLoader, batchSize: Int, comm: Communicator,
              input: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws -> EvaluationResult {
    let shard = EvalShard(count: loader.source.count, worldSize: comm.size, rank: comm.rank, batchSize: batchSize)
    var local = ClassificationCounts()
    for b in 0..<shard.batchCount {
        let indices = Array(shard.batch(b))
        try loader.load(indices: indices, epoch: 0, pixels: input, labels: labels)
        model.forward(input: input, batch: indices.count, training: false)
        let counts = model.evaluate(labels: labels, batch: indices.count)
        local.lossSum += counts.lossSum
        local.top1 += counts.top1
        local.top5 += counts.top5
        local.samples += counts.samples
    }
    var totals = [local.lossSum, Double(local.top1), Double(local.top5), Double(local.samples)]
    if comm.size > 1 {
        try totals.withUnsafeMutableBufferPointer { try comm.allreduceSum($0) }
    }
    let n = totals[3]
    return EvaluationResult(samples: Int(n), loss: totals[0] / n, top1: totals[1] / n, top5: totals[2] / n)
}
