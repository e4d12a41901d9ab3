// One level of the 2D Haar DWT exactly as the official wavemix package computes it
// (DWTForward(J=1, wave='db1', mode='zero') on even sizes): a row filter, then a column filter,
// each tap the float32 0.70710677. For each 2x2 block [a b; c d] and channel ci:
//   LL = (a+b+c+d)/2, band 0 = (a+b-c-d)/2, band 1 = (a-b+c-d)/2, band 2 = (a-b-c+d)/2
// Output layout (NHWC, as the official block's cat(LL, reshape(Yh)) produces it):
//   y[..., ci] = LL of channel ci, y[..., c + 3*ci + band] = detail band of channel ci.
// Input and output may be channel slices of wider buffers (pixel strides ldx, ldy).

/// pywt's db1 tap rounded to float32, as the official package stores its filters.
public let haarTap = Float(0.7071067811865476)

/// x: [n, h, w, c] (stride ldx) -> y: [n, h/2, w/2, 4c] (stride ldy). h and w must be even.
public func haarForward(x: UnsafePointer<Float>, ldx: Int, batch: Int, height: Int, width: Int, channels c: Int,
                        y: UnsafeMutablePointer<Float>, ldy: Int) {
    let out = UnsafeSendable(y)
    Parallel.forRange(batch * (height / 2), minPerThread: max(1, 8192 / max(1, width / 2 * c))) { lo, hi in
        haarForwardRows(x: x, ldx: ldx, height: height, width: width, channels: c, y: out.value, ldy: ldy, lo..<hi)
    }
}

/// haarForward's output rows `rows` (row n * height/2 + i of the whole batch), on the calling thread,
/// of x + `bias` (per channel) when given.
@inline(__always)
func haarForwardRows(x: UnsafePointer<Float>, ldx: Int, height: Int, width: Int, channels c: Int, bias: UnsafePointer<Float>? = nil,
                     y: UnsafeMutablePointer<Float>, ldy: Int, _ rows: Range<Int>) {
    let h2 = height / 2, w2 = width / 2, t = haarTap
    for row in rows {
        let n = row / h2, i = row % h2
        let top = x + ((n * height + 2 * i) * width) * ldx, bottom = top + width * ldx
        for j in 0..<w2 {
            let a = top + 2 * j * ldx, b = a + ldx, cc = bottom + 2 * j * ldx, d = cc + ldx
            let o = y + ((n * h2 + i) * w2 + j) * ldy
            // The same operations per channel, eight channels at a time (the details' stride-3
            // layout keeps LLVM from vectorising the scalar loop).
            @inline(__always) func channels<L: ChannelLanes>(_: L.Type, _ ch: Int) {
                let tv = L.Vector(repeating: t)
                var av = L.load(a + ch), bv = L.load(b + ch), cv = L.load(cc + ch), dv = L.load(d + ch)
                if let bias {
                    let bias = L.load(bias + ch)
                    av = av + bias; bv = bv + bias; cv = cv + bias; dv = dv + bias
                }
                let rowLoTop = tv * av + tv * bv, rowHiTop = tv * av - tv * bv
                let rowLoBottom = tv * cv + tv * dv, rowHiBottom = tv * cv - tv * dv
                L.store(tv * rowLoTop + tv * rowLoBottom, o + ch)
                let band0 = tv * rowLoTop - tv * rowLoBottom
                let band1 = tv * rowHiTop + tv * rowHiBottom, band2 = tv * rowHiTop - tv * rowHiBottom
                let details = o + c + 3 * ch
                for lane in 0..<L.width {
                    details[3 * lane] = band0[lane]; details[3 * lane + 1] = band1[lane]; details[3 * lane + 2] = band2[lane]
                }
            }
            forEachChannelVector(c, eight: { channels(EightChannels.self, $0) }, one: { channels(OneChannel.self, $0) })
        }
    }
}

/// The adjoint: dx (= or +=) DWT^T dy, with dy in the layout haarForward writes.
public func haarBackward(dy: UnsafePointer<Float>, lddy: Int, batch: Int, height: Int, width: Int, channels c: Int,
                         dx: UnsafeMutablePointer<Float>, lddx: Int, accumulate: Bool) {
    let h2 = height / 2, w2 = width / 2, t = haarTap
    let out = UnsafeSendable(dx)
    Parallel.forRange(batch * h2, minPerThread: max(1, 8192 / max(1, w2 * c))) { lo, hi in
        for row in lo..<hi {
            let n = row / h2, i = row % h2
            let top = out.value + ((n * height + 2 * i) * width) * lddx, bottom = top + width * lddx
            for j in 0..<w2 {
                let a = top + 2 * j * lddx, b = a + lddx, cc = bottom + 2 * j * lddx, d = cc + lddx
                let g = dy + ((n * h2 + i) * w2 + j) * lddy
                @inline(__always) func channels<L: ChannelLanes>(_: L.Type, _ ch: Int) {
                    let tv = L.Vector(repeating: t), details = g + c + 3 * ch
                    var b0 = L.Vector(), b1 = L.Vector(), b2 = L.Vector()
                    for lane in 0..<L.width {
                        b0[lane] = details[3 * lane]; b1[lane] = details[3 * lane + 1]; b2[lane] = details[3 * lane + 2]
                    }
                    let ll = L.load(g + ch)
                    let rowLoTop = tv * ll + tv * b0, rowLoBottom = tv * ll - tv * b0
                    let rowHiTop = tv * b1 + tv * b2, rowHiBottom = tv * b1 - tv * b2
                    var ga = tv * rowLoTop + tv * rowHiTop, gb = tv * rowLoTop - tv * rowHiTop
                    var gc = tv * rowLoBottom + tv * rowHiBottom, gd = tv * rowLoBottom - tv * rowHiBottom
                    if accumulate {
                        ga = L.load(a + ch) + ga; gb = L.load(b + ch) + gb; gc = L.load(cc + ch) + gc; gd = L.load(d + ch) + gd
                    }
                    L.store(ga, a + ch); L.store(gb, b + ch); L.store(gc, cc + ch); L.store(gd, d + ch)
                }
                forEachChannelVector(c, eight: { channels(EightChannels.self, $0) }, one: { channels(OneChannel.self, $0) })
            }
        }
    }
}

