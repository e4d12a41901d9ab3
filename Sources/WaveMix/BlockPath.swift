// How the wave blocks run: which of the fused kernels apply, chosen once when the activation arena
// is sized (the arena holds their per-thread chunks). A fused kernel computes bitwise what the
// separate layers compute, in chunks of rows that OpenBLAS's small-matrix kernel multiplies in one
// call, so it applies only where that kernel exists (the AVX-512 kernel sets) and a chunk of the
// layers' shapes fits it.
import Kernels

struct BlockPath: Equatable {
    /// How a block's reduction, wavelet levels and (eval only) feed-forward run.
    enum Mixing: Equatable {
        /// The reduction's output goes to memory; each level is its own pass.
        case separate
        /// The reduction and the first level in one pass (reductionHaarForward), chunk by chunk of
        /// image-row pairs; deeper levels are their own passes.
        case fusedReductionWavelet
        /// Eval with one level: the reduction, the level and the feed-forward in one pass
        /// (reductionHaarFeedForward); only the transposed convolution runs after it.
        case fusedMixing
    }

    /// How a feed-forward's 1x1 layers and GELU run: separate passes, or chunk by chunk of rows
    /// (feedForwardForward; in backward feedForwardInputGradient).
    enum FeedForward: Equatable { case separate, fused }

    /// The training forward's mixing (never fusedMixing: training keeps the level for the backward).
    let training: Mixing
    let eval: Mixing
    let feedForward: FeedForward

    init(_ config: WaveMixConfig, _ arch: Architecture, _ geometry: Geometry) {
        let blocks = arch.blocks
        let reductionFuses = !blocks.isEmpty && blocks.allSatisfy {
            reductionHaarPairsPerChunk(width: geometry.blockWidth, cin: $0.reduction.cin, cout: $0.reduction.cout) != nil
        }
        let feedForwardFuses = !blocks.isEmpty && blocks.flatMap(\.feedforwards).allSatisfy {
            feedForwardChunkRows(cin: $0.expand.cin, hidden: $0.expand.cout, cout: $0.project.cout) != nil
        }
        training = reductionFuses ? .fusedReductionWavelet : .separate
        feedForward = feedForwardFuses ? .fused : .separate
        // With one level the feed-forward takes the level's 4 * c/4 = c channels, so the whole-block
        // kernel's chunks are the two fused kernels' (reductionHaarFeedForwardBufferCount).
        eval = config.level == 1 && reductionFuses && feedForwardFuses ? .fusedMixing : training
    }

    func mixing(training isTraining: Bool) -> Mixing { isTraining ? training : eval }

    /// Floats of per-thread chunks the fused kernels of this path need for up to `threads` threads;
    /// they never run at the same time, so they share one buffer.
    func chunkFloats(_ arch: Architecture, _ geometry: Geometry, threads: Int) -> Int {
        let width = geometry.blockWidth
        var floats = 0
        for block in arch.blocks {
            let r = block.reduction
            if training == .fusedReductionWavelet {
                floats = max(floats, reductionHaarBufferCount(width: width, cin: r.cin, cout: r.cout, threads: threads))
            }
            if eval == .fusedMixing {
                let ff = block.feedforwards[0]
                floats = max(floats, reductionHaarFeedForwardBufferCount(width: width, cin: r.cin, reduced: r.cout,
                                                                         hidden: ff.expand.cout, cout: ff.project.cout,
                                                                         threads: threads))
            }
            for ff in block.feedforwards where feedForward == .fused {
                floats = max(floats, feedForwardBufferCount(cin: ff.expand.cin, hidden: ff.expand.cout, cout: ff.project.cout,
                                                            threads: threads))
            }
        }
        return floats
    }
}
