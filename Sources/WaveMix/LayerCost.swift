// What each timed region of a forward or backward pass costs, derived in one place from the layer
// table, the geometry and the batch: its FLOPs (two per multiply-add of its GEMMs) and the floats
// it must at least read or write once (its inputs, weights and outputs; what a fused kernel keeps
// in cache between its layers does not count), under the row of `wavemix bench --profile` it adds
// to. Every block has the same shapes, so regions name a wavelet level, not a block.
import Kernels

/// A stretch of a pass that the profiler times as one row; levels count from 1.
enum TimedRegion {
    // Forward, in order.
    case stemConv(Int)                  // stem convolution i
    case stemGELU, stemNorm             // the pachify stem's GELU and BatchNorm
    case reduction                      // a block's 1x1 reduction
    case reductionWavelet               // the reduction and the first wavelet level in one pass
    case wavelet(level: Int)            // one Haar level
    case evalMixing                     // eval: a one-level block's reduction, level and feed-forward in one pass
    case dropoutMask(level: Int)
    case feedForward(level: Int)        // expand, GELU * dropout and project in one pass
    case expand(level: Int), gelu(level: Int), project(level: Int)
    case upsample(level: Int)           // the transposed convolution
    case norm(level: Int)               // the BatchNorm after it, adding the residual at level 1
    case evalUpsampleNorm(level: Int)   // eval: the transposed convolution writing BatchNorm (and residual) directly
    case head                           // average pool and linear head
    // Backward, in order.
    case headBackward
    case normBackward(level: Int), upsampleBackward(level: Int)
    case expandRecompute(level: Int), geluRecompute(level: Int)
    case projectWeightGradient(level: Int)      // fused feed-forward: the project layer's dW alone
    case projectInputGELUGradient(level: Int)   // fused feed-forward: its dx taken through the GELU
    case projectBackward(level: Int), geluBackward(level: Int), expandBackward(level: Int)
    case waveletBackward(level: Int)
    case rebuildBlockInput
    case reductionBackward
    case stemNormBackward, stemGELUBackward
    case stemConvBackward(Int)
}

/// One region's profile row and counts.
struct LayerCost {
    let label: String
    let flops: Double
    let floats: Int

    init(_ label: String, flops: Double = 0, floats: Int) {
        self.label = label; self.flops = flops; self.floats = floats
    }

    /// A 1x1 layer over `rows` pixels: x, weight and y.
    static func dense(_ label: String, _ layer: DenseLayer, rows: Int) -> LayerCost {
        LayerCost(label, flops: 2.0 * Double(rows * layer.cin * layer.cout),
                  floats: rows * layer.cin + layer.cin * layer.cout + rows * layer.cout)
    }

    /// Its backward: dW and dx (twice the forward's multiply-adds) from x, dy and the weight.
    static func denseBackward(_ label: String, _ layer: DenseLayer, rows: Int) -> LayerCost {
        LayerCost(label, flops: 4.0 * Double(rows * layer.cin * layer.cout),
                  floats: 2 * rows * layer.cin + 2 * layer.cin * layer.cout + rows * layer.cout)
    }
}

/// The costs of one pass: a batch of `batch`, training or eval.
struct LayerCosts {
    private let arch: Architecture, geometry: Geometry, channels: Int, batch: Int, training: Bool
    /// Whether the feed-forwards' GELUs apply dropout masks (a byte per value) in this pass.
    private let masked: Bool

    init(_ model: WaveMixModel, batch: Int, training: Bool) {
        arch = model.arch; geometry = model.geometry; channels = model.config.finalDim
        self.batch = batch; self.training = training
        masked = training && model.config.dropout > 0
    }