/// Output rows of the block's reduction per chunk of `reductionHaarForward`: whole pairs of image
/// rows, as many as OpenBLAS's small kernel takes in one product; nil where that kernel is missing.
public func reductionHaarPairsPerChunk(width: Int, cin: Int, cout: Int) -> Int? {
    guard let rows = SmallGEMM.rows(macsPerRow: cin * cout), rows >= 2 * width else { return nil }
    return rows / (2 * width)
}

/// Floats of `buffers` reductionHaarForward needs: one chunk of reduction output per thread.
public func reductionHaarBufferCount(width: Int, cin: Int, cout: Int, threads: Int) -> Int {
    (reductionHaarPairsPerChunk(width: width, cin: cin, cout: cout) ?? 0) * 2 * width * cout * max(1, threads)
}

/// y = haarForward(reduction(x)): the block's 1x1 reduction (cin -> c channels) and the first
/// wavelet level, chunk by chunk of image-row pairs, so the reduction's output is transformed while
/// in cache instead of going to memory and back. Bitwise what denseForward then haarForward write
/// (each chunk is one small-kernel product, as in gemmInSmallProducts). Only where
/// `reductionHaarPairsPerChunk` is non-nil.
public func reductionHaarForward(
    x: UnsafePointer<Float>, ldx: Int, batch: Int, height: Int, width: Int, reduction: DenseWeights,
    y: UnsafeMutablePointer<Float>, ldy: Int, buffers: UnsafeMutablePointer<Float>, bufferThreads: Int
) {
    let c = reduction.cout, pairs = batch * (height / 2)
    guard let chunk = reductionHaarPairsPerChunk(width: width, cin: reduction.cin, cout: c) else {
        preconditionFailure("reductionHaarForward needs OpenBLAS's small-matrix kernel")
    }
    let pieces = max(1, min(Parallel.threads, bufferThreads, (pairs + chunk - 1) / chunk))
    let out = UnsafeSendable(y), shared = UnsafeSendable(buffers)
    Parallel.forEach(pieces) { piece in
        let reduced = shared.value + piece * chunk * 2 * width * c
        let end = pairs * (piece + 1) / pieces
        forEachChunk(rows: pairs, piece: piece, of: pieces, chunk: chunk) { p0, p1 in
            reductionHaarChunk(x: x, ldx: ldx, width: width, reduction: reduction, pairs: p0..<p1, prefetchBefore: end,
                               reduced: reduced, y: out.value + p0 * (width / 2) * ldy, ldy: ldy)
        }
    }
}

/// One chunk of reductionHaarForward, pairs of image rows `pairs` (at most
/// reductionHaarPairsPerChunk), on the calling thread: the reduction into `reduced`, then its
/// wavelet level to y (the chunk's first output pixel). Prefetches the next chunk's rows of x,
/// up to pair `prefetchBefore`.
@inline(__always)
func reductionHaarChunk(x: UnsafePointer<Float>, ldx: Int, width: Int, reduction: DenseWeights, pairs: Range<Int>,
                        prefetchBefore end: Int, reduced: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, ldy: Int) {
    let r0 = pairs.lowerBound * 2 * width, r1 = pairs.upperBound * 2 * width
    if reduction.cin >= 128 {  // as gemmInSmallProducts
        prefetchRows(x, ld: ldx, rows: r1..<min(end * 2 * width, 2 * r1 - r0), count: reduction.cin)
    }
    // The bias is added as the wavelet transform loads each value: the same single rounding as
    // denseChunk's (which preloads it into C), without that pass over the chunk.
    smallProduct(transB: false, m: r1 - r0, n: reduction.cout, k: reduction.cin, a: x + r0 * ldx, lda: ldx, b: reduction.weightT,
                 ldb: reduction.cout, beta: 0, c: reduced, ldc: reduction.cout, bias: nil)
    // The chunk's pairs as one image of 2 * pairs.count rows: pairs never straddle images.
    haarForwardRows(x: reduced, ldx: reduction.cout, height: 2 * pairs.count, width: width, channels: reduction.cout,
                    bias: reduction.bias, y: y, ldy: ldy, 0..<pairs.count)
}
