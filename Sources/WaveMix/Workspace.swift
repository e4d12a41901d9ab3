// The activation arena: every tensor one training step needs, carved out of a single allocation
// sized once for (configuration, image size, largest batch). Nothing is allocated per step.
import Kernels

/// Activations of one wave block. Arrays are indexed by level - 1.
struct BlockActivations {
    var reduced: UnsafeMutablePointer<Float>        // reduction output [P, c/4] (one buffer shared by all blocks)
    var levels: [UnsafeMutablePointer<Float>]       // cat(LL, details[, deeper output]) [P_k, width_k]
    var masks: [UnsafeMutablePointer<UInt8>?]       // dropout keep flags [P_k, c*mult]
    var projected: [UnsafeMutablePointer<Float>]    // second 1x1 conv output [P_k, ff_channel]
    var upsampled: [UnsafeMutablePointer<Float>]    // transposed conv output, BatchNorm input [P_{k-1}, cout_k]
    var statistics: [UnsafeMutablePointer<Float>]   // BatchNorm mean then invStd [2 * cout_k]
}

/// Sizes that follow from the configuration and the input size.
struct Geometry {
    let height: Int, width: Int           // input image
    let stemSizes: [(Int, Int)]            // output size of each stem conv
    let blockHeight: Int, blockWidth: Int  // after the stem
    init(_ config: WaveMixConfig, height: Int, width: Int) {
        self.height = height; self.width = width
        switch config.initialConv {
        case .strided:
            let once = { (s: Int) in (s - 1) / config.stride + 1 }
            stemSizes = [(once(height), once(width)), (once(once(height)), once(once(width)))]
        case .pachify:
            stemSizes = [(height, width), (height, width), (height / config.patchSize, width / config.patchSize)]
        }
        (blockHeight, blockWidth) = stemSizes.last!
    }
    func levelSize(_ k: Int) -> (Int, Int) { (blockHeight >> k, blockWidth >> k) }
}

/// What training keeps for backward is what PyTorch's autograd keeps, minus what is cheaper to
/// recompute (bitwise: the same kernels on the same inputs) than to hold:
/// - the first 1x1 conv's output (GELU's input) and GELU * dropout (the second 1x1 conv's input):
///   one GEMM and one GELU again, from the stored wavelet levels and dropout mask;
/// - the residual stream at odd block boundaries: x_i = x_{i-1} + BatchNorm(upsampled), from the
///   stored x_{i-1}, the stored BatchNorm input and its saved batch statistics;
/// - the last block's output, which only the average pool reads.
/// Dropout masks are bytes. Forward-only tensors live in buffers that only backward uses otherwise.
final class Workspace {
    let batch: Int
    /// Threads the kernels' per-thread scratch is sized for (Parallel.threads when built).
    let threads: Int
    private let floats: UnsafeMutablePointer<Float>
    private let floatCount: Int
    private let bytes: UnsafeMutablePointer<UInt8>
    let sums: UnsafeMutablePointer<Double>  // BatchNorm statistics [2c + 1]

    // Forward
    var stemOutputs: [UnsafeMutablePointer<Float>] = []   // each stem conv's output (the last is the block input for strided)
    var stemActivated: UnsafeMutablePointer<Float>?       // pachify: GELU output, BatchNorm input
    var stemStatistics: UnsafeMutablePointer<Float>?
    var stream: [UnsafeMutablePointer<Float>] = []        // residual stream x_0 ... x_depth [P, c]: x_i for odd i < depth
                                                          // in dUpsampled, x_depth in dStream
    var expanded: UnsafeMutablePointer<Float>             // first 1x1 conv output of the current block and level [P_k, c*mult]
    var activated: UnsafeMutablePointer<Float>            // GELU * dropout of the current block and level, in dExpanded
    var blocks: [BlockActivations] = []
    var pooled: UnsafeMutablePointer<Float>
    var logits: UnsafeMutablePointer<Float>
    // Backward
    var dLogits: UnsafeMutablePointer<Float>
    var dPooled: UnsafeMutablePointer<Float>
    var dStream: UnsafeMutablePointer<Float>              // gradient of the residual stream [P, c]
    var dReduced: UnsafeMutablePointer<Float>
    var dLevels: [UnsafeMutablePointer<Float>] = []
    var dUpsampled: UnsafeMutablePointer<Float>
    var dProjected: UnsafeMutablePointer<Float>
    var dActivated: UnsafeMutablePointer<Float>
    var dExpanded: UnsafeMutablePointer<Float>
    var dStemA: UnsafeMutablePointer<Float>, dStemB: UnsafeMutablePointer<Float>
    var kernelScratch: UnsafeMutablePointer<Float>        // the convolutions' and dense layers' working space
    var feedForwardBuffers: UnsafeMutablePointer<Float>?  // the fused feed-forward's chunks (nil: it does not apply)
    var reductionHaarBuffers: UnsafeMutablePointer<Float>? // the fused reduction + first wavelet level's chunks (nil: same)
    var mixingBuffers: UnsafeMutablePointer<Float>?        // eval's fused reduction + level + feed-forward (one level only)

