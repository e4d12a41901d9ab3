// nn.ConvTranspose2d(k4, s2, p1), the transposed convolution WaveMix uses to double the
// resolution, NHWC. PyTorch's weight is [cin, cout, 4, 4]; geometry: image = output
// (2h x 2w x cout), grid = input (h x w).
// Four sub-pixel convolutions: output pixel (2m + py, 2l + px) sums a 2x2 neighbourhood of input
// pixels through the 2x2 slice of the kernel that belongs to its parity class (py, px), so every
// output is written once, with no scatter-add of overlapping 4x4 patches. The forward
// (ConvTranspose2dForward.swift) runs each class's 2x2 convolution as Winograd tiles of up to
// 4 x 4 outputs.
// Backward, Winograd too: dx is a sum over the four classes of 2x2 convolutions of each class's
// output-gradient plane with the class slice flipped, so per 2x2 tile of dx the four classes'
// transformed 3x3 gradient tiles stack along K (nine GEMMs, K = 4 cout). dW is the Winograd weight
// gradient: per class, sum over tiles of (B^T d B) x (A dY A^T) position by position (nine GEMMs,
// K = tiles), then G^T (.) G back to the 2x2 slice.

/// Per axis and output parity p (0 even, 1 odd): the input offset of a class tile's first input
/// row, and the kernel taps that meet the tile's inputs in increasing order. Output 2m lies under
/// input m-1 (tap 3) and m (tap 1); output 2m+1 under input m (tap 2) and m+1 (tap 0).
let classOrigin = [-1, 0]
let classTaps = [[3, 1], [2, 0]]
/// dx's tiles: input pixel i takes class outputs i and i+1 (even class) or i-1 and i (odd class),
/// through the class taps in reverse order.
private let gradientOrigin = [0, -1]

private func tiles(_ g: PatchGeometry, rowFloats: Int, macs: Int) -> Int {
    tilesPerChunk(total: tileCount(g), rowFloats: rowFloats, macs: macs)
}

/// Floats of scratch the forward and backward need; each gets one chunk buffer per thread for up
/// to `threads` threads.
public func convTranspose2dScratchCount(_ g: PatchGeometry, cin: Int, threads: Int = 1) -> Int {
    let threads = max(1, threads), cout = g.channels
    let backward = 72 * cin * cout + max(cin, cout)
        + max(threads * gradientChunkFloats(g, cin: cin), 4 * weightGradientClassFloats(g, cin: cin))
    return max(backward, convTranspose2dForwardScratchCount(g, cin: cin, threads: threads))
}

private func tileCount(_ g: PatchGeometry) -> Int { g.batch * ((g.gridHeight + 1) / 2) * ((g.gridWidth + 1) / 2) }

/// dx's chunks: transformed gradient tiles [9][tiles][4 cout], products [9][tiles][cin], one
/// tile's outputs [4][cin].
private func gradientTilesPerChunk(_ g: PatchGeometry, cin: Int) -> Int {
    tiles(g, rowFloats: 9 * (4 * g.channels + cin), macs: 4 * g.channels * cin)
}

private func gradientChunkFloats(_ g: PatchGeometry, cin: Int) -> Int {
    let chunk = gradientTilesPerChunk(g, cin: cin)
    return 9 * chunk * (4 * g.channels + cin) + 4 * cin
}

/// dW's chunks: per parity class, transformed inputs [9][tiles][cin] and output gradients
/// [9][tiles][cout]. A chunk holds its tiles for all four classes (which the threads share out), so
/// its size is the same whatever the thread count and every class gradient sums the same chunks.
private func weightGradientTiles(_ g: PatchGeometry, cin: Int) -> Int {
    tiles(g, rowFloats: 36 * (cin + g.channels), macs: cin * g.channels)
}

/// One class's chunk buffers; dW uses four.
private func weightGradientClassFloats(_ g: PatchGeometry, cin: Int) -> Int {
    9 * weightGradientTiles(g, cin: cin) * (cin + g.channels)
}

/// G k G^T, G = [1 0; 1 1; 0 1], of the 2x2 kernel slice (k00 k01; k10 k11): position i * 3 + j
/// goes to out[(i * 3 + j) * stride].
@inline(__always)
private func kernelTransform(_ k00: Float, _ k01: Float, _ k10: Float, _ k11: Float, into out: UnsafeMutablePointer<Float>, stride: Int) {
    func put(_ i: Int, _ a: Float, _ b: Float) {
        out[3 * i * stride] = a; out[(3 * i + 1) * stride] = a + b; out[(3 * i + 2) * stride] = b
    }
    put(0, k00, k01); put(1, k00 + k10, k01 + k11); put(2, k10, k11)
}

