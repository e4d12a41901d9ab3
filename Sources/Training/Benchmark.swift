// `wavemix bench`: training and inference throughput of a configuration on synthetic data, and the
// process's peak memory. Under mpirun every rank trains its own batch and the gradients go through
// the same bucketed all-reduce as in training, so the numbers include communication and the time
// spent waiting for it. Numbers only; nothing here asserts on time.
import Comm
import Foundation
import Kernels
import Randomness
import WaveMix

public struct BenchmarkResult: Sendable {
    /// Images per second of the whole job (all ranks).
    public var trainImagesPerSecond: Double
    public var forwardImagesPerSecond: Double
    public var peakResidentBytes: Int
    public var parameterCount: Int
    /// Median training step, seconds.
    public var stepSeconds: Double
    /// Share of the timed steps' time spent waiting for gradient all-reduces backward did not hide.
    public var allreduceWaitShare: Double
    /// Per-kind time of the timed training steps (when profiled), summed over those steps.
    public var profile: [String: LayerProfile.Entry]
    /// The same for the timed eval-mode forward passes.
    public var forwardProfile: [String: LayerProfile.Entry]
    public var profiledSteps: Int
}

public enum Benchmark {
    /// Times `steps` training steps (forward, loss, backward, all-reduce when there are several
    /// ranks, AdamW) after `warmup` ones, then `steps` eval-mode forward passes, on random inputs of
    /// batch x height x width per rank.
    public static func run(config: WaveMixConfig, height: Int, width: Int, batch: Int, steps: Int, warmup: Int,
                           profile: Bool = false, comm: Communicator, bucketMiB: Double = 4) throws -> BenchmarkResult {
        let model = try WaveMixModel(config: config, imageHeight: height, imageWidth: width, seed: 1)
        let optimizer = Optimizer(OptimizerSettings(kind: .adamw, weightDecay: 0.01), parameterCount: model.parameterCount)
        var rng = SplitMix64(key: 42, UInt64(comm.rank))
        let input = (0..<(batch * height * width * config.inChans)).map { _ in rng.nextNormal() }
        let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: config.numClasses)) }
        let ids = Array(0..<batch)
        let reducer = comm.size > 1 ? GradientReducer(comm: comm, model: model, bucketBytes: Int(bucketMiB * 1_048_576)) : nil
        var failure: Error?
        if let reducer {
            model.gradientsReady = { offset in
                do { try reducer.gradientsReady(from: offset) } catch { failure = failure ?? error }
            }
        }
        var times: [Double] = []
        var waitBefore = 0.0
        try input.withUnsafeBufferPointer { x in
            try labels.withUnsafeBufferPointer { y in
                for step in 0..<(warmup + steps) {
                    if step == warmup {
                        if profile { model.profile = LayerProfile() }
                        waitBefore = reducer?.waitSeconds ?? 0
                    }
                    if comm.size > 1 { try comm.barrier() }
                    let start = DispatchTime.now().uptimeNanoseconds
                    model.zeroGradients()
                    model.forward(input: x.baseAddress!, batch: batch, training: true,
                                  dropout: .keyed(seed: 1, step: UInt64(step), sampleIDs: ids))
                    _ = model.crossEntropy(labels: y.baseAddress!, batch: batch)
                    model.backward(input: x.baseAddress!, batch: batch)
                    if let failure { throw failure }
                    try reducer?.finish()
                    optimizer.step(parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients), lr: 1e-3)
                    if step >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
                }
            }
        }
        let trainProfile = model.profile?.entries ?? [:]
        model.profile = nil
        let forwardSeconds: Double = input.withUnsafeBufferPointer { x in
            for _ in 0..<warmup { model.forward(input: x.baseAddress!, batch: batch, training: false) }
            if profile { model.profile = LayerProfile() }
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<steps { model.forward(input: x.baseAddress!, batch: batch, training: false) }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(steps)
        }
        let median = times.sorted()[times.count / 2]
        var slowest = [median, forwardSeconds]  // the job runs at its slowest rank's pace
        if comm.size > 1 {
            slowest[0] = try comm.allreduceMax(median)
            slowest[1] = try comm.allreduceMax(forwardSeconds)
        }
        let waited = (reducer?.waitSeconds ?? 0) - waitBefore
        let images = Double(batch * comm.size)
        return BenchmarkResult(trainImagesPerSecond: images / slowest[0], forwardImagesPerSecond: images / slowest[1],
                               peakResidentBytes: peakResidentBytes(), parameterCount: model.parameterCount,
                               stepSeconds: slowest[0], allreduceWaitShare: waited / times.reduce(0, +),
                               profile: trainProfile, forwardProfile: model.profile?.entries ?? [:], profiledSteps: steps)
    }

    /// ru_maxrss: the largest resident set this process has had (Linux reports KiB).
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
