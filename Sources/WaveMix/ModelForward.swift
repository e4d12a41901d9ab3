// The forward pass: stem, wave blocks (reduction, wavelet levels, a feed-forward and a transposed
// convolution + BatchNorm per level, residual), average pool and linear head. Training normalises
// with batch statistics (updating the running ones), applies dropout and keeps in the arena what
// the backward needs; eval uses the running statistics, keeps nothing and runs the fused eval
// kernels the arena's block path allows.
import Kernels

/// Where dropout masks come from in a training forward pass.
public enum DropoutSource {
    /// Drawn from streams keyed by (seed, step, layer, sample id): sample j of the batch uses id
    /// `sampleIDs[j]` (its index in the data set; the batch position when the array is empty).
    case keyed(seed: UInt64, step: UInt64, sampleIDs: [Int])
    /// 0/1 keep masks in NHWC order, by official module name (`layers.0.feedforward.2`): replays
    /// the masks a PyTorch run drew, for parity tests.
    case masks([String: [Float]])
}

extension WaveMixModel {
    /// Runs the network on `input` [n, H, W, in_chans] and returns the logits [n, num_classes].
    /// Training mode uses batch statistics (updating the running ones) and dropout.
    @discardableResult
    public func forward(input: UnsafePointer<Float>, batch n: Int, training: Bool,
                        dropout: DropoutSource = .keyed(seed: 0, step: 0, sampleIDs: [])) -> UnsafeMutablePointer<Float> {
        reserve(batch: n)
        let arena = arena!
        passCosts = profile == nil ? nil : LayerCosts(self, batch: n, training: training)
        stemForward(input, n, training, arena)
        for block in arch.blocks {
            blockForward(block, n, training, dropout, arena)
        }
        let c = config.finalDim
        timed(.head) {
            globalAveragePoolForward(x: training ? arena.stream[config.depth] : arena.stream[0], batch: n,
                                     pixels: geometry.blockHeight * geometry.blockWidth, channels: c, y: arena.pooled)
            denseForward(x: arena.pooled, ldx: c, rows: n, cin: c, weight: parameter(at: arch.head.weight),
                         bias: parameter(at: arch.head.bias), cout: config.numClasses, y: arena.logits, ldy: config.numClasses)
        }
        return arena.logits
    }

    private func stemForward(_ input: UnsafePointer<Float>, _ n: Int, _ training: Bool, _ arena: ActivationArena) {
        var x = input
        for (i, conv) in arch.stem.convs.enumerated() {
            let out = arena.stemOutputs[i]
            timed(.stemConv(i)) {
                conv2dForward(x: x, geometry.stemConv(i, conv, batch: n), weight: parameter(at: conv.weight),
                              bias: parameter(at: conv.bias), cout: conv.cout, y: out, scratch: arena.kernelScratch,
                              scratchThreads: arena.threads)
            }
            x = UnsafePointer(out)
        }
        if let norm = arch.stem.norm {
            let pixels = geometry.pixels(batch: n)
            timed(.stemGELU) {
                geluForward(x: x, mask: nil, y: arena.stemActivated!, count: pixels * norm.channels)
            }
            batchNorm(.stemNorm, norm, x: arena.stemActivated!, ldx: norm.channels, rows: pixels, training: training,
                      statistics: arena.stemStatistics!, residual: nil, ldr: 0, y: arena.stream[0], ldy: norm.channels, arena)
        }
    }

