// The activation arena: every tensor one training step needs, carved out of a single allocation
// sized once for (configuration, image size, largest batch, thread count), with the block path
// (BlockPath.swift) chosen then and the fused kernels' chunks it needs. Training and eval passes
// run in the same arena. Nothing is allocated per step.
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

/// What training keeps for backward is what PyTorch's autograd keeps, minus what is cheaper to
/// recompute (bitwise: the same kernels on the same inputs) than to hold:
/// - the first 1x1 conv's output (GELU's input) and GELU * dropout (the second 1x1 conv's input):
///   one GEMM and one GELU again, from the stored wavelet levels and dropout mask;
/// - the residual stream at odd block boundaries: x_i = x_{i-1} + BatchNorm(upsampled), from the
///   stored x_{i-1}, the stored BatchNorm input and its saved batch statistics;
/// - the last block's output, which only the average pool reads.
/// Dropout masks are bytes. Forward-only tensors live in buffers that only backward uses otherwise.
final class ActivationArena {
    let batch: Int
    /// Threads the kernels' per-thread scratch is sized for (Parallel.threads when built).
    let threads: Int
    /// Which fused kernels the blocks run (chosen with the sizes).
    let path: BlockPath
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
    var fusedChunks: UnsafeMutablePointer<Float>          // per-thread chunks of the fused kernel running now (path)

    var floatsAllocated: Int { floatCount }

    init(_ config: WaveMixConfig, _ arch: Architecture, _ geometry: Geometry, batch n: Int, dropout: Bool) {
        batch = n
        threads = Parallel.threads
        path = BlockPath(config, arch, geometry)
        var used = 0
        func take(_ count: Int) -> Int { defer { used += (count + 15) / 16 * 16 }; return used }

        let c = config.finalDim, c2 = c / 2, c4 = c / 4, m = c * config.mult, f = config.ffChannel, levels = config.level
        let pixels = geometry.pixels(batch: n)
        let levelPixels = (0...levels).map { geometry.pixels(level: $0, batch: n) }
        let width = geometry.levelWidth
        let cout = { (k: Int) in k == 1 ? c : c2 }

        let stemOut = zip(arch.stem.convs, geometry.stemSizes).map { take(n * $1.0 * $1.1 * $0.cout) }
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
        let stemSizes = zip(arch.stem.convs, geometry.stemSizes).map { n * $1.0 * $1.1 * $0.cout }
        let dStemAOff = take(arch.stem.norm == nil ? stemSizes[0] : max(pixels * c, stemSizes[1]))
        let dStemBOff = take(arch.stem.norm == nil ? 0 : max(pixels * c, stemSizes[0]))
        var scratch = 0
        for (i, conv) in arch.stem.convs.enumerated() {
            scratch = max(scratch, conv2dScratchCount(geometry.stemConv(i, conv, batch: n), cout: conv.cout, threads: threads))
        }
        for ff in arch.blocks.first?.feedforwards ?? [] {
            scratch = max(scratch, convTranspose2dScratchCount(geometry.upsample(level: ff.level, ff.upsample, batch: n), cin: f,
                                                               threads: threads))
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
        let scratchOff = take(scratch)
        let fusedChunksOff = take(path.chunkFloats(arch, geometry, threads: threads))

        floatCount = used
        floats = allocateHugePageBuffer(of: Float.self, count: used)
        bytes = .allocate(capacity: max(maskBytes, 1))
        bytes.initialize(repeating: 0, count: max(maskBytes, 1))
        sums = .allocate(capacity: 2 * c + 1)
        let floatAt = { [floats] (o: Int) in floats + o }, byteAt = { [bytes] (o: Int) in bytes + o }
        stemOutputs = stemOut.map(floatAt)
        stemActivated = stemAct.map(floatAt)
        stemStatistics = stemStats.map(floatAt)
        stream = streamOff.enumerated().map { i, o in o.map(floatAt) ?? (i == config.depth ? floatAt(dStreamOff) : floatAt(dUpOff)) }
        expanded = floatAt(expandedOff)
        activated = floatAt(dExpOff)
        blocks = blockOff.map { o in
            BlockActivations(reduced: floatAt(o.reduced), levels: o.levels.map(floatAt),
                             masks: o.masks.map { $0.map(byteAt) }, projected: o.projected.map(floatAt),
                             upsampled: o.upsampled.map(floatAt), statistics: o.statistics.map(floatAt))
        }
        pooled = floatAt(pooledOff); logits = floatAt(logitsOff); dLogits = floatAt(dLogitsOff); dPooled = floatAt(dPooledOff)
        dStream = floatAt(dStreamOff); dReduced = floatAt(dReducedOff); dLevels = dLevelsOff.map(floatAt)
        dUpsampled = floatAt(dUpOff); dProjected = floatAt(dProjOff); dActivated = floatAt(dActOff); dExpanded = floatAt(dExpOff)
        dStemA = floatAt(dStemAOff); dStemB = floatAt(dStemBOff); kernelScratch = floatAt(scratchOff)
        fusedChunks = floatAt(fusedChunksOff)
    }

    deinit {
        releaseHugePageBuffer(floats, count: floatCount)
        bytes.deallocate()
        sums.deallocate()
    }
}
