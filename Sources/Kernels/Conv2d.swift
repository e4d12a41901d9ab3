// nn.Conv2d with k > 1 (the stems: 3x3 stride 1/2 pad 1, and the kxk stride-k "patchify"), NHWC:
// im2col over chunks of output pixels, then one GEMM per chunk against the weight permuted from
// PyTorch's [cout, cin, k, k] to tap-major [cout, k, k, cin]. Geometry: image = input, grid = output.
// 3x3 stride-1 convolutions with 8 or more channels on both sides go to Winograd F(2x2, 3x3)
// instead (Conv2dWinograd.swift).

/// Floats of scratch that conv2dForward/conv2dBackward need for this geometry; the forward gets
/// one chunk of patches per thread for up to `threads` threads.
public func conv2dScratchCount(_ g: PatchGeometry, cout: Int, threads: Int = 1) -> Int {
    if winogradApplies(g, cout: cout) { return conv2dWinogradScratchCount(g, cout: cout, threads: threads) }
    let chunk = chunkRows(total: g.rows, rowFloats: g.patchSize)
    return 2 * cout * g.patchSize + max(2, threads) * chunk * g.patchSize
}

/// PyTorch [cout, cin, k*k] -> tap-major [cout, k*k, cin].
@inline(__always)
func permuteConvWeight(_ w: UnsafePointer<Float>, cout: Int, cin: Int, taps: Int, into wp: UnsafeMutablePointer<Float>) {
    for co in 0..<cout {
        for ci in 0..<cin {
            for t in 0..<taps { wp[(co * taps + t) * cin + ci] = w[(co * cin + ci) * taps + t] }
        }
    }
}

/// The output rows are split evenly over up to `scratchThreads` threads (what `scratch` was sized
/// for); each gathers and multiplies its own chunks: one parallel region per call, and every
/// output row computed the same way whatever the split.
public func conv2dForward(
    x: UnsafePointer<Float>, _ g: PatchGeometry,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, cout: Int,
    y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, scratchThreads: Int = 1
) {
    if winogradApplies(g, cout: cout) {
        conv2dWinogradForward(x: x, g, weight: weight, bias: bias, cout: cout, y: y, scratch: scratch, scratchThreads: scratchThreads)
        return
    }
    let patch = g.patchSize, taps = g.kernel * g.kernel
    if patch <= directPatchLimit {
        conv2dDirectForward(x: x, g, weight: weight, bias: bias, cout: cout, y: y, scratch: scratch)
        return
    }
    let wp = scratch
    permuteConvWeight(weight, cout: cout, cin: g.channels, taps: taps, into: wp)
    let chunk = chunkRows(total: g.rows, rowFloats: patch)
    let pieces = max(1, min(Parallel.threads, max(2, scratchThreads), g.rows / 256))
    let buffers = UnsafeSendable(scratch + 2 * cout * patch), out = UnsafeSendable(y)
    Parallel.forEach(pieces) { piece in
        let cols = buffers.value + piece * chunk * patch
        forEachChunk(rows: g.rows, piece: piece, of: pieces, chunk: chunk) { q0, q1 in
            im2col(x, g, rows: q0, q1, into: cols, split: false)
            gemm(transA: false, transB: true, m: q1 - q0, n: cout, k: patch,
                 a: cols, lda: patch, b: wp, ldb: patch, beta: 0, c: out.value + q0 * cout, ldc: cout, split: false)
            if let bias {
                for r in q0..<q1 {
                    let row = out.value + r * cout
                    for c in 0..<cout { row[c] += bias[c] }
                }
            }
        }
    }
}

/// Patches of at most this many values (the first convolution on a 1-3 channel image) are
/// convolved directly: a GEMM with K = 9 runs at half speed, and the patch matrix and the bias pass
/// cost four times the multiplications (5.3 ms for the (a) stem's first convolution, 1 ms of it GEMM).
let directPatchLimit = 32

