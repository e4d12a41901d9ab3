// WaveMix: the official network (wavemix 0.2.4, classification.WaveMix) as forward/backward passes
// over the flat parameter buffer and the activation arena. NHWC throughout; images arrive as
// [n, H, W, in_chans] Float.
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

public final class WaveMixModel {
    public let config: WaveMixConfig
    public let imageHeight: Int, imageWidth: Int
    let arch: Architecture
    let geo: Geometry

    /// All parameters, official names and shapes, in forward order (see `parameterTable`).
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// Gradients, same layout; backward adds into them.
    public let gradients: UnsafeMutableBufferPointer<Float>
    /// BatchNorm running means and variances (see `bufferTable`).
    public let buffers: UnsafeMutableBufferPointer<Float>
    /// num_batches_tracked of each BatchNorm, named by `counterNames`.
    public var batchCounters: [Int64]

    /// Sums per-channel BatchNorm statistics across replicas in place (synchronised BatchNorm).
    /// Called in training forward with [Σx (c), Σx² (c), rows] and in backward with [Σdy, Σdy·(x-μ)].
    public var statisticsReducer: ((UnsafeMutableBufferPointer<Double>) -> Void)?
    /// Called during backward with an offset: every gradient at that offset or above is final.
    public var gradientsReady: ((Int) -> Void)?

    private var workspace: Workspace?
    /// Eval's transposed-convolution class kernels, rebuilt only when the weights change.
    private let evalKernels = EvalKernels()
    /// When set, every layer's forward and backward is timed into it.
    public var profile: LayerProfile?

    public var parameterTable: TensorTable { arch.parameters }
    public var bufferTable: TensorTable { arch.buffers }
    public var counterNames: [String] { arch.counters }
    public var parameterCount: Int { arch.parameters.total }
    /// Floats held by the activation arena (0 before the first forward pass).
    public var workspaceFloats: Int { workspace?.floatsAllocated ?? 0 }

    /// Builds the model with PyTorch's default initialisation drawn from `seed`.
    public init(config: WaveMixConfig, imageHeight: Int, imageWidth: Int, seed: UInt64 = 0) throws(ConfigError) {
        try config.validate(height: imageHeight, width: imageWidth)
        self.config = config
        self.imageHeight = imageHeight; self.imageWidth = imageWidth
        arch = Architecture(config)
        geo = Geometry(config, height: imageHeight, width: imageWidth)
        parameters = .allocate(capacity: arch.parameters.total)
        gradients = .allocate(capacity: arch.parameters.total)
        buffers = .allocate(capacity: arch.buffers.total)
        gradients.initialize(repeating: 0)
        batchCounters = Array(repeating: 0, count: arch.counters.count)
        initializeParameters(seed: seed)
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
        buffers.deallocate()
    }

    public func zeroGradients() { gradients.update(repeating: 0) }

    /// Makes sure the arena holds batches of up to `batch` samples and scratch for the current
    /// thread count (reallocates only to grow).
    public func reserve(batch: Int) {
        if let w = workspace, w.batch >= batch, w.threads >= Parallel.threads { return }
        workspace = Workspace(config, arch, geo, batch: batch, dropout: config.dropout > 0)
    }

    // MARK: Forward

    /// Runs the network on `input` [n, H, W, in_chans] and returns the logits [n, num_classes].
    /// Training mode uses batch statistics (updating the running ones) and dropout.
    @discardableResult
    public func forward(input: UnsafePointer<Float>, batch n: Int, training: Bool,
                        dropout: DropoutSource = .keyed(seed: 0, step: 0, sampleIDs: [])) -> UnsafeMutablePointer<Float> {
        reserve(batch: n)
        let ws = workspace!
        stemForward(input, n, training, ws)
        for block in arch.blocks {
            blockForward(block, n, training, dropout, ws)
        }
        let c = config.finalDim
        timed("fwd pool + head", floats: n * geo.blockHeight * geo.blockWidth * c) {
            globalAveragePoolForward(x: training ? ws.stream[config.depth] : ws.stream[0], batch: n, pixels: geo.blockHeight * geo.blockWidth,
                                     channels: c, y: ws.pooled)
            denseForward(x: ws.pooled, ldx: c, rows: n, cin: c, weight: p(arch.head.weight), bias: p(arch.head.bias),
                         cout: config.numClasses, y: ws.logits, ldy: config.numClasses)
        }
        return ws.logits
    }

