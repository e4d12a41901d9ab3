// `wavemix bench`: training and inference images/s and peak memory for one configuration; with
// --data, the data loader's images/s instead (DataBenchCommand.swift).
import ArgumentParser
import Comm
import Foundation
import Kernels
import Training
import WaveMix

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training and inference throughput and peak memory on synthetic data.",
        discussion: """
            Prints images/s of full training steps (forward, backward, AdamW) and of eval-mode forward passes. Under \
            mpirun (scripts/wavemix-mpirun -n N wavemix bench ...) every rank trains its own --batch-size and the \
            gradients go through the bucketed all-reduce: the numbers are the whole job's, with the share of step time \
            spent waiting for all-reduces. With --data, measures the data pipeline instead: index building, then \
            images/s of decode + crop + flip + normalise through the prefetching loader with --threads decoding threads.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "Images per step.") var batchSize = 128
    @Option(help: "Input height and width (default 28; with --data 224).") var imageSize: Int?
    @Option(help: "Input channels.") var inChans = 1
    @Option(help: "Timed steps.") var steps = 10
    @Option(help: "Untimed steps first.") var warmup = 2
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Flag(help: "Time every kind of layer (forward and backward apart) and print a table with GFLOP/s.") var profile = false
    @Option(help: "Gradient all-reduce bucket size in MiB (under mpirun).") var bucketMib = 4.0
    @OptionGroup(title: "Data loader (--data)") var dataBench: DataBenchOptions

    func validate() throws {
        guard batchSize >= 1, imageSize ?? 1 >= 1, inChans >= 1, steps >= 1, warmup >= 0 else {
            throw ValidationError("--batch-size, --image-size, --in-chans and --steps must be at least 1")
        }
    }

    func run() throws {
        if dataBench.data != nil {
            try dataBench.run(imageSize: imageSize, batchSize: batchSize, threads: runtime.threads ?? ComputeThreads.defaultCount(),
                              json: json)
            return
        }
        try withMPI(benchmark)
    }

    private func benchmark(_ comm: Communicator) throws {
        let threads = runtime.threads ?? ComputeThreads.defaultCount(ranksOnHost: comm.localSize)
        let imageSize = imageSize ?? 28
        ComputeThreads.configure(threads)
        let config = model.config(defaultPreset: "lite-64-4", numClasses: 10, inChans: inChans)
        do { try config.validate(height: imageSize, width: imageSize) } catch { throw ValidationError(error.description) }
        let result = try Benchmark.run(config: config, height: imageSize, width: imageSize, batch: batchSize, steps: steps,
                                       warmup: warmup, profile: profile, comm: comm, bucketMiB: bucketMib)
        guard comm.rank == 0 else { return }
        let kernels = KernelSelection.current
        if json {
            let object: [String: Any] = [
                "train_images_per_second": result.trainImagesPerSecond, "forward_images_per_second": result.forwardImagesPerSecond,
                "peak_rss_bytes": result.peakResidentBytes, "parameters": result.parameterCount, "threads": threads,
                "batch_size": batchSize, "image_size": imageSize, "ranks": comm.size, "step_seconds": result.stepSeconds,
                "allreduce_wait_share": result.allreduceWaitShare, "cpu": kernels.cpu, "blas_core": kernels.blasCore,
                "blas_core_reason": kernels.blasCoreReason, "element_loops": kernels.elementLoops,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("kernels: \(kernels.description)")
            print(String(format: "parameters %d, batch %d per rank, %dx%d, %d rank(s) x %d thread(s)", result.parameterCount, batchSize,
                         imageSize, imageSize, comm.size, threads))
            print(String(format: "train    %8.1f images/s", result.trainImagesPerSecond))
            print(String(format: "forward  %8.1f images/s", result.forwardImagesPerSecond))
            print(String(format: "peak RSS %8.1f MiB (rank 0)", Double(result.peakResidentBytes) / 1_048_576))
            if comm.size > 1 {
                print(String(format: "all-reduce wait %.2f%% of step time (median step %.1f ms)", 100 * result.allreduceWaitShare,
                             1e3 * result.stepSeconds))
            }
            if profile {
                print("\ntraining step")
                printProfile(result.profile, steps: result.profiledSteps)
                print("\neval-mode forward")
                printProfile(result.forwardProfile, steps: result.profiledSteps)
            }
        }
    }
}

/// One line per layer kind: ms per step, share of the profiled time, GFLOP/s where it is a GEMM,
/// and the bytes it must move (inputs, weights, outputs once) with the rate that implies. For
/// layers that run GEMMs, the same GEMMs are then timed alone: "sgemm alone" is their GFLOP/s
/// without the layer around them, "of it" the share of that speed the whole layer keeps. The last
/// line adds up the GEMMs' FLOPs and their time alone: no implementation of these layers on top of
/// this sgemm can take less than that.
func printProfile(_ profile: [String: LayerProfile.Entry], steps count: Int) {
    let steps = Double(count)
    let total = profile.values.map(\.seconds).reduce(0, +)
    var gemmFLOPs = 0.0, gemmSecondsAlone = 0.0
    print("layer kind                     ms/step   share   GFLOP/s   MB/step    GB/s   calls/step   sgemm alone   of it")
    for (name, e) in profile.sorted(by: { $0.value.seconds > $1.value.seconds }) {
        let gflops = e.flops > 0 ? String(format: "%9.1f", e.flops / e.seconds / 1e9) : "         "
        var alone = ""
        if e.flops > 0, !e.gemms.isEmpty {
            let seconds = e.isolatedGEMMSeconds()
            let flops = e.gemms.map { $0.key.flops * Double($0.value) }.reduce(0, +)
            gemmFLOPs += flops; gemmSecondsAlone += seconds
            alone = String(format: "   %11.1f  %5.0f%%", flops / seconds / 1e9, 100 * seconds / e.seconds)
        }
        print(name.padding(toLength: 28, withPad: " ", startingAt: 0)
              + String(format: " %9.2f  %5.1f%%  %@  %7.1f  %6.1f  %11d", e.seconds / steps * 1e3, 100 * e.seconds / total, gflops,
                       e.bytes / steps / 1e6, e.bytes / e.seconds / 1e9, Int(Double(e.calls) / steps)) + alone)
    }
    print("total".padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: " %9.2f", total / steps * 1e3))
    if gemmFLOPs > 0 {
        print(String(format: "GEMMs: %.1f GFLOP per step; alone they take %.1f ms (%.0f%% of the step)", gemmFLOPs / steps / 1e9,
                     gemmSecondsAlone / steps * 1e3, 100 * gemmSecondsAlone / total))
    }
}
