// The loss and the backward pass: softmax cross-entropy of the last forward pass's logits, then the
// head, the wave blocks from the last to the first (each level's BatchNorm, transposed convolution
// and feed-forward, then the wavelet levels, the reduction and the residual) and the stem, adding
// into `gradients`. What the arena does not keep (ActivationArena.swift) is recomputed bitwise.
import Kernels

extension WaveMixModel {
    /// Mean cross-entropy of the last forward pass's logits; writes its gradient for `backward`.
    public func crossEntropy(labels: UnsafePointer<Int32>, batch n: Int) -> (loss: Float, counts: ClassificationCounts) {
        let arena = arena!
        return softmaxCrossEntropy(logits: arena.logits, labels: labels, batch: n, classes: config.numClasses, dLogits: arena.dLogits)
    }

    /// Counts (loss sum, top-1, top-5) of the last forward pass, without a gradient.
    public func evaluate(labels: UnsafePointer<Int32>, batch n: Int) -> ClassificationCounts {
        softmaxCrossEntropy(logits: arena!.logits, labels: labels, batch: n, classes: config.numClasses, dLogits: nil).counts
    }

    /// The gradient of the loss with respect to the logits (written by `crossEntropy`; callers
    /// may overwrite it with the gradient of another loss before `backward`).
    public var logitsGradient: UnsafeMutablePointer<Float> { arena!.dLogits }

    /// Adds the gradient of the last training forward pass's loss to `gradients`.
    public func backward(input: UnsafePointer<Float>, batch n: Int) {
        let arena = arena!
        passCosts = profile == nil ? nil : LayerCosts(self, batch: n, training: true)
        let c = config.finalDim
        timed(.headBackward) {
            Kernels.denseBackward(x: arena.pooled, ldx: c, rows: n, cin: c, weight: parameter(at: arch.head.weight),
                                  cout: config.numClasses, dy: arena.dLogits, lddy: config.numClasses, dx: arena.dPooled,
                                  lddx: c, accumulateDx: false, dWeight: gradient(at: arch.head.weight),
                                  dBias: gradient(at: arch.head.bias))
            globalAveragePoolBackward(dy: arena.dPooled, batch: n, pixels: geometry.blockHeight * geometry.blockWidth, channels: c,
                                      dx: arena.dStream, accumulate: false)
        }
        gradientsReady?(arch.head.weight)
        for block in arch.blocks.reversed() {
            blockBackward(block, n, arena)
        }
        stemBackward(input, n, arena)
        gradientsReady?(0)
    }