    private func stemForward(_ input: UnsafePointer<Float>, _ n: Int, _ training: Bool, _ ws: Workspace) {
        var x = input
        for (i, conv) in arch.stem.convs.enumerated() {
            let out = ws.stemOutputs[i]
            let g = stemGeometry(i, n)
            timed("fwd stem conv\(conv.kernel)x\(conv.kernel)", flops: 2.0 * Double(g.rows * g.patchSize * conv.cout),
                  floats: n * g.height * g.width * conv.cin + g.patchSize * conv.cout + g.rows * conv.cout) {
                conv2dForward(x: x, g, weight: p(conv.weight), bias: p(conv.bias), cout: conv.cout, y: out, scratch: ws.kernelScratch,
                              scratchThreads: ws.threads)
            }
            x = UnsafePointer(out)
        }
        if let norm = arch.stem.norm {
            let pixels = n * geo.blockHeight * geo.blockWidth
            timed("fwd gelu", floats: 2 * pixels * norm.channels) {
                geluForward(x: x, mask: nil, y: ws.stemActivated!, count: pixels * norm.channels)
            }
            batchNorm(norm, x: ws.stemActivated!, ldx: norm.channels, rows: pixels, training: training,
                      statistics: ws.stemStatistics!, residual: nil, ldr: 0, y: ws.stream[0], ldy: norm.channels, ws)
        }
    }