    private func blockForward(_ block: WaveBlock, _ n: Int, _ training: Bool, _ dropout: DropoutSource, _ arena: ActivationArena) {
        let c = config.finalDim, levels = config.level
        let activations = arena.blocks[block.index]
        // Eval keeps no activations for a backward: each block adds its output into its input in
        // place, so the last transposed convolution reads and writes the same lines.
        let x = arena.stream[training ? block.index : 0], out = training ? arena.stream[block.index + 1] : arena.stream[0]
        // Wavelet levels: level k transforms level k-1's LL channels (the reduction output at k = 1).
        let mixing = arena.path.mixing(training: training)
        switch mixing {
        case .separate:
            dense(.reduction, block.reduction, x: x, ldx: c, rows: geometry.pixels(batch: n), y: activations.reduced, ldy: c / 4)
            for k in 1...levels { waveletForward(block, level: k, n, arena) }
        case .fusedReductionWavelet:
            reductionWaveletForward(block, n, x: x, arena)
            for k in stride(from: 2, through: levels, by: 1) { waveletForward(block, level: k, n, arena) }
        case .fusedMixing:
            // The level never goes to memory; below, the levels only upsample.
            evalMixingForward(block, n, x: x, arena)
        }
        // Feed-forwards from the deepest level up; each writes into the level above (after its own
        // c channels), and the level-1 one adds the residual into the block output.
        for k in stride(from: levels, through: 1, by: -1) {
            if mixing != .fusedMixing { feedForward(block, level: k, n, training, dropout, arena) }
            let target = k == 1 ? out : activations.levels[k - 2] + c, ldTarget = k == 1 ? c : geometry.levelWidth(k - 1)
            if training {
                upsampleForward(block, level: k, n, arena)
                let ff = block.feedforwards[k - 1]
                batchNorm(.norm(level: k), ff.norm, x: activations.upsampled[k - 1], ldx: ff.norm.channels,
                          rows: geometry.pixels(level: k - 1, batch: n), training: true, statistics: activations.statistics[k - 1],
                          residual: k == 1 ? x : nil, ldr: c, y: target, ldy: ldTarget, arena)
            } else {
                evalUpsampleNormForward(block, level: k, n, residual: k == 1 ? x : nil, y: target, ldy: ldTarget, arena)
            }
        }
    }

    /// The block's reduction and its first wavelet level in one pass, into level 1's buffer.
    private func reductionWaveletForward(_ block: WaveBlock, _ n: Int, x: UnsafePointer<Float>, _ arena: ActivationArena) {
        timed(.reductionWavelet) {
            reductionHaarForward(x: x, ldx: config.finalDim, batch: n, height: geometry.blockHeight, width: geometry.blockWidth,
                                 reduction: transposed(block.reduction, into: arena.kernelScratch),
                                 y: arena.blocks[block.index].levels[0], ldy: geometry.levelWidth(1),
                                 buffers: arena.fusedChunks, bufferThreads: arena.threads)
        }
    }

    /// Wavelet level k of the block, from the reduction output (k = 1) or level k-1's LL channels.
    private func waveletForward(_ block: WaveBlock, level k: Int, _ n: Int, _ arena: ActivationArena) {
        let activations = arena.blocks[block.index], (h, w) = geometry.levelSize(k - 1)
        let source = k == 1 ? activations.reduced : activations.levels[k - 2]
        timed(.wavelet(level: k)) {
            haarForward(x: source, ldx: k == 1 ? config.finalDim / 4 : geometry.levelWidth(k - 1), batch: n, height: h, width: w,
                        channels: config.finalDim / 4, y: activations.levels[k - 1], ldy: geometry.levelWidth(k))
        }
    }

    /// Eval's reduction, wavelet level and feed-forward of a one-level block in one pass, into
    /// the level's projected output.
    private func evalMixingForward(_ block: WaveBlock, _ n: Int, x: UnsafePointer<Float>, _ arena: ActivationArena) {
        let (r, ff) = (block.reduction, block.feedforwards[0])
        let (expand, project) = (ff.expand, ff.project)
        timed(.evalMixing) {
            let expandT = arena.kernelScratch + r.cin * r.cout, projectT = expandT + expand.cin * expand.cout
            reductionHaarFeedForward(x: x, ldx: config.finalDim, batch: n, height: geometry.blockHeight, width: geometry.blockWidth,
                                     reduction: transposed(r, into: arena.kernelScratch), expand: transposed(expand, into: expandT),
                                     project: transposed(project, into: projectT),
                                     y: arena.blocks[block.index].projected[0], ldy: project.cout,
                                     buffers: arena.fusedChunks, bufferThreads: arena.threads)
        }
    }