/// conv2dForward for small patches: per output pixel, its patch values (zero outside the image)
/// times the weight transposed to [patch, cout], accumulated in patch order with fused
/// multiply-adds, eight output channels at a time in registers; then the bias.
private func conv2dDirectForward(
    x: UnsafePointer<Float>, _ g: PatchGeometry, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, cout: Int,
    y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
) {
    let patch = g.patchSize, taps = g.kernel * g.kernel, cin = g.channels
    // weightT[(tap * cin + ci) * cout + co]: patch-major, output channels contiguous.
    let weightT = scratch
    for co in 0..<cout { for ci in 0..<cin { for t in 0..<taps { weightT[(t * cin + ci) * cout + co] = weight[(co * cin + ci) * taps + t] } } }
    let out = UnsafeSendable(y), w = UnsafeSendable(UnsafePointer(weightT))
    Parallel.forRange(g.batch * g.gridHeight, minPerThread: max(1, 2048 / g.gridWidth)) { lo, hi in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: directPatchLimit) { values in
            let v = values.baseAddress!
            for imageRow in lo..<hi { for gx in 0..<g.gridWidth {
                let n = imageRow / g.gridHeight, gy = imageRow % g.gridHeight, q = imageRow * g.gridWidth + gx
                im2colRow(x, g, n: n, gy: gy, gx: gx, into: v)
                let row = out.value + q * cout
                // 32 output channels at a time: four independent FMA chains instead of one.
                var co = 0
                while co + 32 <= cout {
                    var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
                    for i in 0..<patch {
                        let b = SIMD8<Float>(repeating: v[i]), wr = w.value + i * cout + co
                        a0 = a0.addingProduct(b, EightChannels.load(wr)); a1 = a1.addingProduct(b, EightChannels.load(wr + 8))
                        a2 = a2.addingProduct(b, EightChannels.load(wr + 16)); a3 = a3.addingProduct(b, EightChannels.load(wr + 24))
                    }
                    if let bias {
                        a0 += EightChannels.load(bias + co); a1 += EightChannels.load(bias + co + 8)
                        a2 += EightChannels.load(bias + co + 16); a3 += EightChannels.load(bias + co + 24)
                    }
                    EightChannels.store(a0, row + co); EightChannels.store(a1, row + co + 8)
                    EightChannels.store(a2, row + co + 16); EightChannels.store(a3, row + co + 24)
                    co += 32
                }
                @inline(__always) func channels<L: ChannelLanes>(_: L.Type, _ c: Int) {
                    var acc = L.Vector()
                    for i in 0..<patch { acc = acc.addingProduct(L.Vector(repeating: v[i]), L.load(w.value + i * cout + co + c)) }
                    if let bias { acc = acc + L.load(bias + co + c) }
                    L.store(acc, row + co + c)
                }
                forEachChannelVector(cout - co, eight: { channels(EightChannels.self, $0) }, one: { channels(OneChannel.self, $0) })
            } }
        }
    }
}

/// dWeight += dL/dW, dBias += dL/db, dx = dL/dx (overwritten; pass nil for the network input).
/// `scratchThreads` as for the forward (the Winograd path splits its tiles that way).
public func conv2dBackward(
    x: UnsafePointer<Float>, _ g: PatchGeometry,
    weight: UnsafePointer<Float>, cout: Int, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
    scratch: UnsafeMutablePointer<Float>, scratchThreads: Int = 1
) {
    if winogradApplies(g, cout: cout) {
        conv2dWinogradBackward(x: x, g, weight: weight, cout: cout, dy: dy, dx: dx, dWeight: dWeight,
                               scratch: scratch, scratchThreads: scratchThreads)
        if let dBias { addColumnSums(dy, ld: cout, rows: g.rows, cols: cout, into: dBias) }
        return
    }
    let patch = g.patchSize, taps = g.kernel * g.kernel, cin = g.channels
    let wp = scratch, dwp = scratch + cout * patch
    let chunk = chunkRows(total: g.rows, rowFloats: patch)
    let cols = scratch + 2 * cout * patch, dcols = cols + chunk * patch
    permuteConvWeight(weight, cout: cout, cin: cin, taps: taps, into: wp)
    dwp.update(repeating: 0, count: cout * patch)
    if let dx { dx.update(repeating: 0, count: g.batch * g.height * g.width * cin) }
    var q0 = 0
    while q0 < g.rows {
        let q1 = min(g.rows, q0 + chunk)
        im2col(x, g, rows: q0, q1, into: cols)
        gemm(transA: true, transB: false, m: cout, n: patch, k: q1 - q0,
             a: dy + q0 * cout, lda: cout, b: cols, ldb: patch, beta: 1, c: dwp, ldc: patch)
        if let dx {
            gemm(transA: false, transB: false, m: q1 - q0, n: patch, k: cout,
                 a: dy + q0 * cout, lda: cout, b: wp, ldb: patch, beta: 0, c: dcols, ldc: patch)
            col2im(dcols, g, rows: q0, q1, into: dx)
        }
        q0 = q1
    }
    for co in 0..<cout {
        for ci in 0..<cin {
            for t in 0..<taps { dWeight[(co * cin + ci) * taps + t] += dwp[(co * taps + t) * cin + ci] }
        }
    }
    if let dBias { addColumnSums(dy, ld: cout, rows: g.rows, cols: cout, into: dBias) }
}