    private func blockForward(_ block: WaveBlock, _ n: Int, _ training: Bool, _ dropout: DropoutSource, _ ws: Workspace) {
        let c = config.finalDim, c4 = c / 4, levels = config.level
        let acts = ws.blocks[block.index]
        // Eval keeps no activations for a backward: each block adds its output into its input in
        // place, so the last transposed convolution reads and writes the same lines.
        let x = ws.stream[training ? block.index : 0], out = training ? ws.stream[block.index + 1] : ws.stream[0]
        let pixels = n * geo.blockHeight * geo.blockWidth
        // Eval with one level: the reduction, the level and the feed-forward in one pass (the
        // level never goes to memory); the loop below then only upsamples.
        let mixing = training ? nil : ws.mixingBuffers
        if let mixing {
            mixingForward(block, n, x: x, buffers: mixing, ws)
        } else if let buffers = ws.reductionHaarBuffers {
            // Wavelet levels: level k transforms level k-1's LL channels (the reduction output at k = 1).
            let r = block.reduction
            timed("fwd reduction 1x1 + dwt", flops: 2.0 * Double(pixels * r.cin * r.cout),
                  floats: pixels * (r.cin + r.cout) + r.cin * r.cout) {
                reductionHaarForward(x: x, ldx: c, batch: n, height: geo.blockHeight, width: geo.blockWidth,
                                     reduction: transposed(r, into: ws.kernelScratch),
                                     y: acts.levels[0], ldy: levelWidth(1), buffers: buffers, bufferThreads: ws.threads)
            }
        } else {
            dense("reduction", block.reduction, x: x, ldx: c, rows: pixels, y: acts.reduced, ldy: c4)
        }
        for k in (ws.reductionHaarBuffers == nil ? 1 : 2)..<(levels + 1) where mixing == nil {
            let (h, w) = geo.levelSize(k - 1)
            let source = k == 1 ? acts.reduced : acts.levels[k - 2]
            timed("fwd dwt", floats: 2 * n * h * w * c4) {
                haarForward(x: source, ldx: k == 1 ? c4 : levelWidth(k - 1), batch: n, height: h, width: w, channels: c4,
                            y: acts.levels[k - 1], ldy: levelWidth(k))
            }
        }
        // Feedforwards from the deepest level up; each writes into the level above (after its own
        // c channels), and the level-1 one adds the residual into the block output.
        for k in stride(from: levels, through: 1, by: -1) {
            let ff = block.feedforwards[k - 1]
            if mixing == nil { feedForward(block, level: k, n, training, dropout, ws) }
            let ug = upsampleGeometry(k, n, ff)
            let flops = 2.0 * Double(ug.rows * ug.patchSize * ff.upsample.cin)
            let floats = ug.rows * ff.upsample.cin + ug.patchSize * ff.upsample.cin + ug.batch * ug.height * ug.width * ug.channels
            let (ph, pw) = geo.levelSize(k - 1)
            let target = k == 1 ? out : acts.levels[k - 2] + c, ldTarget = k == 1 ? c : levelWidth(k - 1)
            if training {
                timed("fwd convT", flops: flops, floats: floats) {
                    convTranspose2dForward(x: acts.projected[k - 1], cin: ff.upsample.cin, ug,
                                           weight: p(ff.upsample.weight), bias: p(ff.upsample.bias),
                                           y: acts.upsampled[k - 1], scratch: ws.kernelScratch, scratchThreads: ws.threads)
                }
                batchNorm(ff.norm, x: acts.upsampled[k - 1], ldx: ff.norm.channels, rows: n * ph * pw, training: true,
                          statistics: acts.statistics[k - 1], residual: k == 1 ? x : nil, ldr: c,
                          y: target, ldy: ldTarget, ws)
            } else {
                // Eval: the BatchNorm (running statistics) and the residual add are applied as the
                // transposed convolution writes each output, saving two passes over the largest tensor.
                timed("fwd convT + batchnorm (eval)", flops: flops, floats: floats + (k == 1 ? ug.batch * ug.height * ug.width * c : 0)) {
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * ff.norm.channels) { affine in
                        let scale = affine.baseAddress!, shift = scale + ff.norm.channels
                        evalBatchNormAffine(ff.norm, scale: scale, shift: shift)
                        let (cin, cout) = (ff.upsample.cin, ug.channels)
                        let weight = p(ff.upsample.weight)
                        let classKernels = evalKernels.kernels(key: ff.upsample.weight, weight: weight, count: cin * cout * 16,
                                                               kernelCount: convTranspose2dClassKernelCount(cin: cin, cout: cout)) {
                            convTranspose2dClassKernels(weight: weight, cin: cin, cout: cout, into: $0, scratch: ws.kernelScratch)
                        }
                        convTranspose2dForward(x: acts.projected[k - 1], cin: cin, ug,
                                               weight: weight, bias: p(ff.upsample.bias),
                                               y: target, ldy: ldTarget,
                                               epilogue: ChannelEpilogue(scale: scale, shift: shift, residual: k == 1 ? x : nil, ldr: c),
                                               classKernels: classKernels, scratch: ws.kernelScratch, scratchThreads: ws.threads)
                    }
                }
            }
        }
    }

    /// Eval's reduction, wavelet level and feed-forward of a one-level block in one pass, into
    /// acts.projected[0].
    private func mixingForward(_ block: WaveBlock, _ n: Int, x: UnsafePointer<Float>, buffers: UnsafeMutablePointer<Float>,
                               _ ws: Workspace) {
        let c = config.finalDim, pixels = n * geo.blockHeight * geo.blockWidth, acts = ws.blocks[block.index]
        let (r, ff) = (block.reduction, block.feedforwards[0])
        let (expand, project) = (ff.expand, ff.project), rows = pixels / 4
        let flops = 2.0 * Double(pixels * r.cin * r.cout + rows * expand.cout * (expand.cin + project.cout))
        timed("fwd reduction+dwt+ff (eval)", flops: flops,
              floats: pixels * r.cin + rows * project.cout + r.cin * r.cout + expand.cout * (expand.cin + project.cout)) {
            let expandT = ws.kernelScratch + r.cin * r.cout, projectT = expandT + expand.cin * expand.cout
            reductionHaarFeedForward(x: x, ldx: c, batch: n, height: geo.blockHeight, width: geo.blockWidth,
                                     reduction: transposed(r, into: ws.kernelScratch), expand: transposed(expand, into: expandT),
                                     project: transposed(project, into: projectT),
                                     y: acts.projected[0], ldy: project.cout, buffers: buffers, bufferThreads: ws.threads)
        }
    }

    /// Level k's feed-forward: expand, GELU * dropout, project into acts.projected[k - 1].
    private func feedForward(_ block: WaveBlock, level k: Int, _ n: Int, _ training: Bool, _ dropout: DropoutSource, _ ws: Workspace) {
        let ff = block.feedforwards[k - 1], acts = ws.blocks[block.index]
        let (h, w) = geo.levelSize(k)
        let rows = n * h * w, m = ff.expand.cout
        var mask: DropoutMask? = nil
        if training, let buffer = acts.masks[k - 1] {
            timed("fwd dropout mask", floats: rows * m / 4) {
                fillDropoutMask(ff, layer: block.index * 4 + k - 1, batch: n, perSample: h * w * m, source: dropout, into: buffer)
            }
            mask = drawnMask(acts, level: k)
        }
        if let buffers = ws.feedForwardBuffers {
            let (expand, project) = (ff.expand, ff.project)
            let flops = 2.0 * Double(rows * m * (expand.cin + project.cout))
            timed("fwd expand + gelu + project", flops: flops,
                  floats: rows * (expand.cin + project.cout) + m * (expand.cin + project.cout) + (mask == nil ? 0 : rows * m / 4)) {
                feedForwardForward(x: acts.levels[k - 1], ldx: levelWidth(k), rows: rows,
                                   expand: transposed(expand, into: ws.kernelScratch),
                                   project: transposed(project, into: ws.kernelScratch + expand.cin * m),
                                   mask: mask, y: acts.projected[k - 1], ldy: project.cout, buffers: buffers, bufferThreads: ws.threads)
            }
        } else {
            dense("expand", ff.expand, x: acts.levels[k - 1], ldx: levelWidth(k), rows: rows, y: ws.expanded, ldy: m)
            timed("fwd gelu", floats: 2 * rows * m + (mask == nil ? 0 : rows * m / 4)) {
                geluForward(x: ws.expanded, mask: mask, y: ws.activated, count: rows * m)
            }
            dense("project", ff.project, x: ws.activated, ldx: m, rows: rows, y: acts.projected[k - 1], ldy: ff.project.cout)
        }
    }

    private func batchNorm(_ norm: BatchNormLayer, x: UnsafePointer<Float>, ldx: Int, rows: Int, training: Bool,
                           statistics: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, ldr: Int,
                           y: UnsafeMutablePointer<Float>, ldy: Int, _ ws: Workspace) {
        let c = norm.channels
        let mean = statistics, invStd = statistics + c
        let runningMean = buffers.baseAddress! + norm.runningMean, runningVar = buffers.baseAddress! + norm.runningVar
        timed(training ? "fwd batchnorm" : "fwd batchnorm (eval)", floats: (training ? 3 : 2) * rows * c + (residual == nil ? 0 : rows * c)) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * c) { affine in
            let scale = affine.baseAddress!, shift = scale + c
            if training {
                ws.sums.update(repeating: 0, count: 2 * c + 1)
                batchNormForwardSums(x: x, ldx: ldx, rows: rows, channels: c, sums: ws.sums)
                ws.sums[2 * c] = Double(rows)
                statisticsReducer?(UnsafeMutableBufferPointer(start: ws.sums, count: 2 * c + 1))
                batchNormFinishStatistics(sums: ws.sums, count: Int(ws.sums[2 * c]), channels: c, eps: 1e-5, momentum: 0.1,
                                          mean: mean, invStd: invStd, runningMean: runningMean, runningVar: runningVar)
                batchCounters[norm.counter] += 1
                batchNormAffine(gamma: p(norm.weight), beta: p(norm.bias), mean: mean, invStd: invStd, channels: c,
                                scale: scale, shift: shift)
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
            batchNormAffine(gamma: p(norm.weight), beta: p(norm.bias), mean: buffers.baseAddress! + norm.runningMean,
                            invStd: invStd.baseAddress!, channels: c, scale: scale, shift: shift)
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

    /// The mask block `acts` drew at `level` in the last training forward pass (nil without dropout).
    private func drawnMask(_ acts: BlockActivations, level k: Int) -> DropoutMask? {
        acts.masks[k - 1].map { DropoutMask(keep: $0, scale: 1 / (1 - Float(config.dropout))) }
    }

    // MARK: Loss and backward

    /// Mean cross-entropy of the last forward pass's logits; writes its gradient for `backward`.
    public func crossEntropy(labels: UnsafePointer<Int32>, batch n: Int) -> (loss: Float, counts: ClassificationCounts) {
        let ws = workspace!
        return softmaxCrossEntropy(logits: ws.logits, labels: labels, batch: n, classes: config.numClasses, dLogits: ws.dLogits)
    }

    /// Counts (loss sum, top-1, top-5) of the last forward pass, without a gradient.
    public func evaluate(labels: UnsafePointer<Int32>, batch n: Int) -> ClassificationCounts {
        softmaxCrossEntropy(logits: workspace!.logits, labels: labels, batch: n, classes: config.numClasses, dLogits: nil).counts
    }

    /// The gradient of the loss with respect to the logits (written by `crossEntropy`; callers
    /// may overwrite it with the gradient of another loss before `backward`).
    public var logitsGradient: UnsafeMutablePointer<Float> { workspace!.dLogits }

    /// Adds the gradient of the last training forward pass's loss to `gradients`.
    public func backward(input: UnsafePointer<Float>, batch n: Int) {
        let ws = workspace!
        let c = config.finalDim
        timed("bwd pool + head", floats: n * geo.blockHeight * geo.blockWidth * c) {
            Kernels.denseBackward(x: ws.pooled, ldx: c, rows: n, cin: c, weight: p(arch.head.weight), cout: config.numClasses,
                                  dy: ws.dLogits, lddy: config.numClasses, dx: ws.dPooled, lddx: c, accumulateDx: false,
                                  dWeight: g(arch.head.weight), dBias: g(arch.head.bias))
            globalAveragePoolBackward(dy: ws.dPooled, batch: n, pixels: geo.blockHeight * geo.blockWidth, channels: c,
                                      dx: ws.dStream, accumulate: false)
        }
        gradientsReady?(arch.head.weight)
        for block in arch.blocks.reversed() {
            blockBackward(block, n, ws)
        }
        stemBackward(input, n, ws)
        gradientsReady?(0)
    }

    private func blockBackward(_ block: WaveBlock, _ n: Int, _ ws: Workspace) {
        let c = config.finalDim, c4 = c / 4, levels = config.level
        let acts = ws.blocks[block.index]
        let x = ws.stream[block.index]
        let pixels = n * geo.blockHeight * geo.blockWidth
        for k in 1...levels {
            let ff = block.feedforwards[k - 1]
            let (h, w) = geo.levelSize(k), (ph, pw) = geo.levelSize(k - 1)
            let rows = n * h * w, m = ff.expand.cout
            let dOut = k == 1 ? ws.dStream : ws.dLevels[k - 2] + c
            batchNormBackward(ff.norm, x: acts.upsampled[k - 1], rows: n * ph * pw, statistics: acts.statistics[k - 1],
                              dy: dOut, lddy: k == 1 ? c : levelWidth(k - 1), dx: ws.dUpsampled, ws)
            let ug = upsampleGeometry(k, n, ff)
            timed("bwd convT", flops: 4.0 * Double(ug.rows * ug.patchSize * ff.upsample.cin),
                  floats: 2 * ug.rows * ff.upsample.cin + 2 * ug.patchSize * ff.upsample.cin + ug.batch * ug.height * ug.width * ug.channels) {
                convTranspose2dBackward(x: acts.projected[k - 1], cin: ff.upsample.cin, ug,
                                        weight: p(ff.upsample.weight), dy: ws.dUpsampled, dx: ws.dProjected,
                                        dWeight: g(ff.upsample.weight), dBias: g(ff.upsample.bias), scratch: ws.kernelScratch,
                                        scratchThreads: ws.threads)
            }
            let mask = drawnMask(acts, level: k)
            dense("expand", ff.expand, x: acts.levels[k - 1], ldx: levelWidth(k), rows: rows, y: ws.expanded, ldy: m, recompute: true)
            // Recomputes the GELU output and leaves GELU' in `expanded` for the GELU backward below.
            timed("bwd gelu (recompute)", floats: 3 * rows * m + (mask == nil ? 0 : rows * m / 4)) {
                geluRecompute(x: ws.expanded, mask: mask, y: ws.activated, count: rows * m)
            }
            if let buffers = ws.feedForwardBuffers {
                // dW of the project layer alone, then its dx taken through the GELU chunk by chunk.
                let project = ff.project
                timed("bwd project 1x1 (dW)", flops: 2.0 * Double(rows * project.cin * project.cout),
                      floats: rows * (project.cin + project.cout) + project.cin * project.cout) {
                    Kernels.denseBackward(x: ws.activated, ldx: m, rows: rows, cin: m, weight: p(project.weight), cout: project.cout,
                                          dy: ws.dProjected, lddy: project.cout, dx: nil, lddx: m, accumulateDx: false,
                                          dWeight: g(project.weight), dBias: g(project.bias))
                }
                timed("bwd project 1x1 (dx) + gelu", flops: 2.0 * Double(rows * project.cin * project.cout),
                      floats: rows * project.cout + project.cin * project.cout + 2 * rows * m + (mask == nil ? 0 : rows * m / 4)) {
                    feedForwardInputGradient(dy: ws.dProjected, rows: rows, project: p(project.weight), cin: m, cout: project.cout,
                                             expandCin: ff.expand.cin, derivative: ws.expanded, mask: mask, dx: ws.dExpanded,
                                             buffers: buffers, bufferThreads: ws.threads)
                }
            } else {
                denseBackward("project", ff.project, x: ws.activated, ldx: m, rows: rows, dy: ws.dProjected,
                              dx: ws.dActivated, lddx: m, accumulate: false)
                timed("bwd gelu", floats: 3 * rows * m + (mask == nil ? 0 : rows * m / 4)) {
                    geluBackward(derivative: ws.expanded, mask: mask, dy: ws.dActivated, dx: ws.dExpanded, count: rows * m)
                }
            }
            denseBackward("expand", ff.expand, x: acts.levels[k - 1], ldx: levelWidth(k), rows: rows, dy: ws.dExpanded,
                          dx: ws.dLevels[k - 1], lddx: levelWidth(k), accumulate: false)
            gradientsReady?(ff.firstOffset)
        }
        // Wavelet levels, deepest first: level k's gradient flows into level k-1's LL channels.
        for k in stride(from: levels, through: 1, by: -1) {
            let (h, w) = geo.levelSize(k - 1)
            timed("bwd dwt", floats: (k == 1 ? 2 : 3) * n * h * w * c4) {
                haarBackward(dy: ws.dLevels[k - 1], lddy: levelWidth(k), batch: n, height: h, width: w, channels: c4,
                             dx: k == 1 ? ws.dReduced : ws.dLevels[k - 2], lddx: k == 1 ? c4 : levelWidth(k - 1),
                             accumulate: k != 1)
            }
        }
        // Odd blocks' inputs are not kept (see Workspace); rebuilt once the buffer holding them is free.
        if block.index % 2 == 1 { rebuildBlockInput(block.index, n, ws) }
        // dStream holds the gradient of the block output, which is also the residual's; the
        // reduction adds the path through the block.
        denseBackward("reduction", block.reduction, x: x, ldx: c, rows: pixels, dy: ws.dReduced, dx: ws.dStream, lddx: c, accumulate: true)
        gradientsReady?(block.firstOffset)
    }

    /// x_i = x_{i-1} + BatchNorm(upsampled) of block i-1, bitwise as its training forward wrote it:
    /// the same kernels on the same stored input, batch statistics and parameters.
    private func rebuildBlockInput(_ i: Int, _ n: Int, _ ws: Workspace) {
        let norm = arch.blocks[i - 1].feedforwards[0].norm, acts = ws.blocks[i - 1]
        let c = norm.channels, pixels = n * geo.blockHeight * geo.blockWidth
        timed("bwd rebuild block input", floats: 3 * pixels * c) {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * c) { affine in
                let scale = affine.baseAddress!, shift = scale + c
                batchNormAffine(gamma: p(norm.weight), beta: p(norm.bias), mean: acts.statistics[0], invStd: acts.statistics[0] + c,
                                channels: c, scale: scale, shift: shift)
                batchNormApply(x: acts.upsampled[0], ldx: c, rows: pixels, channels: c, scale: scale, shift: shift,
                               residual: ws.stream[i - 1], ldr: c, y: ws.stream[i], ldy: c)
            }
        }
    }

    private func stemBackward(_ input: UnsafePointer<Float>, _ n: Int, _ ws: Workspace) {
        var dy = UnsafeMutablePointer(ws.dStream)
        if let norm = arch.stem.norm {
            let pixels = n * geo.blockHeight * geo.blockWidth
            batchNormBackward(norm, x: ws.stemActivated!, rows: pixels, statistics: ws.stemStatistics!,
                              dy: ws.dStream, lddy: norm.channels, dx: ws.dStemA, ws)
            timed("bwd gelu", floats: 3 * pixels * norm.channels) {
                geluBackward(x: ws.stemOutputs[2], mask: nil, dy: ws.dStemA, dx: ws.dStemB, count: pixels * norm.channels)
            }
            dy = ws.dStemB
        }
        for i in arch.stem.convs.indices.reversed() {
            let conv = arch.stem.convs[i]
            // Ping-pong: the gradient for conv i's input goes to whichever buffer dy is not.
            let dx: UnsafeMutablePointer<Float>? = i == 0 ? nil : (dy == ws.dStemA ? ws.dStemB : ws.dStemA)
            let sg = stemGeometry(i, n)
            timed("bwd stem conv\(conv.kernel)x\(conv.kernel)", flops: Double(dx == nil ? 2 : 4) * Double(sg.rows * sg.patchSize * conv.cout),
                  floats: (dx == nil ? 1 : 2) * n * sg.height * sg.width * conv.cin + 2 * sg.patchSize * conv.cout + sg.rows * conv.cout) {
                conv2dBackward(x: i == 0 ? input : UnsafePointer(ws.stemOutputs[i - 1]), sg,
                               weight: p(conv.weight), cout: conv.cout, dy: dy, dx: dx,
                               dWeight: g(conv.weight), dBias: g(conv.bias), scratch: ws.kernelScratch,
                               scratchThreads: ws.threads)
            }
            if let dx { dy = dx }
        }
    }

    private func batchNormBackward(_ norm: BatchNormLayer, x: UnsafePointer<Float>, rows: Int,
                                   statistics: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, lddy: Int,
                                   dx: UnsafeMutablePointer<Float>, _ ws: Workspace) {
        let c = norm.channels
        let mean = statistics, invStd = statistics + c
        timed("bwd batchnorm", floats: 5 * rows * c) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * c) { local in
            let localSums = local.baseAddress!
            localSums.update(repeating: 0, count: 2 * c)
            batchNormBackwardSums(x: x, ldx: c, dy: dy, lddy: lddy, rows: rows, channels: c, mean: mean, sums: localSums)
            ws.sums.update(from: localSums, count: 2 * c)
            var count = rows
            if let reduce = statisticsReducer {
                ws.sums[2 * c] = Double(rows)
                reduce(UnsafeMutableBufferPointer(start: ws.sums, count: 2 * c + 1))
                count = Int(ws.sums[2 * c])
            }
            batchNormBackwardApply(x: x, ldx: c, dy: dy, lddy: lddy, rows: rows, channels: c, count: count,
                                   mean: mean, invStd: invStd, gamma: p(norm.weight), localSums: localSums, sums: ws.sums,
                                   dGamma: g(norm.weight), dBeta: g(norm.bias), dx: dx, lddx: c)
        }
        }
    }

    // MARK: Helpers

    @inline(__always) private func p(_ offset: Int) -> UnsafeMutablePointer<Float> { parameters.baseAddress! + offset }
    @inline(__always) private func g(_ offset: Int) -> UnsafeMutablePointer<Float> { gradients.baseAddress! + offset }

    /// A 1x1 layer for the fused kernels: its weight transposed into `scratch`, and its bias.
    private func transposed(_ layer: DenseLayer, into scratch: UnsafeMutablePointer<Float>) -> DenseWeights {
        transposeWeight(p(layer.weight), cin: layer.cin, cout: layer.cout, into: scratch)
        return DenseWeights(weightT: scratch, bias: p(layer.bias), cin: layer.cin, cout: layer.cout)
    }

    /// Channels of the level-k buffer: its own cat(LL, details), plus the deeper level's output below level J.
    private func levelWidth(_ k: Int) -> Int { k == config.level ? config.finalDim : config.finalDim * 3 / 2 }

    private func stemGeometry(_ i: Int, _ n: Int) -> PatchGeometry {
        let conv = arch.stem.convs[i]
        let (h, w) = i == 0 ? (geo.height, geo.width) : geo.stemSizes[i - 1]
        return PatchGeometry(batch: n, height: h, width: w, channels: conv.cin, kernel: conv.kernel, stride: conv.stride,
                             pad: conv.pad, gridHeight: geo.stemSizes[i].0, gridWidth: geo.stemSizes[i].1)
    }

    private func upsampleGeometry(_ k: Int, _ n: Int, _ ff: FeedForward) -> PatchGeometry {
        let (h, w) = geo.levelSize(k - 1), (gh, gw) = geo.levelSize(k)
        return PatchGeometry(batch: n, height: h, width: w, channels: ff.upsample.cout, kernel: 4, stride: 2, pad: 1,
                             gridHeight: gh, gridWidth: gw)
    }

    /// `recompute`: backward running the forward again for a tensor the workspace does not keep.
    private func dense(_ kind: String, _ layer: DenseLayer, x: UnsafePointer<Float>, ldx: Int, rows: Int,
                       y: UnsafeMutablePointer<Float>, ldy: Int, recompute: Bool = false) {
        timed(recompute ? "bwd \(kind) 1x1 (recompute)" : "fwd \(kind) 1x1", flops: 2.0 * Double(rows * layer.cin * layer.cout),
              floats: rows * layer.cin + layer.cin * layer.cout + rows * layer.cout) {
            denseForward(x: x, ldx: ldx, rows: rows, cin: layer.cin, weight: p(layer.weight), bias: p(layer.bias),
                         cout: layer.cout, y: y, ldy: ldy, scratch: workspace!.kernelScratch)
        }
    }

    private func denseBackward(_ kind: String, _ layer: DenseLayer, x: UnsafePointer<Float>, ldx: Int, rows: Int,
                               dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, lddx: Int, accumulate: Bool) {
        timed("bwd \(kind) 1x1", flops: 4.0 * Double(rows * layer.cin * layer.cout),
              floats: 2 * rows * layer.cin + 2 * layer.cin * layer.cout + rows * layer.cout) {
            Kernels.denseBackward(x: x, ldx: ldx, rows: rows, cin: layer.cin, weight: p(layer.weight), cout: layer.cout,
                                  dy: dy, lddy: layer.cout, dx: dx, lddx: lddx, accumulateDx: accumulate,
                                  dWeight: g(layer.weight), dBias: g(layer.bias))
        }
    }
}