    private func blockBackward(_ block: WaveBlock, _ n: Int, _ arena: ActivationArena) {
        let c = config.finalDim, levels = config.level
        let activations = arena.blocks[block.index]
        for k in 1...levels {
            let ff = block.feedforwards[k - 1]
            let rows = geometry.pixels(level: k, batch: n), m = ff.expand.cout
            let dOut = k == 1 ? arena.dStream : arena.dLevels[k - 2] + c
            batchNormBackward(.normBackward(level: k), ff.norm, x: activations.upsampled[k - 1],
                              rows: geometry.pixels(level: k - 1, batch: n), statistics: activations.statistics[k - 1],
                              dy: dOut, lddy: k == 1 ? c : geometry.levelWidth(k - 1), dx: arena.dUpsampled, arena)
            timed(.upsampleBackward(level: k)) {
                convTranspose2dBackward(x: activations.projected[k - 1], cin: ff.upsample.cin,
                                        geometry.upsample(level: k, ff.upsample, batch: n),
                                        weight: parameter(at: ff.upsample.weight), dy: arena.dUpsampled, dx: arena.dProjected,
                                        dWeight: gradient(at: ff.upsample.weight), dBias: gradient(at: ff.upsample.bias),
                                        scratch: arena.kernelScratch, scratchThreads: arena.threads)
            }
            let mask = drawnMask(activations, level: k)
            dense(.expandRecompute(level: k), ff.expand, x: activations.levels[k - 1], ldx: geometry.levelWidth(k), rows: rows,
                  y: arena.expanded, ldy: m)
            // Recomputes the GELU output and leaves GELU' in `expanded` for the GELU backward below.
            timed(.geluRecompute(level: k)) {
                geluRecompute(x: arena.expanded, mask: mask, y: arena.activated, count: rows * m)
            }
            switch arena.path.feedForward {
            case .fused:
                // dW of the project layer alone, then its dx taken through the GELU chunk by chunk.
                let project = ff.project
                timed(.projectWeightGradient(level: k)) {
                    Kernels.denseBackward(x: arena.activated, ldx: m, rows: rows, cin: m, weight: parameter(at: project.weight),
                                          cout: project.cout, dy: arena.dProjected, lddy: project.cout, dx: nil, lddx: m,
                                          accumulateDx: false, dWeight: gradient(at: project.weight), dBias: gradient(at: project.bias))
                }
                timed(.projectInputGELUGradient(level: k)) {
                    feedForwardInputGradient(dy: arena.dProjected, rows: rows, project: parameter(at: project.weight), cin: m,
                                             cout: project.cout, expandCin: ff.expand.cin, derivative: arena.expanded, mask: mask,
                                             dx: arena.dExpanded, buffers: arena.fusedChunks, bufferThreads: arena.threads)
                }
            case .separate:
                denseBackward(.projectBackward(level: k), ff.project, x: arena.activated, ldx: m, rows: rows, dy: arena.dProjected,
                              dx: arena.dActivated, lddx: m, accumulate: false)
                timed(.geluBackward(level: k)) {
                    geluBackward(derivative: arena.expanded, mask: mask, dy: arena.dActivated, dx: arena.dExpanded, count: rows * m)
                }
            }
            denseBackward(.expandBackward(level: k), ff.expand, x: activations.levels[k - 1], ldx: geometry.levelWidth(k), rows: rows,
                          dy: arena.dExpanded, dx: arena.dLevels[k - 1], lddx: geometry.levelWidth(k), accumulate: false)
            gradientsReady?(ff.firstOffset)
        }
        // Wavelet levels, deepest first: level k's gradient flows into level k-1's LL channels.
        for k in stride(from: levels, through: 1, by: -1) {
            let (h, w) = geometry.levelSize(k - 1)
            timed(.waveletBackward(level: k)) {
                haarBackward(dy: arena.dLevels[k - 1], lddy: geometry.levelWidth(k), batch: n, height: h, width: w, channels: c / 4,
                             dx: k == 1 ? arena.dReduced : arena.dLevels[k - 2], lddx: k == 1 ? c / 4 : geometry.levelWidth(k - 1),
                             accumulate: k != 1)
            }
        }
        // Odd blocks' inputs are not kept (see ActivationArena); rebuilt once the buffer holding them is free.
        if block.index % 2 == 1 { rebuildBlockInput(block.index, n, arena) }
        // dStream holds the gradient of the block output, which is also the residual's; the
        // reduction adds the path through the block.
        denseBackward(.reductionBackward, block.reduction, x: arena.stream[block.index], ldx: c, rows: geometry.pixels(batch: n),
                      dy: arena.dReduced, dx: arena.dStream, lddx: c, accumulate: true)
        gradientsReady?(block.firstOffset)
    }

