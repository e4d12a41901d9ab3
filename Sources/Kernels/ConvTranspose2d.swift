// nn.ConvTranspose2d(k4, s2, p1), the transposed convolution WaveMix uses to double the
// resolution, NHWC. PyTorch's weight is [cin, cout, 4, 4]; geometry: image = output
// (2h x 2w x cout), grid = input (h x w).
// Forward: four sub-pixel convolutions. Output pixel (2m + py, 2l + px) sums a 2x2 neighbourhood of
// input pixels through the 2x2 slice of the kernel that belongs to its parity class (py, px). Per
// class: gather the 2x2 patches (4*cin per input pixel), one GEMM against the class's weights
// [4*cin, cout], copy the rows to their output pixels: every output is written once, with no
// scatter-add of overlapping 4x4 patches.
// Backward: im2col of the output gradient with the full 4x4 kernel, then one GEMM each for dx and dW.

/// The two contributions to an output of parity p (0 even, 1 odd), along one axis: input offset
/// and kernel tap. Output 2m lies under input m (tap 1) and m-1 (tap 3); output 2m+1 under input
/// m+1 (tap 0) and m (tap 2).
private let subPixelOffset = [[0, -1], [1, 0]]
private let subPixelTap = [[1, 3], [0, 2]]
/// Floats of gathered patches per forward chunk: 2 MiB, so the GEMM reads them from cache right
/// after the gather wrote them (measured: 78 GFLOP/s with 16 MiB chunks, 91 with 2 MiB, 1 thread).
private let subPixelChunkBudget = 1 << 19

/// Floats of scratch the forward and backward need; the forward gets one chunk buffer per thread
/// for up to `threads` threads.
public func convTranspose2dScratchCount(_ g: PatchGeometry, cin: Int, threads: Int = 1) -> Int {
    let backward = 2 * cin * g.patchSize + chunkRows(total: g.rows, rowFloats: g.patchSize) * g.patchSize
    let forward = 16 * cin * g.channels + max(1, threads) * subPixelChunkFloats(g, cin: cin)
    return max(backward, forward)
}

private func subPixelChunkFloats(_ g: PatchGeometry, cin: Int) -> Int {
    chunkRows(total: g.rows, rowFloats: 4 * cin, budget: subPixelChunkBudget) * (4 * cin + g.channels)
}

/// PyTorch [cin, cout, k*k] -> [cin, k*k, cout].
@inline(__always)
func permuteTransposedWeight(_ w: UnsafePointer<Float>, cin: Int, cout: Int, taps: Int, into wp: UnsafeMutablePointer<Float>) {
    for ci in 0..<cin {
        for co in 0..<cout {
            for t in 0..<taps { wp[(ci * taps + t) * cout + co] = w[(ci * cout + co) * taps + t] }
        }
    }
}

/// A per-channel affine map and optional residual applied to each output as it is written:
/// y = (convT + bias) * scale + shift + residual. An eval-mode BatchNorm and the residual add that
/// follow the transposed convolution, without another pass over its output.
public struct ChannelEpilogue {
    public let scale: UnsafePointer<Float>, shift: UnsafePointer<Float>
    public let residual: UnsafePointer<Float>?, ldr: Int

    public init(scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, residual: UnsafePointer<Float>?, ldr: Int) {
        self.scale = scale; self.shift = shift; self.residual = residual; self.ldr = ldr
    }
}