    /// Level k's feed-forward: expand, GELU * dropout, project into the level's projected output.
    private func feedForward(_ block: WaveBlock, level k: Int, _ n: Int, _ training: Bool, _ dropout: DropoutSource,
                             _ arena: ActivationArena) {
        let ff = block.feedforwards[k - 1], activations = arena.blocks[block.index]
        let (h, w) = geometry.levelSize(k)
        let rows = n * h * w, m = ff.expand.cout
        var mask: DropoutMask? = nil
        if training, let buffer = activations.masks[k - 1] {
            timed(.dropoutMask(level: k)) {
                fillDropoutMask(ff, layer: block.index * 4 + k - 1, batch: n, perSample: h * w * m, source: dropout, into: buffer)
            }
            mask = drawnMask(activations, level: k)
        }
        switch arena.path.feedForward {
        case .fused:
            timed(.feedForward(level: k)) {
                feedForwardForward(x: activations.levels[k - 1], ldx: geometry.levelWidth(k), rows: rows,
                                   expand: transposed(ff.expand, into: arena.kernelScratch),
                                   project: transposed(ff.project, into: arena.kernelScratch + ff.expand.cin * m),
                                   mask: mask, y: activations.projected[k - 1], ldy: ff.project.cout,
                                   buffers: arena.fusedChunks, bufferThreads: arena.threads)
            }
        case .separate:
            dense(.expand(level: k), ff.expand, x: activations.levels[k - 1], ldx: geometry.levelWidth(k), rows: rows,
                  y: arena.expanded, ldy: m)
            timed(.gelu(level: k)) {
                geluForward(x: arena.expanded, mask: mask, y: arena.activated, count: rows * m)
            }
            dense(.project(level: k), ff.project, x: arena.activated, ldx: m, rows: rows, y: activations.projected[k - 1],
                  ldy: ff.project.cout)
        }
    }

    /// Training: level k's transposed convolution, into the BatchNorm's input.
    private func upsampleForward(_ block: WaveBlock, level k: Int, _ n: Int, _ arena: ActivationArena) {
        let up = block.feedforwards[k - 1].upsample, activations = arena.blocks[block.index]
        timed(.upsample(level: k)) {
            convTranspose2dForward(x: activations.projected[k - 1], cin: up.cin, geometry.upsample(level: k, up, batch: n),
                                   weight: parameter(at: up.weight), bias: parameter(at: up.bias),
                                   y: activations.upsampled[k - 1], scratch: arena.kernelScratch, scratchThreads: arena.threads)
        }
    }

