// PyTorch's default initialisation, drawn from keyed streams: Conv2d, ConvTranspose2d and Linear
// weights and biases uniform in ±1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)); BatchNorm
// weight 1, bias 0, running mean 0, running variance 1.
import Kernels
import Randomness

extension WaveMixModel {
    func initializeParameters(seed: UInt64) {
        let base = parameters.baseAddress!
        func uniform(_ offset: Int, _ count: Int, bound: Float, stream: Int) {
            var rng = SplitMix64(key: seed, 0x1417, UInt64(stream))
            for i in 0..<count { base[offset + i] = (rng.nextUniform() * 2 - 1) * bound }
        }
        var stream = 0
        func layer(weight: Int, bias: Int, count: Int, cout: Int, fanIn: Int) {
            let bound = 1 / Float(fanIn).squareRoot()
            uniform(weight, count, bound: bound, stream: stream)
            uniform(bias, cout, bound: bound, stream: stream + 1)
            stream += 2
        }
        for conv in arch.stem.convs {
            let fanIn = conv.cin * conv.kernel * conv.kernel
            layer(weight: conv.weight, bias: conv.bias, count: conv.cout * fanIn, cout: conv.cout, fanIn: fanIn)
        }
        for block in arch.blocks {
            for dense in [block.reduction] + block.feedforwards.reversed().flatMap({ [$0.expand, $0.project] }) {
                layer(weight: dense.weight, bias: dense.bias, count: dense.cout * dense.cin, cout: dense.cout, fanIn: dense.cin)
            }
            for ff in block.feedforwards.reversed() {
                // ConvTranspose2d's weight is [cin, cout, k, k]; PyTorch's fan_in is dim 1 times k*k.
                let up = ff.upsample
                layer(weight: up.weight, bias: up.bias, count: up.cin * up.cout * 16, cout: up.cout, fanIn: up.cout * 16)
            }
        }
        layer(weight: arch.head.weight, bias: arch.head.bias, count: arch.head.cout * arch.head.cin,
              cout: arch.head.cout, fanIn: arch.head.cin)
        for norm in arch.norms {
            (base + norm.weight).update(repeating: 1, count: norm.channels)
            (base + norm.bias).update(repeating: 0, count: norm.channels)
            (buffers.baseAddress! + norm.runningMean).update(repeating: 0, count: norm.channels)
            (buffers.baseAddress! + norm.runningVar).update(repeating: 1, count: norm.channels)
        }
        batchCounters = Array(repeating: 0, count: arch.counters.count)
    }
}
