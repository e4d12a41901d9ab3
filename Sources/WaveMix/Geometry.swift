// Sizes that follow from the configuration and the input size: each stem convolution's output, the
// wave blocks' feature map and its wavelet levels, the channels of each level's buffer, and the patch
// geometries the stem convolutions and the transposed convolutions run on.
import Kernels

struct Geometry {
    let height: Int, width: Int           // input image
    let stemSizes: [(Int, Int)]            // output size of each stem conv
    let blockHeight: Int, blockWidth: Int  // after the stem
    private let finalDim: Int, levels: Int

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
        finalDim = config.finalDim; levels = config.level
    }

    /// Height and width of wavelet level k (level 0: the blocks' feature map).
    func levelSize(_ k: Int) -> (Int, Int) { (blockHeight >> k, blockWidth >> k) }

    /// Pixels of wavelet level k (level 0: the blocks' feature map) in a batch of n.
    func pixels(level k: Int = 0, batch n: Int) -> Int { let (h, w) = levelSize(k); return n * h * w }

    /// Channels of the level-k buffer: its own cat(LL, details), plus the deeper level's output below the deepest level.
    func levelWidth(_ k: Int) -> Int { k == levels ? finalDim : finalDim * 3 / 2 }

    /// Stem convolution i of a batch of n (image: its input, grid: its output).
    func stemConv(_ i: Int, _ conv: ConvLayer, batch n: Int) -> PatchGeometry {
        let (h, w) = i == 0 ? (height, width) : stemSizes[i - 1]
        return PatchGeometry(batch: n, height: h, width: w, channels: conv.cin, kernel: conv.kernel, stride: conv.stride,
                             pad: conv.pad, gridHeight: stemSizes[i].0, gridWidth: stemSizes[i].1)
    }

    /// The transposed convolution of level k's feed-forward, level k -> level k - 1, of a batch of n
    /// (image: its output, grid: its input).
    func upsample(level k: Int, _ layer: TransposedConvLayer, batch n: Int) -> PatchGeometry {
        let (h, w) = levelSize(k - 1), (gh, gw) = levelSize(k)
        return PatchGeometry(batch: n, height: h, width: w, channels: layer.cout, kernel: 4, stride: 2, pad: 1,
                             gridHeight: gh, gridWidth: gw)
    }
}