    /// Eval: level k's transposed convolution with the BatchNorm (running statistics) and the
    /// residual applied as it writes each output, saving two passes over the largest tensor.
    private func evalUpsampleNormForward(_ block: WaveBlock, level k: Int, _ n: Int, residual: UnsafePointer<Float>?,
                                         y: UnsafeMutablePointer<Float>, ldy: Int, _ arena: ActivationArena) {
        let ff = block.feedforwards[k - 1], up = ff.upsample
        timed(.evalUpsampleNorm(level: k)) {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * ff.norm.channels) { affine in
                let scale = affine.baseAddress!, shift = scale + ff.norm.channels
                evalBatchNormAffine(ff.norm, scale: scale, shift: shift)
                let weight = parameter(at: up.weight)
                let classKernels = transformedWeights.transformed(
                    key: up.weight, weight: weight, count: up.cin * up.cout * 16,
                    transformedCount: convTranspose2dClassKernelCount(cin: up.cin, cout: up.cout)
                ) {
                    convTranspose2dClassKernels(weight: weight, cin: up.cin, cout: up.cout, into: $0, scratch: arena.kernelScratch)
                }
                convTranspose2dForward(x: arena.blocks[block.index].projected[k - 1], cin: up.cin,
                                       geometry.upsample(level: k, up, batch: n), weight: weight, bias: parameter(at: up.bias),
                                       y: y, ldy: ldy,
                                       epilogue: ChannelEpilogue(scale: scale, shift: shift, residual: residual, ldr: config.finalDim),
                                       classKernels: classKernels, scratch: arena.kernelScratch, scratchThreads: arena.threads)
            }
        }
    }

    private func batchNorm(_ region: TimedRegion, _ norm: BatchNormLayer, x: UnsafePointer<Float>, ldx: Int, rows: Int, training: Bool,
                           statistics: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, ldr: Int,
                           y: UnsafeMutablePointer<Float>, ldy: Int, _ arena: ActivationArena) {
        let c = norm.channels
        let mean = statistics, invStd = statistics + c
        let runningMean = buffers.baseAddress! + norm.runningMean, runningVar = buffers.baseAddress! + norm.runningVar
        timed(region) {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * c) { affine in
                let scale = affine.baseAddress!, shift = scale + c
                if training {
                    arena.sums.update(repeating: 0, count: 2 * c + 1)
                    batchNormForwardSums(x: x, ldx: ldx, rows: rows, channels: c, sums: arena.sums)
                    arena.sums[2 * c] = Double(rows)
                    statisticsReducer?(UnsafeMutableBufferPointer(start: arena.sums, count: 2 * c + 1))
                    batchNormFinishStatistics(sums: arena.sums, count: Int(arena.sums[2 * c]), channels: c, eps: 1e-5, momentum: 0.1,
                                              mean: mean, invStd: invStd, runningMean: runningMean, runningVar: runningVar)
                    batchCounters[norm.counter] += 1
                    batchNormAffine(gamma: parameter(at: norm.weight), beta: parameter(at: norm.bias), mean: mean, invStd: invStd,
                                    channels: c, scale: scale, shift: shift)
                } else {
                    evalBatchNormAffine(norm, scale: scale, shift: shift)
                }
                batchNormApply(x: x, ldx: ldx, rows: rows, channels: c, scale: scale, shift: shift,
                               residual: residual, ldr: ldr, y: y, ldy: ldy)
            }
        }
    }

    /// scale and shift of an eval-mode BatchNorm: y = x * scale + shift, from the running statistics.
    private func evalBatchNormAffine(_ norm: BatchNormLayer, scale: UnsafeMutablePointer<Float>, shift: UnsafeMutablePointer<Float>) {
        let c = norm.channels
        withUnsafeTemporaryAllocation(of: Float.self, capacity: c) { invStd in
            batchNormEvalInvStd(runningVar: buffers.baseAddress! + norm.runningVar, channels: c, eps: 1e-5, invStd: invStd.baseAddress!)
            batchNormAffine(gamma: parameter(at: norm.weight), beta: parameter(at: norm.bias),
                            mean: buffers.baseAddress! + norm.runningMean, invStd: invStd.baseAddress!, channels: c,
                            scale: scale, shift: shift)
        }
    }

    private func fillDropoutMask(_ ff: FeedForward, layer: Int, batch n: Int, perSample: Int, source: DropoutSource,
                                 into keep: UnsafeMutablePointer<UInt8>) {
        switch source {
        case let .keyed(seed, step, ids):
            precondition(ids.isEmpty || ids.count >= n, "dropout: \(ids.count) sample ids for a batch of \(n)")
            let positions = ids.isEmpty ? Array(0..<n) : ids
            positions.withUnsafeBufferPointer {
                dropoutMask(samples: n, perSample: perSample, probability: Float(config.dropout), seed: seed, step: step,
                            layer: layer, sampleIDs: $0.baseAddress!, into: keep)
            }
        case let .masks(table):
            let count = n * perSample
            guard let drawn = table[ff.dropoutName], drawn.count == count else {
                preconditionFailure("no dropout mask of \(count) values for \(ff.dropoutName)")
            }
            for i in 0..<count { keep[i] = drawn[i] != 0 ? 1 : 0 }
        }
    }

    /// A 1x1 layer for the fused kernels: its weight transposed into `scratch`, and its bias.
    private func transposed(_ layer: DenseLayer, into scratch: UnsafeMutablePointer<Float>) -> DenseWeights {
        transposeWeight(parameter(at: layer.weight), cin: layer.cin, cout: layer.cout, into: scratch)
        return DenseWeights(weightT: scratch, bias: parameter(at: layer.bias), cin: layer.cin, cout: layer.cout)
    }
}