    subscript(region: TimedRegion) -> LayerCost {
        let n = batch, pixels = geometry.pixels(batch: n), c = channels
        switch region {
        case .stemConv(let i):
            let conv = arch.stem.convs[i], g = geometry.stemConv(i, conv, batch: n)
            return LayerCost("fwd stem conv\(conv.kernel)x\(conv.kernel)", flops: 2.0 * Double(g.rows * g.patchSize * conv.cout),
                             floats: n * g.height * g.width * conv.cin + g.patchSize * conv.cout + g.rows * conv.cout)
        case .stemGELU:
            return LayerCost("fwd gelu", floats: 2 * pixels * c)
        case .stemNorm:
            return training ? LayerCost("fwd batchnorm", floats: 3 * pixels * c)
                            : LayerCost("fwd batchnorm (eval)", floats: 2 * pixels * c)
        case .reduction:
            return .dense("fwd reduction 1x1", block.reduction, rows: pixels)
        case .reductionWavelet:
            let r = block.reduction
            return LayerCost("fwd reduction 1x1 + dwt", flops: 2.0 * Double(pixels * r.cin * r.cout),
                             floats: pixels * (r.cin + r.cout) + r.cin * r.cout)
        case .wavelet(let k):
            return LayerCost("fwd dwt", floats: 2 * geometry.pixels(level: k - 1, batch: n) * (c / 4))
        case .evalMixing:
            let r = block.reduction, (expand, project) = (block.feedforwards[0].expand, block.feedforwards[0].project)
            let rows = pixels / 4, hiddenWeights = expand.cout * (expand.cin + project.cout)
            return LayerCost("fwd reduction+dwt+ff (eval)", flops: 2.0 * Double(pixels * r.cin * r.cout + rows * hiddenWeights),
                             floats: pixels * r.cin + rows * project.cout + r.cin * r.cout + hiddenWeights)
        case .dropoutMask(let k):
            return LayerCost("fwd dropout mask", floats: hidden(k) / 4)
        case .feedForward(let k):
            let ff = feedForward(k), rows = geometry.pixels(level: k, batch: n), outer = ff.expand.cin + ff.project.cout
            return LayerCost("fwd expand + gelu + project", flops: 2.0 * Double(rows * ff.expand.cout * outer),
                             floats: rows * outer + ff.expand.cout * outer + maskFloats(k))
        case .expand(let k):
            return .dense("fwd expand 1x1", feedForward(k).expand, rows: geometry.pixels(level: k, batch: n))
        case .gelu(let k):
            return LayerCost("fwd gelu", floats: 2 * hidden(k) + maskFloats(k))
        case .project(let k):
            return .dense("fwd project 1x1", feedForward(k).project, rows: geometry.pixels(level: k, batch: n))
        case .upsample(let k):
            return upsample(k, "fwd convT")
        case .norm(let k):
            let rows = geometry.pixels(level: k - 1, batch: n), channels = feedForward(k).norm.channels
            return LayerCost("fwd batchnorm", floats: 3 * rows * channels + (k == 1 ? rows * channels : 0))
        case .evalUpsampleNorm(let k):
            let convT = upsample(k, "fwd convT + batchnorm (eval)"), g = upsampleGeometry(k)
            return LayerCost(convT.label, flops: convT.flops, floats: convT.floats + (k == 1 ? g.batch * g.height * g.width * c : 0))
        case .head:
            return LayerCost("fwd pool + head", floats: pixels * c)

        case .headBackward:
            return LayerCost("bwd pool + head", floats: pixels * c)
        case .normBackward(let k):
            return LayerCost("bwd batchnorm", floats: 5 * geometry.pixels(level: k - 1, batch: n) * feedForward(k).norm.channels)
        case .upsampleBackward(let k):
            let g = upsampleGeometry(k), cin = feedForward(k).upsample.cin
            return LayerCost("bwd convT", flops: 4.0 * Double(g.rows * g.patchSize * cin),
                             floats: 2 * g.rows * cin + 2 * g.patchSize * cin + g.batch * g.height * g.width * g.channels)
        case .expandRecompute(let k):
            return .dense("bwd expand 1x1 (recompute)", feedForward(k).expand, rows: geometry.pixels(level: k, batch: n))
        case .geluRecompute(let k):
            return LayerCost("bwd gelu (recompute)", floats: 3 * hidden(k) + maskFloats(k))
        case .projectWeightGradient(let k):
            let project = feedForward(k).project, rows = geometry.pixels(level: k, batch: n)
            return LayerCost("bwd project 1x1 (dW)", flops: 2.0 * Double(rows * project.cin * project.cout),
                             floats: rows * (project.cin + project.cout) + project.cin * project.cout)
        case .projectInputGELUGradient(let k):
            let project = feedForward(k).project, rows = geometry.pixels(level: k, batch: n)
            return LayerCost("bwd project 1x1 (dx) + gelu", flops: 2.0 * Double(rows * project.cin * project.cout),
                             floats: rows * project.cout + project.cin * project.cout + 2 * hidden(k) + maskFloats(k))
        case .projectBackward(let k):
            return .denseBackward("bwd project 1x1", feedForward(k).project, rows: geometry.pixels(level: k, batch: n))
        case .geluBackward(let k):
            return LayerCost("bwd gelu", floats: 3 * hidden(k) + maskFloats(k))
        case .expandBackward(let k):
            return .denseBackward("bwd expand 1x1", feedForward(k).expand, rows: geometry.pixels(level: k, batch: n))
        case .waveletBackward(let k):
            // Deeper levels add into the level above's LL channels: one more read.
            return LayerCost("bwd dwt", floats: (k == 1 ? 2 : 3) * geometry.pixels(level: k - 1, batch: n) * (c / 4))
        case .rebuildBlockInput:
            return LayerCost("bwd rebuild block input", floats: 3 * pixels * c)
        case .reductionBackward:
            return .denseBackward("bwd reduction 1x1", block.reduction, rows: pixels)
        case .stemNormBackward:
            return LayerCost("bwd batchnorm", floats: 5 * pixels * c)
        case .stemGELUBackward:
            return LayerCost("bwd gelu", floats: 3 * pixels * c)
        case .stemConvBackward(let i):
            // The first convolution's input is the image: no input gradient.
            let conv = arch.stem.convs[i], g = geometry.stemConv(i, conv, batch: n), passes = i == 0 ? 1 : 2
            return LayerCost("bwd stem conv\(conv.kernel)x\(conv.kernel)",
                             flops: Double(2 * passes) * Double(g.rows * g.patchSize * conv.cout),
                             floats: passes * n * g.height * g.width * conv.cin + 2 * g.patchSize * conv.cout + g.rows * conv.cout)
        }
    }

    private var block: WaveBlock { arch.blocks[0] }
    private func feedForward(_ k: Int) -> FeedForward { block.feedforwards[k - 1] }
    private func upsampleGeometry(_ k: Int) -> PatchGeometry { geometry.upsample(level: k, feedForward(k).upsample, batch: batch) }

    /// Values of level k's hidden activations (the expand layer's output).
    private func hidden(_ k: Int) -> Int { geometry.pixels(level: k, batch: batch) * feedForward(k).expand.cout }

    /// The dropout mask of level k, as floats, where the pass applies one.
    private func maskFloats(_ k: Int) -> Int { masked ? hidden(k) / 4 : 0 }

    private func upsample(_ k: Int, _ label: String) -> LayerCost {
        let g = upsampleGeometry(k), cin = feedForward(k).upsample.cin
        return LayerCost(label, flops: 2.0 * Double(g.rows * g.patchSize * cin),
                         floats: g.rows * cin + g.patchSize * cin + g.batch * g.height * g.width * g.channels)
    }
}
