// One reference step for parity checks against the official package: an eval-mode forward, then a
// train-mode forward and backward of mean cross-entropy, returning what the PyTorch fixture dumps
// (`logits_eval`, `logits_train`, `loss`, `grad.<parameter>`, `after.<buffer>`).

public struct DebugBatch {
    /// [n, in_chans, H, W] as PyTorch stores it.
    public var inputNCHW: [Float]
    public var labels: [Int32]
    /// 0/1 keep masks by Dropout module name (`layers.0.feedforward.2`), NCHW.
    public var dropoutMasksNCHW: [String: [Float]]
    public init(inputNCHW: [Float], labels: [Int32], dropoutMasksNCHW: [String: [Float]]) {
        self.inputNCHW = inputNCHW; self.labels = labels; self.dropoutMasksNCHW = dropoutMasksNCHW
    }
}

extension WaveMixModel {
    /// Names of the Dropout modules a training forward pass uses, with the NCHW shape of each mask.
    public func dropoutMaskShapes(batch n: Int) -> [(name: String, shape: [Int])] {
        guard config.dropout > 0 else { return [] }
        return arch.blocks.flatMap { block in
            block.feedforwards.map { ff in
                let (h, w) = geometry.levelSize(ff.level)
                return (ff.dropoutName, [n, ff.expand.cout, h, w])
            }
        }
    }

    public func debugStep(_ batch: DebugBatch) throws(StateDictError) -> [StateTensor] {
        let n = batch.labels.count, c = config.inChans, h = imageHeight, w = imageWidth
        guard n > 0, batch.inputNCHW.count == n * c * h * w else {
            throw StateDictError(message: "input holds \(batch.inputNCHW.count) values; expected [\(n), \(c), \(h), \(w)] for \(n) labels")
        }
        if let bad = batch.labels.first(where: { $0 < 0 || Int($0) >= config.numClasses }) {
            throw StateDictError(message: "label \(bad) is outside 0..<\(config.numClasses)")
        }
        var masks: [String: [Float]] = [:]
        for (name, shape) in dropoutMaskShapes(batch: n) {
            guard let mask = batch.dropoutMasksNCHW[name], mask.count == shape.reduce(1, *) else {
                throw StateDictError(message: "dropout.\(name): a 0/1 mask of shape \(shape) is required when dropout > 0")
            }
            masks[name] = nchwToNHWC(mask, batch: shape[0], channels: shape[1], height: shape[2], width: shape[3])
        }
        let input = nchwToNHWC(batch.inputNCHW, batch: n, channels: c, height: h, width: w)
        let classes = config.numClasses
        var out: [StateTensor] = []
        input.withUnsafeBufferPointer { x in
            let evalLogits = forward(input: x.baseAddress!, batch: n, training: false)
            out.append(StateTensor(name: "logits_eval", shape: [n, classes], values: .float32(Array(UnsafeBufferPointer(start: evalLogits, count: n * classes)))))
            let trainLogits = forward(input: x.baseAddress!, batch: n, training: true, dropout: .masks(masks))
            out.append(StateTensor(name: "logits_train", shape: [n, classes], values: .float32(Array(UnsafeBufferPointer(start: trainLogits, count: n * classes)))))
            let loss = batch.labels.withUnsafeBufferPointer { crossEntropy(labels: $0.baseAddress!, batch: n).loss }
            out.append(StateTensor(name: "loss", shape: [], values: .float32([loss])))
            zeroGradients()
            backward(input: x.baseAddress!, batch: n)
        }
        for e in parameterTable.entries {
            out.append(StateTensor(name: "grad.\(e.name)", shape: e.shape, values: .float32(Array(gradients[e.offset..<(e.offset + e.count)]))))
        }
        for e in bufferTable.entries {
            out.append(StateTensor(name: "after.\(e.name)", shape: e.shape, values: .float32(Array(buffers[e.offset..<(e.offset + e.count)]))))
        }
        for (name, count) in zip(counterNames, batchCounters) {
            out.append(StateTensor(name: "after.\(name)", shape: [], values: .int64([count])))
        }
        return out
    }
}