/// y (row stride `ldy`, default cout) = convT(x) + bias, then `epilogue` when given. The input
/// rows are split evenly over up to `scratchThreads` threads (what `scratch` was sized for); each
/// thread gathers, multiplies and writes its own chunks, so the whole call is one parallel region.
/// Every output row is computed the same way whatever the split.
public func convTranspose2dForward(
    x: UnsafePointer<Float>, cin: Int, _ g: PatchGeometry,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, ldy: Int? = nil, epilogue: ChannelEpilogue? = nil,
    scratch: UnsafeMutablePointer<Float>, scratchThreads: Int = 1
) {
    precondition(g.kernel == 4 && g.stride == 2 && g.pad == 1 && g.height == 2 * g.gridHeight && g.width == 2 * g.gridWidth,
                 "convTranspose2dForward implements kernel 4, stride 2, padding 1")
    let cout = g.channels, h = g.gridHeight, w = g.gridWidth, k4 = 4 * cin, ldy = ldy ?? g.channels
    // Class weights: classWeights[c] is [4*cin, cout], rows ordered (tap row, tap column, ci).
    let classWeights = scratch
    for py in 0..<2 { for px in 0..<2 {
        let wc = classWeights + (py * 2 + px) * k4 * cout
        for a in 0..<2 { for b in 0..<2 {
            let tap = subPixelTap[py][a] * 4 + subPixelTap[px][b]
            for ci in 0..<cin { for co in 0..<cout {
                wc[((a * 2 + b) * cin + ci) * cout + co] = weight[(ci * cout + co) * 16 + tap]
            } }
        } }
    } }
    let chunk = chunkRows(total: g.rows, rowFloats: k4, budget: subPixelChunkBudget)
    // One piece per thread, each worth at least a few GEMM tiles.
    let pieces = max(1, min(Parallel.threads, scratchThreads, g.rows / 256))
    if let observe = GEMMShape.observer {  // the pieces' GEMMs, for the profiler
        for piece in 0..<pieces {
            forEachChunk(rows: g.rows, piece: piece, of: pieces, chunk: chunk) { q0, q1 in
                for _ in 0..<4 { observe(GEMMShape(transA: false, transB: false, m: q1 - q0, n: cout, k: k4, accumulate: false)) }
            }
        }
    }
    let out = UnsafeSendable(y), buffers = UnsafeSendable(scratch + 16 * cin * cout)
    Parallel.forEach(pieces) { piece in
        let cols = buffers.value + piece * subPixelChunkFloats(g, cin: cin), product = cols + chunk * k4
        forEachChunk(rows: g.rows, piece: piece, of: pieces, chunk: chunk) { q0, q1 in
            for py in 0..<2 { for px in 0..<2 {
                let dy = subPixelOffset[py], dx = subPixelOffset[px]
                let offsets = [(dy[0], dx[0]), (dy[0], dx[1]), (dy[1], dx[0]), (dy[1], dx[1])]
                // Gather the class's 2x2 input patches.
                for q in q0..<q1 {
                    let l = q % w, m = (q / w) % h, n = q / (w * h)
                    let row = cols + (q - q0) * k4
                    for (t, (dm, dl)) in offsets.enumerated() {
                        let iy = m + dm, ix = l + dl
                        if iy < 0 || iy >= h || ix < 0 || ix >= w { (row + t * cin).update(repeating: 0, count: cin) }
                        else { (row + t * cin).update(from: x + ((n * h + iy) * w + ix) * cin, count: cin) }
                    }
                }
                gemm(transA: false, transB: false, m: q1 - q0, n: cout, k: k4, a: cols, lda: k4,
                     b: classWeights + (py * 2 + px) * k4 * cout, ldb: cout, beta: 0, c: product, ldc: cout, split: false)
                // Each row is one output pixel of this class: write it there, adding the bias.
                for q in q0..<q1 {
                    let l = q % w, m = (q / w) % h, n = q / (w * h)
                    let src = product + (q - q0) * cout
                    let pixel = (n * 2 * h + 2 * m + py) * 2 * w + 2 * l + px
                    let dst = out.value + pixel * ldy
                    if let e = epilogue {
                        let scale = e.scale, shift = e.shift
                        if let bias { for co in 0..<cout { src[co] += bias[co] } }
                        if let residual = e.residual {
                            let res = residual + pixel * e.ldr
                            for co in 0..<cout { dst[co] = src[co] * scale[co] + shift[co] + res[co] }
                        } else {
                            for co in 0..<cout { dst[co] = src[co] * scale[co] + shift[co] }
                        }
                    } else if let bias { for co in 0..<cout { dst[co] = src[co] + bias[co] } }
                    else { dst.update(from: src, count: cout) }
                }
            } }
        }
    }
}

/// dx = dL/dx (overwritten), dWeight += dL/dW, dBias += dL/db.
public func convTranspose2dBackward(
    x: UnsafePointer<Float>, cin: Int, _ g: PatchGeometry,
    weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
    scratch: UnsafeMutablePointer<Float>
) {
    let patch = g.patchSize, taps = g.kernel * g.kernel, cout = g.channels
    let wp = scratch, dwp = scratch + cin * patch, dcols = scratch + 2 * cin * patch
    permuteTransposedWeight(weight, cin: cin, cout: cout, taps: taps, into: wp)
    dwp.update(repeating: 0, count: cin * patch)
    let chunk = chunkRows(total: g.rows, rowFloats: patch)
    var q0 = 0
    while q0 < g.rows {
        let q1 = min(g.rows, q0 + chunk)
        im2col(dy, g, rows: q0, q1, into: dcols)
        gemm(transA: false, transB: true, m: q1 - q0, n: cin, k: patch,
             a: dcols, lda: patch, b: wp, ldb: patch, beta: 0, c: dx + q0 * cin, ldc: cin)
        gemm(transA: true, transB: false, m: cin, n: patch, k: q1 - q0,
             a: x + q0 * cin, lda: cin, b: dcols, ldb: patch, beta: 1, c: dwp, ldc: patch)
        q0 = q1
    }
    for ci in 0..<cin {
        for co in 0..<cout {
            for t in 0..<taps { dWeight[(ci * cout + co) * taps + t] += dwp[(ci * taps + t) * cout + co] }
        }
    }
    if let dBias { addColumnSums(dy, ld: cout, rows: g.batch * g.height * g.width, cols: cout, into: dBias) }
}