    var floatsAllocated: Int { floatCount }

    init(_ config: WaveMixConfig, _ arch: Architecture, _ geo: Geometry, batch n: Int, dropout: Bool) {
        batch = n
        threads = Parallel.threads
        var used = 0
        func take(_ count: Int) -> Int { defer { used += (count + 15) / 16 * 16 }; return used }

        let c = config.finalDim, c2 = c / 2, c4 = c / 4, m = c * config.mult, f = config.ffChannel, levels = config.level
        let pixels = n * geo.blockHeight * geo.blockWidth
        let levelPixels = (0...levels).map { k -> Int in let (h, w) = geo.levelSize(k); return n * h * w }
        let width = { (k: Int) in k == levels ? c : c + c2 }
        let cout = { (k: Int) in k == 1 ? c : c2 }

        let stemOut = zip(arch.stem.convs, geo.stemSizes).map { take(n * $1.0 * $1.1 * $0.cout) }
        let stemAct = arch.stem.norm == nil ? nil : take(pixels * c)
        let stemStats = arch.stem.norm == nil ? nil : take(2 * c)
        // For the strided stem the last conv writes the block input directly. Stored: x_0 and x_i for
        // even i < depth (the others are placed once the backward buffers exist, below).
        let streamOff = (0...config.depth).map { i -> Int? in
            if i == 0 { return arch.stem.norm == nil ? stemOut.last! : take(pixels * c) }
            return i % 2 == 0 && i < config.depth ? take(pixels * c) : nil
        }
        var maskBytes = 0
        func takeBytes(_ count: Int) -> Int { defer { maskBytes += (count + 63) / 64 * 64 }; return maskBytes }
        struct Offsets { var reduced = 0; var levels: [Int] = []
            var masks: [Int?] = [], projected: [Int] = [], upsampled: [Int] = [], statistics: [Int] = [] }
        var blockOff: [Offsets] = []
        // The reduction output only feeds the wavelet transform, whose backward does not need it:
        // every block reuses one buffer, and backward uses it again for the reduction's gradient.
        let reducedOff = take(pixels * c4)
        for _ in 0..<config.depth {
            var o = Offsets()
            o.reduced = reducedOff
            for k in 1...levels {
                o.levels.append(take(levelPixels[k] * width(k)))
                o.masks.append(dropout ? takeBytes(levelPixels[k] * m) : nil)
                o.projected.append(take(levelPixels[k] * f))
                o.upsampled.append(take(levelPixels[k - 1] * cout(k)))
                o.statistics.append(take(2 * cout(k)))
            }
            blockOff.append(o)
        }
        let pooledOff = take(n * c), logitsOff = take(n * config.numClasses)
        let dLogitsOff = take(n * config.numClasses), dPooledOff = take(n * c)
        let dStreamOff = take(pixels * c), dReducedOff = reducedOff
        let dLevelsOff = (1...levels).map { take(levelPixels[$0] * width($0)) }
        let dUpOff = take(pixels * c)
        let dProjOff = take((1...levels).map { levelPixels[$0] * f }.max()!)
        // GELU's backward reads dActivated and writes dExpanded: distinct buffers let it vectorise.
        let dActOff = take((1...levels).map { levelPixels[$0] * m }.max()!)
        let dExpOff = take((1...levels).map { levelPixels[$0] * m }.max()!)
        let expandedOff = take((1...levels).map { levelPixels[$0] * m }.max()!)
        // Stem backward ping-pongs between two buffers. Strided: conv.1's input gradient -> A.
        // Pachify: BatchNorm -> A, GELU -> B, conv.2's input gradient -> A, conv.1's -> B.
        let stemSizes = zip(arch.stem.convs, geo.stemSizes).map { n * $1.0 * $1.1 * $0.cout }
        let dStemAOff = take(arch.stem.norm == nil ? stemSizes[0] : max(pixels * c, stemSizes[1]))
        let dStemBOff = take(arch.stem.norm == nil ? 0 : max(pixels * c, stemSizes[0]))
        var scratch = 0
        for (conv, i) in zip(arch.stem.convs, arch.stem.convs.indices) {
            let (h, w) = i == 0 ? (geo.height, geo.width) : geo.stemSizes[i - 1]
            let g = PatchGeometry(batch: n, height: h, width: w, channels: conv.cin, kernel: conv.kernel, stride: conv.stride,
                                  pad: conv.pad, gridHeight: geo.stemSizes[i].0, gridWidth: geo.stemSizes[i].1)
            scratch = max(scratch, conv2dScratchCount(g, cout: conv.cout, threads: threads))
        }
        for k in 1...levels where config.depth > 0 {
            let (h, w) = geo.levelSize(k - 1), (gh, gw) = geo.levelSize(k)
            let g = PatchGeometry(batch: n, height: h, width: w, channels: cout(k), kernel: 4, stride: 2, pad: 1,
                                  gridHeight: gh, gridWidth: gw)
            scratch = max(scratch, convTranspose2dScratchCount(g, cin: f, threads: threads))
        }
        // The dense layers' forward writes its transposed weight there (denseForward), the fused
        // feed-forward both of its layers' (feedForwardForward), eval's fused mixing a block's
        // reduction and feed-forward (reductionHaarFeedForward): at most one block's 1x1 layers.
        let denseLayers = arch.blocks.flatMap { [$0.reduction] + $0.feedforwards.flatMap { [$0.expand, $0.project] } } + [arch.head!]
        scratch = max(scratch, denseLayers.map { $0.cin * $0.cout }.max()!)
        scratch = max(scratch, arch.blocks.map { b in
            b.reduction.cin * b.reduction.cout
                + b.feedforwards.map { $0.expand.cin * $0.expand.cout + $0.project.cin * $0.project.cout }.reduce(0, +)
        }.max() ?? 0)
        let feedForwards = arch.blocks.flatMap(\.feedforwards)
        let scratchOff = take(scratch)
        // Per-thread chunks of the fused feed-forward, where it applies (feedForwardChunkRows).
        let fusedFloats = feedForwards.map { [threads = Parallel.threads] in
            feedForwardBufferCount(cin: $0.expand.cin, hidden: $0.expand.cout, cout: $0.project.cout, threads: threads)
        }
        let fusedOff = fusedFloats.isEmpty || fusedFloats.contains(0) ? nil : take(fusedFloats.max()!)
        // Per-thread chunks of the fused reduction + first wavelet level, where it applies.
        let reductionHaarFloats = arch.blocks.map { [threads = Parallel.threads] in
            reductionHaarBufferCount(width: geo.blockWidth, cin: $0.reduction.cin, cout: $0.reduction.cout, threads: threads)
        }
        let reductionHaarOff = reductionHaarFloats.isEmpty || reductionHaarFloats.contains(0) ? nil : take(reductionHaarFloats.max()!)
        // Per-thread chunks of eval's fused reduction, wavelet level and feed-forward (one level only).
        let mixingFloats = levels > 1 ? [] : arch.blocks.map { [threads = Parallel.threads] b in
            reductionHaarFeedForwardBufferCount(width: geo.blockWidth, cin: b.reduction.cin, reduced: b.reduction.cout,
                                                hidden: b.feedforwards[0].expand.cout, cout: b.feedforwards[0].project.cout,
                                                threads: threads)
        }
        let mixingOff = mixingFloats.isEmpty || mixingFloats.contains(0) ? nil : take(mixingFloats.max()!)

        floatCount = used
        floats = allocateHugePageBuffer(of: Float.self, count: used)
        bytes = .allocate(capacity: max(maskBytes, 1))
        bytes.initialize(repeating: 0, count: max(maskBytes, 1))
        sums = .allocate(capacity: 2 * c + 1)
        let p = { [floats] (o: Int) in floats + o }, byte = { [bytes] (o: Int) in bytes + o }
        stemOutputs = stemOut.map(p)
        stemActivated = stemAct.map(p)
        stemStatistics = stemStats.map(p)
        stream = streamOff.enumerated().map { i, o in o.map(p) ?? (i == config.depth ? p(dStreamOff) : p(dUpOff)) }
        expanded = p(expandedOff)
        activated = p(dExpOff)
        blocks = blockOff.map { o in
            BlockActivations(reduced: p(o.reduced), levels: o.levels.map(p),
                             masks: o.masks.map { $0.map(byte) }, projected: o.projected.map(p),
                             upsampled: o.upsampled.map(p), statistics: o.statistics.map(p))
        }
        pooled = p(pooledOff); logits = p(logitsOff); dLogits = p(dLogitsOff); dPooled = p(dPooledOff)
        dStream = p(dStreamOff); dReduced = p(dReducedOff); dLevels = dLevelsOff.map(p)
        dUpsampled = p(dUpOff); dProjected = p(dProjOff); dActivated = p(dActOff); dExpanded = p(dExpOff)
        dStemA = p(dStemAOff); dStemB = p(dStemBOff); kernelScratch = p(scratchOff)
        feedForwardBuffers = fusedOff.map(p)
        reductionHaarBuffers = reductionHaarOff.map(p)
        mixingBuffers = mixingOff.map(p)
    }

    deinit {
        releaseHugePageBuffer(floats, count: floatCount)
        bytes.deallocate()
        sums.deallocate()
    }
}
