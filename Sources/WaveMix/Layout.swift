// The flat parameter buffer: every parameter of the official model, under its official name and
// shape, at an offset in ONE Float buffer (gradients share the layout). Parameters are laid out in
// forward execution order, so backward finishes them from the end of the buffer towards the start:
// gradient buckets for the all-reduce are contiguous ranges that become final in order.
// BatchNorm running statistics live in a second buffer (`buffers`) with the same kind of table;
// num_batches_tracked counters are Int64 and kept apart.

public struct TensorEntry: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

public struct TensorTable: Sendable {
    public private(set) var entries: [TensorEntry] = []
    public private(set) var total = 0
    private var index: [String: Int] = [:]

    mutating func add(_ name: String, _ shape: [Int]) -> Int {
        precondition(index[name] == nil, "duplicate tensor \(name)")
        let offset = total
        index[name] = entries.count
        entries.append(TensorEntry(name: name, shape: shape, offset: offset))
        total += shape.reduce(1, *)
        return offset
    }

    public func entry(_ name: String) -> TensorEntry? { index[name].map { entries[$0] } }
}

// Layer descriptors: shapes and offsets, no storage.

struct ConvLayer {  // nn.Conv2d, weight [cout, cin, k, k]
    let name: String, cin: Int, cout: Int, kernel: Int, stride: Int, pad: Int
    let weight: Int, bias: Int
    init(_ t: inout TensorTable, _ name: String, cin: Int, cout: Int, kernel: Int, stride: Int, pad: Int) {
        self.name = name; self.cin = cin; self.cout = cout; self.kernel = kernel; self.stride = stride; self.pad = pad
        weight = t.add("\(name).weight", [cout, cin, kernel, kernel])
        bias = t.add("\(name).bias", [cout])
    }
}

struct DenseLayer {  // 1x1 nn.Conv2d ([cout, cin, 1, 1]) or nn.Linear ([cout, cin])
    let name: String, cin: Int, cout: Int, weight: Int, bias: Int
    init(_ t: inout TensorTable, _ name: String, cin: Int, cout: Int, linear: Bool = false) {
        self.name = name; self.cin = cin; self.cout = cout
        weight = t.add("\(name).weight", linear ? [cout, cin] : [cout, cin, 1, 1])
        bias = t.add("\(name).bias", [cout])
    }
}

struct TransposedConvLayer {  // nn.ConvTranspose2d(k4, s2, p1), weight [cin, cout, 4, 4]
    let name: String, cin: Int, cout: Int, weight: Int, bias: Int
    init(_ t: inout TensorTable, _ name: String, cin: Int, cout: Int) {
        self.name = name; self.cin = cin; self.cout = cout
        weight = t.add("\(name).weight", [cin, cout, 4, 4])
        bias = t.add("\(name).bias", [cout])
    }
}

struct BatchNormLayer {
    let name: String, channels: Int
    let weight: Int, bias: Int          // parameters
    let runningMean: Int, runningVar: Int  // in the buffers table
    let counter: Int                    // index of num_batches_tracked
    init(_ t: inout TensorTable, _ b: inout TensorTable, _ counters: inout [String], _ name: String, channels: Int) {
        self.name = name; self.channels = channels
        weight = t.add("\(name).weight", [channels])
        bias = t.add("\(name).bias", [channels])
        runningMean = b.add("\(name).running_mean", [channels])
        runningVar = b.add("\(name).running_var", [channels])
        counter = counters.count
        counters.append("\(name).num_batches_tracked")
    }
}

/// conv1x1 -> GELU -> Dropout -> conv1x1 -> ConvTranspose2d -> BatchNorm, at wavelet level `level`.
struct FeedForward {
    let level: Int
    let name: String
    let expand: DenseLayer, project: DenseLayer, upsample: TransposedConvLayer, norm: BatchNormLayer
    var dropoutName: String { "\(name).2" }
    /// First parameter offset: all of this layer's gradients are final once it is done.
    var firstOffset: Int { expand.weight }
}

struct WaveBlock {
    let index: Int
    let reduction: DenseLayer
    /// feedforwards[k-1] works at level k; executed from the deepest level up.
    let feedforwards: [FeedForward]
    var firstOffset: Int { reduction.weight }
}

struct StemLayers {
    let convs: [ConvLayer]      // conv.0, conv.1 (and conv.2 = the patch conv for pachify)
    let norm: BatchNormLayer?   // conv.4 for pachify
}

/// The whole network's layer table, built once from a configuration.
struct Architecture {
    var parameters = TensorTable()
    var buffers = TensorTable()
    var counters: [String] = []
    var stem: StemLayers!
    var blocks: [WaveBlock] = []
    var head: DenseLayer!

    init(_ config: WaveMixConfig) {
        let c = config.finalDim, c2 = c / 2, c4 = c / 4
        switch config.initialConv {
        case .strided:
            stem = StemLayers(convs: [
                ConvLayer(&parameters, "conv.0", cin: config.inChans, cout: c2, kernel: 3, stride: config.stride, pad: 1),
                ConvLayer(&parameters, "conv.1", cin: c2, cout: c, kernel: 3, stride: config.stride, pad: 1),
            ], norm: nil)
        case .pachify:
            let convs = [
                ConvLayer(&parameters, "conv.0", cin: config.inChans, cout: c4, kernel: 3, stride: 1, pad: 1),
                ConvLayer(&parameters, "conv.1", cin: c4, cout: c2, kernel: 3, stride: 1, pad: 1),
                ConvLayer(&parameters, "conv.2", cin: c2, cout: c, kernel: config.patchSize, stride: config.patchSize, pad: 0),
            ]
            stem = StemLayers(convs: convs, norm: BatchNormLayer(&parameters, &buffers, &counters, "conv.4", channels: c))
        }
        let levels = config.level
        for i in 0..<config.depth {
            let reduction = DenseLayer(&parameters, "layers.\(i).reduction", cin: c, cout: c4)
            var byLevel: [Int: FeedForward] = [:]
            for k in stride(from: levels, through: 1, by: -1) {  // forward execution order: deepest first
                let name = levels == 1 ? "layers.\(i).feedforward" : "layers.\(i).feedforward\(k)"
                let cin = k == levels ? c : c + c2
                let cout = k == 1 ? c : c2
                byLevel[k] = FeedForward(
                    level: k, name: name,
                    expand: DenseLayer(&parameters, "\(name).0", cin: cin, cout: c * config.mult),
                    project: DenseLayer(&parameters, "\(name).3", cin: c * config.mult, cout: config.ffChannel),
                    upsample: TransposedConvLayer(&parameters, "\(name).4", cin: config.ffChannel, cout: cout),
                    norm: BatchNormLayer(&parameters, &buffers, &counters, "\(name).5", channels: cout))
            }
            blocks.append(WaveBlock(index: i, reduction: reduction, feedforwards: (1...levels).map { byLevel[$0]! }))
        }
        head = DenseLayer(&parameters, "pool.2", cin: c, cout: config.numClasses, linear: true)
    }

    /// Every BatchNorm layer, in forward order.
    var norms: [BatchNormLayer] {
        (stem.norm.map { [$0] } ?? []) + blocks.flatMap { $0.feedforwards.reversed().map(\.norm) }
    }
}