/// B^T d B for one tile, B^T = [1 -1 0; 0 1 0; 0 -1 1]: d holds the 3x3 input pixels (row-major),
/// each `count` channels; output position i goes to out + i * stride.
@inline(__always)
private func tileInputTransform(_ d: UnsafePointer<UnsafePointer<Float>>, count: Int, into out: UnsafeMutablePointer<Float>, stride: Int) {
    @inline(__always) func transform<L: ChannelLanes>(_: L.Type, at c: Int) {
        let a0 = L.load(d[0] + c) - L.load(d[3] + c), a1 = L.load(d[1] + c) - L.load(d[4] + c)
        let a2 = L.load(d[2] + c) - L.load(d[5] + c)
        let b0 = L.load(d[3] + c), b1 = L.load(d[4] + c), b2 = L.load(d[5] + c)
        let c0 = L.load(d[6] + c) - L.load(d[3] + c), c1 = L.load(d[7] + c) - L.load(d[4] + c)
        let c2 = L.load(d[8] + c) - L.load(d[5] + c)
        let o = out + c
        L.store(a0 - a1, o); L.store(a1, o + stride); L.store(a2 - a1, o + 2 * stride)
        L.store(b0 - b1, o + 3 * stride); L.store(b1, o + 4 * stride); L.store(b2 - b1, o + 5 * stride)
        L.store(c0 - c1, o + 6 * stride); L.store(c1, o + 7 * stride); L.store(c2 - c1, o + 8 * stride)
    }
    forEachChannelVector(count, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
}

/// A^T M A for one tile, A^T = [1 1 0; 0 1 1]: the nine products of `count` channels at
/// p + i * stride -> the tile's four outputs, through `writer`.
@inline(__always)
private func tileOutputTransform(_ p: UnsafePointer<Float>, stride: Int, count: Int, _ writer: TileWriter) {
    @inline(__always) func transform<L: ChannelLanes>(_ lanes: L.Type, at c: Int) {
        let q = p + c
        let z00 = L.load(q) + L.load(q + stride), z01 = L.load(q + stride) + L.load(q + 2 * stride)
        let z10 = L.load(q + 3 * stride) + L.load(q + 4 * stride), z11 = L.load(q + 4 * stride) + L.load(q + 5 * stride)
        let z20 = L.load(q + 6 * stride) + L.load(q + 7 * stride), z21 = L.load(q + 7 * stride) + L.load(q + 8 * stride)
        writer.write(z00 + z10, 0, at: c, lanes); writer.write(z01 + z11, 1, at: c, lanes)
        writer.write(z10 + z20, 2, at: c, lanes); writer.write(z11 + z21, 3, at: c, lanes)
    }
    forEachChannelVector(count, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
}

/// A dY A^T for one tile of output gradients, A^T = [1 1 0; 0 1 1]: y holds the 2x2 gradient
/// pixels (row-major), each `count` channels; position i goes to out + i * stride. (The same map
/// as the kernel transform: it is the adjoint of the output transform.)
@inline(__always)
private func tileGradientTransform(_ y: UnsafePointer<UnsafePointer<Float>>, count: Int, into out: UnsafeMutablePointer<Float>, stride: Int) {
    @inline(__always) func transform<L: ChannelLanes>(_: L.Type, at c: Int) {
        let y00 = L.load(y[0] + c), y01 = L.load(y[1] + c), y10 = L.load(y[2] + c), y11 = L.load(y[3] + c)
        let m0 = y00 + y10, m1 = y01 + y11, o = out + c
        L.store(y00, o); L.store(y00 + y01, o + stride); L.store(y01, o + 2 * stride)
        L.store(m0, o + 3 * stride); L.store(m0 + m1, o + 4 * stride); L.store(m1, o + 5 * stride)
        L.store(y10, o + 6 * stride); L.store(y10 + y11, o + 7 * stride); L.store(y11, o + 8 * stride)
    }
    forEachChannelVector(count, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
}

/// dx = dL/dx (overwritten), dWeight += dL/dW, dBias += dL/db. `scratch` as for the forward; dx's
/// tiles are split over up to `scratchThreads` threads, dW's work by parity class (1, 2 or 4
/// threads) or by GEMM position and blocks of cin (other counts). Results do not depend on the
/// thread count.
public func convTranspose2dBackward(
    x: UnsafePointer<Float>, cin: Int, _ g: PatchGeometry,
    weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
    scratch: UnsafeMutablePointer<Float>, scratchThreads: Int = 1
) {
    precondition(g.kernel == 4 && g.stride == 2 && g.pad == 1 && g.height == 2 * g.gridHeight && g.width == 2 * g.gridWidth,
                 "convTranspose2dBackward implements kernel 4, stride 2, padding 1")
    let cout = g.channels
    // flipped[position] is [4 cout, cin]: row class * cout + co holds G k G^T of the class slice
    // flipped in both axes, transposed. gradients[class * 9 + position] is dL/dU, [cin, cout].
    let flipped = scratch, gradients = flipped + 36 * cout * cin, zeros = gradients + 36 * cin * cout
    let buffers = zeros + max(cin, cout)
    zeros.update(repeating: 0, count: max(cin, cout))
    for py in 0..<2 { for px in 0..<2 {
        let row = (py * 2 + px) * cout
        let (y0, y1, x0, x1) = (classTaps[py][1] * 4, classTaps[py][0] * 4, classTaps[px][1], classTaps[px][0])
        for ci in 0..<cin { for co in 0..<cout {
            let k = weight + (ci * cout + co) * 16
            kernelTransform(k[y0 + x0], k[y0 + x1], k[y1 + x0], k[y1 + x1], into: flipped + (row + co) * cin + ci, stride: 4 * cout * cin)
        } }
    } }
    convTranspose2dInputGradient(cin: cin, g, flipped: flipped, dy: dy, dx: dx, zeros: zeros, buffers: buffers,
                                 scratchThreads: scratchThreads)
    convTranspose2dWeightGradient(x: x, cin: cin, g, dy: dy, gradients: gradients, zeros: zeros, buffers: buffers,
                                  scratchThreads: scratchThreads)
    // dW += G^T (dL/dU) G, G^T = [1 1 0; 0 1 1], back onto each class's 2x2 slice.
    let plane = cin * cout
    for py in 0..<2 { for px in 0..<2 {
        let u = gradients + (py * 2 + px) * 9 * plane
        for ci in 0..<cin { for co in 0..<cout {
            let q = u + ci * cout + co, k = dWeight + (ci * cout + co) * 16
            for r in 0..<2 { for c in 0..<2 {
                let top = q[(r * 3 + c) * plane] + q[(r * 3 + c + 1) * plane]
                let bottom = q[((r + 1) * 3 + c) * plane] + q[((r + 1) * 3 + c + 1) * plane]
                k[classTaps[py][r] * 4 + classTaps[px][c]] += top + bottom
            } }
        } }
    } }
    if let dBias { addColumnSums(dy, ld: cout, rows: g.batch * g.height * g.width, cols: cout, into: dBias) }
}

/// dx per 2x2 tile of the input grid: the four classes' gradient tiles, transformed and stacked
/// along K, times the flipped class weights; every dx pixel is written once.
private func convTranspose2dInputGradient(
    cin: Int, _ g: PatchGeometry, flipped: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    zeros: UnsafePointer<Float>, buffers: UnsafeMutablePointer<Float>, scratchThreads: Int
) {
    let cout = g.channels, h = g.gridHeight, w = g.gridWidth, tiles = tileCount(g)
    let th = (h + 1) / 2, tw = (w + 1) / 2
    winogradTilePipeline(
        tiles: tiles, chunk: gradientTilesPerChunk(g, cin: cin), pieces: max(1, min(Parallel.threads, scratchThreads, tiles / 64)),
        positions: 9, k: 4 * cout, n: cin, weights: flipped, buffers: buffers, perThread: gradientChunkFloats(g, cin: cin),
        bias: nil,
        transform: { d, _, t, row, stride in
            let tx = t % tw, ty = (t / tw) % th, n = t / (tw * th)
            for py in 0..<2 { for px in 0..<2 {
                gatherTile(d, rows: 3, columns: 3, m0: 2 * ty + gradientOrigin[py], l0: 2 * tx + gradientOrigin[px], h: h, w: w, zeros: zeros) { m, l in
                    dy + ((n * 2 * h + 2 * m + py) * 2 * w + 2 * l + px) * cout
                }
                tileInputTransform(d, count: cout, into: row + (py * 2 + px) * cout, stride: stride)
            } }
        },
        write: { writer, _, t, products, stride in
            writer.targetTile(n: t / (tw * th), ty: (t / tw) % th, tx: t % tw, size: 2, h: h, w: w, base: dx, ld: cin)
            tileOutputTransform(products, stride: stride, count: cin, writer)
        })
}

/// gradients[class * 9 + position] = sum over the class's tiles of (B^T d B)^T (A dY A^T) at that
/// position, over chunks of tiles in a fixed order. Each tile's four classes are transformed
/// together, so its 4x4 block of output gradients is read from memory once, not once per class.
/// With 1, 2 or 4 threads each thread takes whole classes (2 threads: one row parity each, so
/// neither reads the other's lines); otherwise, per chunk, the threads transform tiles and then
/// share out the 36 GEMMs (split further into blocks of cin when there are more threads than 36).
/// Either way every sum runs in the same order, so the bits do not depend on the thread count.
private func convTranspose2dWeightGradient(
    x: UnsafePointer<Float>, cin: Int, _ g: PatchGeometry, dy: UnsafePointer<Float>,
    gradients: UnsafeMutablePointer<Float>, zeros: UnsafePointer<Float>, buffers: UnsafeMutablePointer<Float>,
    scratchThreads: Int
) {
    let cout = g.channels, h = g.gridHeight, w = g.gridWidth
    let th = (h + 1) / 2, tw = (w + 1) / 2, tiles = tileCount(g)
    let chunk = weightGradientTiles(g, cin: cin), classFloats = weightGradientClassFloats(g, cin: cin)
    let vs = chunk * cin, zs = chunk * cout
    gradients.update(repeating: 0, count: 36 * cin * cout)
    /// Transforms tiles t0 + lo ..< t0 + hi of `classes` into their chunk buffers, class c's at
    /// v + (c - classes.lowerBound) * classFloats.
    func transform(classes: Range<Int>, t0: Int, _ lo: Int, _ hi: Int, into v: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 9) { d in
            let d = d.baseAddress!
            for t in (t0 + lo)..<(t0 + hi) {
                let tx = t % tw, ty = (t / tw) % th, n = t / (tw * th)
                for c in classes {
                    let py = c / 2, px = c % 2, u = v + (c - classes.lowerBound) * classFloats
                    gatherTile(d, rows: 3, columns: 3, m0: 2 * ty + classOrigin[py], l0: 2 * tx + classOrigin[px], h: h, w: w, zeros: zeros) { m, l in
                        x + ((n * h + m) * w + l) * cin
                    }
                    tileInputTransform(d, count: cin, into: u + (t - t0) * cin, stride: vs)
                    // The class's 2x2 output gradients; outputs past the grid were never written.
                    for a in 0..<2 { for b in 0..<2 {
                        let m = 2 * ty + a, l = 2 * tx + b
                        d[a * 2 + b] = m < h && l < w ? dy + ((n * 2 * h + 2 * m + py) * 2 * w + 2 * l + px) * cout : zeros
                    } }
                    tileGradientTransform(d, count: cout, into: u + 9 * vs + (t - t0) * cout, stride: zs)
                }
            }
        }
    }
    /// gradients of `class`, position `position`, rows lo..<hi (of cin) += this chunk's product,
    /// from the class's buffers at u.
    func accumulate(class c: Int, position: Int, rows lo: Int, _ hi: Int, count: Int, from u: UnsafePointer<Float>) {
        gemm(transA: true, transB: false, m: hi - lo, n: cout, k: count, a: u + position * vs + lo, lda: cin,
             b: u + 9 * vs + position * zs, ldb: cout, beta: 1, c: gradients + ((c * 9 + position) * cin + lo) * cout, ldc: cout,
             split: false)
    }
    let threads = min(Parallel.threads, scratchThreads)
    if 4 % threads == 0 {
        let shared = UnsafeSendable(buffers), share = 4 / threads
        Parallel.forEach(threads) { worker in
            let classes = worker * share ..< (worker + 1) * share, v = shared.value + worker * share * classFloats
            for t0 in stride(from: 0, to: tiles, by: chunk) {
                let count = min(chunk, tiles - t0)
                transform(classes: classes, t0: t0, 0, count, into: v)
                for c in classes {
                    let u = v + (c - classes.lowerBound) * classFloats
                    for position in 0..<9 { accumulate(class: c, position: position, rows: 0, cin, count: count, from: u) }
                }
            }
        }
        return
    }
    let blocks = max(1, min(cin / GEMMSplit.tile, (2 * threads + 35) / 36))
    let workers = min(threads, 36 * blocks)
    for t0 in stride(from: 0, to: tiles, by: chunk) {
        let count = min(chunk, tiles - t0)
        Parallel.forRange(count, minPerThread: 8) { lo, hi in transform(classes: 0..<4, t0: t0, lo, hi, into: buffers) }
        Parallel.forEach(workers) { worker in
            for item in stride(from: worker, to: 36 * blocks, by: workers) {
                let block = item / 36, c = item % 36 / 9
                let lo = cin / GEMMSplit.tile * block / blocks * GEMMSplit.tile
                let hi = block == blocks - 1 ? cin : cin / GEMMSplit.tile * (block + 1) / blocks * GEMMSplit.tile
                accumulate(class: c, position: item % 9, rows: lo, hi, count: count, from: buffers + c * classFloats)
            }
        }
    }
}
