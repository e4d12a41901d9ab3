// `wavemix bench`: training and inference throughput of a configuration on synthetic data, and the
// process's peak memory. Numbers only; nothing here asserts on time.
import Foundation
import Kernels
import WaveMix

public struct BenchmarkResult: Sendable {
    public var trainImagesPerSecond: Double
    public var forwardImagesPerSecond: Double
    public var peakResidentBytes: Int
    public var parameterCount: Int
    public var stepSeconds: [Double]
    /// Per-kind time of the timed training steps (when profiled), summed over those steps.
    public var profile: [String: LayerProfile.Entry]
    /// The same for the timed eval-mode forward passes.
    public var forwardProfile: [String: LayerProfile.Entry]
    public var profiledSteps: Int
}

public enum Benchmark {
    /// Times `steps` training steps (forward, loss, backward, AdamW) after `warmup` ones, then
    /// `steps` eval-mode forward passes, on random inputs of batch x height x width.
    public static func run(config: WaveMixConfig, height: Int, width: Int, batch: Int, steps: Int, warmup: Int,
                           profile: Bool = false, progress: (String) -> Void = { _ in }) throws(ConfigError) -> BenchmarkResult {
        let model = try WaveMixModel(config: config, imageHeight: height, imageWidth: width, seed: 1)
        let optimizer = Optimizer(OptimizerSettings(kind: .adamw, weightDecay: 0.01), parameterCount: model.parameterCount)
        var rng = SplitMix64(key: 42)
        let input = (0..<(batch * height * width * config.inChans)).map { _ in rng.nextNormal() }
        let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: config.numClasses)) }
        let ids = Array(0..<batch)
        var times: [Double] = []
        var profiled: LayerProfile?
        input.withUnsafeBufferPointer { x in
            labels.withUnsafeBufferPointer { y in
                for step in 0..<(warmup + steps) {
                    if profile && step == warmup { model.profile = LayerProfile() }
                    let start = DispatchTime.now().uptimeNanoseconds
                    model.zeroGradients()
                    model.forward(input: x.baseAddress!, batch: batch, training: true,
                                  dropout: .keyed(seed: 1, step: UInt64(step), sampleIDs: ids))
                    _ = model.crossEntropy(labels: y.baseAddress!, batch: batch)
                    model.backward(input: x.baseAddress!, batch: batch)
                    optimizer.step(parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients), lr: 1e-3)
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    if step >= warmup { times.append(seconds) }
                    progress(String(format: "train step %d/%d: %.1f ms", step + 1, warmup + steps, seconds * 1e3))
                }
            }
            profiled = model.profile
            model.profile = nil
            for _ in 0..<warmup { model.forward(input: x.baseAddress!, batch: batch, training: false) }
            if profile { model.profile = LayerProfile() }
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<steps { model.forward(input: x.baseAddress!, batch: batch, training: false) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            times.append(seconds / Double(steps))
        }
        let forwardSeconds = times.removeLast()
        let median = times.sorted()[times.count / 2]
        return BenchmarkResult(trainImagesPerSecond: Double(batch) / median, forwardImagesPerSecond: Double(batch) / forwardSeconds,
                               peakResidentBytes: peakResidentBytes(), parameterCount: model.parameterCount, stepSeconds: times,
                               profile: profiled?.entries ?? [:], forwardProfile: model.profile?.entries ?? [:],
                               profiledSteps: steps)
    }

    /// ru_maxrss: the largest resident set this process has had (Linux reports KiB).
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