    /// x_i = x_{i-1} + BatchNorm(upsampled) of block i-1, bitwise as its training forward wrote it:
    /// the same kernels on the same stored input, batch statistics and parameters.
    private func rebuildBlockInput(_ i: Int, _ n: Int, _ arena: ActivationArena) {
        let norm = arch.blocks[i - 1].feedforwards[0].norm, activations = arena.blocks[i - 1]
        let c = norm.channels, pixels = geometry.pixels(batch: n)
        timed(.rebuildBlockInput) {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * c) { affine in
                let scale = affine.baseAddress!, shift = scale + c
                batchNormAffine(gamma: parameter(at: norm.weight), beta: parameter(at: norm.bias), mean: activations.statistics[0],
                                invStd: activations.statistics[0] + c, channels: c, scale: scale, shift: shift)
                batchNormApply(x: activations.upsampled[0], ldx: c, rows: pixels, channels: c, scale: scale, shift: shift,
                               residual: arena.stream[i - 1], ldr: c, y: arena.stream[i], ldy: c)
            }
        }
    }

    private func stemBackward(_ input: UnsafePointer<Float>, _ n: Int, _ arena: ActivationArena) {
        var dy = UnsafeMutablePointer(arena.dStream)
        if let norm = arch.stem.norm {
            let pixels = geometry.pixels(batch: n)
            batchNormBackward(.stemNormBackward, norm, x: arena.stemActivated!, rows: pixels, statistics: arena.stemStatistics!,
                              dy: arena.dStream, lddy: norm.channels, dx: arena.dStemA, arena)
            timed(.stemGELUBackward) {
                geluBackward(x: arena.stemOutputs[2], mask: nil, dy: arena.dStemA, dx: arena.dStemB, count: pixels * norm.channels)
            }
            dy = arena.dStemB
        }
        for (i, conv) in arch.stem.convs.enumerated().reversed() {
            // Ping-pong: the gradient for conv i's input goes to whichever buffer dy is not; the
            // image needs none.
            let dx: UnsafeMutablePointer<Float>? = i == 0 ? nil : (dy == arena.dStemA ? arena.dStemB : arena.dStemA)
            timed(.stemConvBackward(i)) {
                conv2dBackward(x: i == 0 ? input : UnsafePointer(arena.stemOutputs[i - 1]), geometry.stemConv(i, conv, batch: n),
                               weight: parameter(at: conv.weight), cout: conv.cout, dy: dy, dx: dx,
                               dWeight: gradient(at: conv.weight), dBias: gradient(at: conv.bias), scratch: arena.kernelScratch,
                               scratchThreads: arena.threads)
            }
            if let dx { dy = dx }
        }
    }

    private func batchNormBackward(_ region: TimedRegion, _ norm: BatchNormLayer, x: UnsafePointer<Float>, rows: Int,
                                   statistics: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, lddy: Int,
                                   dx: UnsafeMutablePointer<Float>, _ arena: ActivationArena) {
        let c = norm.channels
        let mean = statistics, invStd = statistics + c
        timed(region) {
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * c) { local in
                let localSums = local.baseAddress!
                localSums.update(repeating: 0, count: 2 * c)
                batchNormBackwardSums(x: x, ldx: c, dy: dy, lddy: lddy, rows: rows, channels: c, mean: mean, sums: localSums)
                arena.sums.update(from: localSums, count: 2 * c)
                var count = rows
                if let reduce = statisticsReducer {
                    arena.sums[2 * c] = Double(rows)
                    reduce(UnsafeMutableBufferPointer(start: arena.sums, count: 2 * c + 1))
                    count = Int(arena.sums[2 * c])
                }
                batchNormBackwardApply(x: x, ldx: c, dy: dy, lddy: lddy, rows: rows, channels: c, count: count,
                                       mean: mean, invStd: invStd, gamma: parameter(at: norm.weight), localSums: localSums,
                                       sums: arena.sums, dGamma: gradient(at: norm.weight), dBeta: gradient(at: norm.bias),
                                       dx: dx, lddx: c)
            }
        }
    }

    /// A 1x1 layer's backward: dW += dy^T x, db += column sums of dy, dx (= or +=) dy W.
    private func denseBackward(_ region: TimedRegion, _ layer: DenseLayer, x: UnsafePointer<Float>, ldx: Int, rows: Int,
                               dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, lddx: Int, accumulate: Bool) {
        timed(region) {
            Kernels.denseBackward(x: x, ldx: ldx, rows: rows, cin: layer.cin, weight: parameter(at: layer.weight), cout: layer.cout,
                                  dy: dy, lddy: layer.cout, dx: dx, lddx: lddx, accumulateDx: accumulate,
                                  dWeight: gradient(at: layer.weight), dBias: gradient(at: layer.bias))
        }
    }
}
