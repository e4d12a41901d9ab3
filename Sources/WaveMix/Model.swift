// WaveMix: the official network (wavemix 0.2.4, classification.WaveMix) over one flat parameter
// buffer. This file holds the model's storage (parameters, gradients, BatchNorm buffers, the
// activation arena) and the helpers both passes use; ModelForward.swift and ModelBackward.swift
// hold the passes. NHWC throughout; images arrive as [n, H, W, in_chans] Float.
import Kernels

public final class WaveMixModel {
    public let config: WaveMixConfig
    public let imageHeight: Int, imageWidth: Int
    let arch: Architecture
    let geometry: Geometry

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

    /// Every activation of a pass, and the block path chosen with it (nil before the first pass).
    var arena: ActivationArena?
    /// Eval's transposed-convolution class kernels, rebuilt only when the weights change.
    let transformedWeights = TransformedWeightCache()
    /// When set, every layer's forward and backward is timed into it.
    public var profile: LayerProfile?
    /// The cost table of the pass being run, while profiling.
    var passCosts: LayerCosts?

    public var parameterTable: TensorTable { arch.parameters }
    public var bufferTable: TensorTable { arch.buffers }
    public var counterNames: [String] { arch.counters }
    public var parameterCount: Int { arch.parameters.total }
    /// Floats held by the activation arena (0 before the first forward pass).
    public var arenaFloats: Int { arena?.floatsAllocated ?? 0 }

    /// Builds the model with PyTorch's default initialisation drawn from `seed`.
    public init(config: WaveMixConfig, imageHeight: Int, imageWidth: Int, seed: UInt64 = 0) throws(ConfigError) {
        try config.validate(height: imageHeight, width: imageWidth)
        self.config = config
        self.imageHeight = imageHeight; self.imageWidth = imageWidth
        arch = Architecture(config)
        geometry = Geometry(config, height: imageHeight, width: imageWidth)
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
        if let arena, arena.batch >= batch, arena.threads >= Parallel.threads { return }
        arena = ActivationArena(config, arch, geometry, batch: batch, dropout: config.dropout > 0)
    }

    // MARK: Helpers of both passes

    @inline(__always) func parameter(at offset: Int) -> UnsafeMutablePointer<Float> { parameters.baseAddress! + offset }
    @inline(__always) func gradient(at offset: Int) -> UnsafeMutablePointer<Float> { gradients.baseAddress! + offset }

    /// A 1x1 layer's forward, y = x W^T + b; `region` names it in the profile (a backward's
    /// recomputation too).
    func dense(_ region: @autoclosure () -> TimedRegion, _ layer: DenseLayer, x: UnsafePointer<Float>, ldx: Int, rows: Int,
               y: UnsafeMutablePointer<Float>, ldy: Int) {
        timed(region()) {
            denseForward(x: x, ldx: ldx, rows: rows, cin: layer.cin, weight: parameter(at: layer.weight), bias: parameter(at: layer.bias),
                         cout: layer.cout, y: y, ldy: ldy, scratch: arena!.kernelScratch)
        }
    }

    /// The mask block `activations` drew at `level` in the last training forward pass (nil without dropout).
    func drawnMask(_ activations: BlockActivations, level k: Int) -> DropoutMask? {
        activations.masks[k - 1].map { DropoutMask(keep: $0, scale: 1 / (1 - Float(config.dropout))) }
    }
}
