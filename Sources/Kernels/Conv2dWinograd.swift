// nn.Conv2d(k3, s1, p1) as Winograd F(2x2, 3x3), NHWC: the stems' 3x3 convolutions once they have
// channels enough for GEMMs (the first one, on the image's 1-3 channels, stays im2col). Per 2x2
// tile of outputs, the 4x4 input tile (B^T d B) and the 3x3 kernel (G g G^T) go to 4x4, are
// multiplied position by position (sixteen GEMMs over tiles, K = cin) and come back through
// A^T M A: 16 multiplications per tile where direct needs 36 (Lavin & Gray, 2016).
// Backward: dx is the same convolution of dy through the kernel flipped in both axes with its
// channel axes swapped; dW is the Winograd weight gradient G^T [sum over tiles (B^T d B) x
// (A dY A^T)] G: sixteen GEMMs with K = tiles, over chunks of tiles in a fixed order.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].

/// Whether conv2dForward/conv2dBackward take the Winograd path for this geometry: below
/// `winogradMinChannels` on either side the GEMMs get too thin (K = cin forward, cout for dx).
func winogradApplies(_ g: PatchGeometry, cout: Int) -> Bool {
    g.kernel == 3 && g.stride == 1 && g.pad == 1 && g.gridHeight == g.height && g.gridWidth == g.width
        && min(g.channels, cout) >= winogradMinChannels
}

private let winogradMinChannels = 8

private func tileCount(_ g: PatchGeometry) -> Int { g.batch * ((g.height + 1) / 2) * ((g.width + 1) / 2) }

/// Tiles per chunk of a convolution from `cin` to `cout` channels: transformed inputs [16][tiles][cin]
/// and products [16][tiles][cout] (the forward and dx), or transformed inputs and output gradients
/// (dW, the same sizes).
private func tilesPerChunk(_ g: PatchGeometry, cin: Int, cout: Int) -> Int {
    tilesPerChunk(total: tileCount(g), rowFloats: 16 * (cin + cout), macs: cin * cout)
}

/// One thread's chunk buffers for a convolution from `cin` to `cout`, plus one tile's outputs [4][cout].
private func chunkFloats(_ g: PatchGeometry, cin: Int, cout: Int) -> Int {
    16 * tilesPerChunk(g, cin: cin, cout: cout) * (cin + cout) + 4 * cout
}

func conv2dWinogradScratchCount(_ g: PatchGeometry, cout: Int, threads: Int) -> Int {
    let cin = g.channels, threads = max(1, threads)
    let forward = 16 * cin * cout + max(cin, cout) + threads * chunkFloats(g, cin: cin, cout: cout)
    let backward = 32 * cin * cout + max(cin, cout)
        + max(threads * chunkFloats(g, cin: cout, cout: cin), chunkFloats(g, cin: cin, cout: cout))
    return max(forward, backward)
}

func conv2dWinogradForward(
    x: UnsafePointer<Float>, _ g: PatchGeometry, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, cout: Int,
    y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, scratchThreads: Int
) {
    let cin = g.channels
    // weights[position] is [cin, cout]: G k G^T of each [cout, cin] kernel.
    let weights = scratch, zeros = scratch + 16 * cin * cout
    zeros.update(repeating: 0, count: max(cin, cout))
    for co in 0..<cout { for ci in 0..<cin {
        kernelTransform(weight + (co * cin + ci) * 9, flipped: false, into: weights + ci * cout + co, stride: cin * cout)
    } }
    winogradConvolve(x: x, cin: cin, g, weights: weights, cout: cout, bias: bias, y: y, zeros: zeros,
                     buffers: zeros + max(cin, cout), scratchThreads: scratchThreads)
}

/// dx = dL/dx (overwritten; nil for the network input), dWeight += dL/dW. dx's
/// tiles are split over up to `scratchThreads` threads; dW's chunks are transformed by all threads
/// and their sixteen GEMMs shared out, so the bits do not depend on the thread count.
func conv2dWinogradBackward(
    x: UnsafePointer<Float>, _ g: PatchGeometry, weight: UnsafePointer<Float>, cout: Int, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutablePointer<Float>, scratchThreads: Int
) {
    let cin = g.channels, plane = cin * cout
    // flipped[position] is [cout, cin]: G k' G^T of each kernel flipped in both axes.
    // gradients[position] is dL/dU, [cin, cout].
    let flipped = scratch, gradients = scratch + 16 * plane, zeros = gradients + 16 * plane
    let buffers = zeros + max(cin, cout)
    zeros.update(repeating: 0, count: max(cin, cout))
    if let dx {
        for co in 0..<cout { for ci in 0..<cin {
            kernelTransform(weight + (co * cin + ci) * 9, flipped: true, into: flipped + co * cin + ci, stride: plane)
        } }
        let dyGeometry = PatchGeometry(batch: g.batch, height: g.height, width: g.width, channels: cout, kernel: 3,
                                       stride: 1, pad: 1, gridHeight: g.height, gridWidth: g.width)
        winogradConvolve(x: dy, cin: cout, dyGeometry, weights: flipped, cout: cin, bias: nil, y: dx, zeros: zeros,
                         buffers: buffers, scratchThreads: scratchThreads)
    }
    winogradWeightGradient(x: x, g, dy: dy, cout: cout, gradients: gradients, zeros: zeros, buffer: buffers)
    // dW += G^T (dL/dU) G, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1].
    for ci in 0..<cin { for co in 0..<cout {
        let q = gradients + ci * cout + co, k = dWeight + (co * cin + ci) * 9
        // Column j of G^T D as a vector over its three rows, from column j of D; then times G.
        @inline(__always) func column(_ j: Int) -> SIMD4<Float> {
            let d0 = q[j * plane], d1 = q[(4 + j) * plane], d2 = q[(8 + j) * plane], d3 = q[(12 + j) * plane]
            return SIMD4(d0 + 0.5 * (d1 + d2), 0.5 * (d1 - d2), 0.5 * (d1 + d2) + d3, 0)
        }
        let (c0, c1, c2, c3) = (column(0), column(1), column(2), column(3))
        let w0 = c0 + 0.5 * (c1 + c2), w1 = 0.5 * (c1 - c2), w2 = 0.5 * (c1 + c2) + c3
        for i in 0..<3 { k[i * 3] += w0[i]; k[i * 3 + 1] += w1[i]; k[i * 3 + 2] += w2[i] }
    } }
}

/// y = conv3x3(x) + bias through transformed weights [16][cin][cout] (g: x's geometry, `cin`
/// channels). The tiles are split evenly over up to `scratchThreads` threads, each with its own
/// chunk buffer in `buffers`; every output is computed the same way whatever the split.
private func winogradConvolve(
    x: UnsafePointer<Float>, cin: Int, _ g: PatchGeometry, weights: UnsafePointer<Float>, cout: Int,
    bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, zeros: UnsafePointer<Float>,
    buffers: UnsafeMutablePointer<Float>, scratchThreads: Int
) {
    let h = g.height, w = g.width, th = (h + 1) / 2, tw = (w + 1) / 2, tiles = tileCount(g)
    let out = y
    winogradTilePipeline(
        tiles: tiles, chunk: tilesPerChunk(g, cin: cin, cout: cout), pieces: max(1, min(Parallel.threads, scratchThreads, tiles / 64)),
        positions: 16, k: cin, n: cout, weights: weights, buffers: buffers, perThread: chunkFloats(g, cin: cin, cout: cout),
        bias: bias,
        transform: { d, t, row, stride in
            let tx = t % tw, ty = (t / tw) % th, n = t / (tw * th)
            gatherTile(d, rows: 4, columns: 4, m0: 2 * ty - 1, l0: 2 * tx - 1, h: h, w: w, zeros: zeros) { m, l in x + ((n * h + m) * w + l) * cin }
            tileInputTransform(d, count: cin, into: row, stride: stride)
        },
        write: { writer, t, products, stride in
            writer.targetTile(n: t / (tw * th), ty: (t / tw) % th, tx: t % tw, h: h, w: w, base: out, ld: cout)
            tileOutputTransform(products, stride: stride, count: cout, writer)
        })
}

/// gradients[position] = sum over tiles of (B^T d B)^T (A dY A^T) at that position, over chunks
/// of tiles in a fixed order: per chunk the threads transform tiles, then share out the sixteen
/// GEMMs, so every sum runs in the same order whatever the thread count.
private func winogradWeightGradient(
    x: UnsafePointer<Float>, _ g: PatchGeometry, dy: UnsafePointer<Float>, cout: Int,
    gradients: UnsafeMutablePointer<Float>, zeros: UnsafePointer<Float>, buffer: UnsafeMutablePointer<Float>
) {
    let cin = g.channels, h = g.height, w = g.width, th = (h + 1) / 2, tw = (w + 1) / 2, tiles = tileCount(g)
    let chunk = tilesPerChunk(g, cin: cin, cout: cout), vs = chunk * cin, zs = chunk * cout
    let v = buffer, z = buffer + 16 * vs
    gradients.update(repeating: 0, count: 16 * cin * cout)
    if let observe = GEMMShape.observer {
        for t0 in stride(from: 0, to: tiles, by: chunk) {
            for _ in 0..<16 { observe(GEMMShape(transA: true, transB: false, m: cin, n: cout, k: min(chunk, tiles - t0), accumulate: true)) }
        }
    }
    let workers = min(Parallel.threads, 16), shared = UnsafeSendable(buffer)
    for t0 in stride(from: 0, to: tiles, by: chunk) {
        let count = min(chunk, tiles - t0)
        Parallel.forRange(count, minPerThread: 16) { lo, hi in
            let v = shared.value, z = v + 16 * vs
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 16) { d in
                let d = d.baseAddress!
                for t in (t0 + lo)..<(t0 + hi) {
                    let tx = t % tw, ty = (t / tw) % th, n = t / (tw * th)
                    gatherTile(d, rows: 4, columns: 4, m0: 2 * ty - 1, l0: 2 * tx - 1, h: h, w: w, zeros: zeros) { m, l in
                        x + ((n * h + m) * w + l) * cin
                    }
                    tileInputTransform(d, count: cin, into: v + (t - t0) * cin, stride: vs)
                    // The tile's 2x2 output gradients; outputs past the image do not exist.
                    for a in 0..<2 { for b in 0..<2 {
                        let m = 2 * ty + a, l = 2 * tx + b
                        d[a * 2 + b] = m < h && l < w ? dy + ((n * h + m) * w + l) * cout : zeros
                    } }
                    tileGradientTransform(d, count: cout, into: z + (t - t0) * cout, stride: zs)
                }
            }
        }
        Parallel.forEach(workers) { worker in
            for position in stride(from: worker, to: 16, by: workers) {
                gemm(transA: true, transB: false, m: cin, n: cout, k: count, a: v + position * vs, lda: cin,
                     b: z + position * zs, ldb: cout, beta: 1, c: gradients + position * cin * cout, ldc: cout, split: false)
            }
        }
    }
}

/// G k G^T, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1], of the 3x3 kernel k (row-major; `flipped`:
/// reversed in both axes): position i * 4 + j goes to out[(i * 4 + j) * stride].
@inline(__always)
private func kernelTransform(_ k: UnsafePointer<Float>, flipped: Bool, into out: UnsafeMutablePointer<Float>, stride: Int) {
    // Columns j of G k as vectors over the rows i.
    var columns = (SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>())
    for j in 0..<3 {
        let tap = { (r: Int) in flipped ? k[8 - r * 3 - j] : k[r * 3 + j] }
        let (k0, k1, k2) = (tap(0), tap(1), tap(2))
        let column = SIMD4(k0, 0.5 * (k0 + k1 + k2), 0.5 * (k0 - k1 + k2), k2)
        if j == 0 { columns.0 = column } else if j == 1 { columns.1 = column } else { columns.2 = column }
    }
    let (c0, c1, c2) = columns
    let u1 = 0.5 * (c0 + c1 + c2), u2 = 0.5 * (c0 - c1 + c2)
    for i in 0..<4 {
        out[(i * 4) * stride] = c0[i]; out[(i * 4 + 1) * stride] = u1[i]
        out[(i * 4 + 2) * stride] = u2[i]; out[(i * 4 + 3) * stride] = c2[i]
    }
}

/// B^T d B for one tile: d holds the 4x4 input pixels (row-major), each `count` channels; output
/// position i goes to out + i * stride.
@inline(__always)
private func tileInputTransform(_ d: UnsafePointer<UnsafePointer<Float>>, count: Int, into out: UnsafeMutablePointer<Float>, stride: Int) {
    @inline(__always) func transform<L: ChannelLanes>(_: L.Type, at c: Int) {
        @inline(__always) func at(_ i: Int) -> L.Vector { L.load(d[i] + c) }
        let o = out + c
        // Rows of B^T d, then each row times B.
        @inline(__always) func row(_ i: Int, _ t0: L.Vector, _ t1: L.Vector, _ t2: L.Vector, _ t3: L.Vector) {
            let p = o + 4 * i * stride
            L.store(t0 - t2, p); L.store(t1 + t2, p + stride); L.store(t2 - t1, p + 2 * stride); L.store(t1 - t3, p + 3 * stride)
        }
        row(0, at(0) - at(8), at(1) - at(9), at(2) - at(10), at(3) - at(11))
        row(1, at(4) + at(8), at(5) + at(9), at(6) + at(10), at(7) + at(11))
        row(2, at(8) - at(4), at(9) - at(5), at(10) - at(6), at(11) - at(7))
        row(3, at(4) - at(12), at(5) - at(13), at(6) - at(14), at(7) - at(15))
    }
    forEachChannelVector(count, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
}

/// A^T M A for one tile: the sixteen products of `count` channels at p + i * stride -> the tile's
/// four outputs, through `writer`.
@inline(__always)
private func tileOutputTransform(_ p: UnsafePointer<Float>, stride: Int, count: Int, _ writer: TileWriter) {
    @inline(__always) func transform<L: ChannelLanes>(_ lanes: L.Type, at c: Int) {
        @inline(__always) func m(_ i: Int) -> L.Vector { L.load(p + i * stride + c) }
        // Rows of A^T M (s0 = m_0 + m_1 + m_2, s1 = m_1 - m_2 - m_3 over M's rows), then times A.
        let s00 = m(0) + m(4) + m(8), s01 = m(1) + m(5) + m(9), s02 = m(2) + m(6) + m(10), s03 = m(3) + m(7) + m(11)
        let s10 = m(4) - m(8) - m(12), s11 = m(5) - m(9) - m(13), s12 = m(6) - m(10) - m(14), s13 = m(7) - m(11) - m(15)
        writer.write(s00 + s01 + s02, 0, at: c, lanes); writer.write(s01 - s02 - s03, 1, at: c, lanes)
        writer.write(s10 + s11 + s12, 2, at: c, lanes); writer.write(s11 - s12 - s13, 3, at: c, lanes)
    }
    forEachChannelVector(count, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
}

/// A dY A^T for one tile of output gradients, A = [1 0; 1 1; 1 -1; 0 -1]: y holds the 2x2
/// gradient pixels (row-major), each `count` channels; position i goes to out + i * stride.
@inline(__always)
private func tileGradientTransform(_ y: UnsafePointer<UnsafePointer<Float>>, count: Int, into out: UnsafeMutablePointer<Float>, stride: Int) {
    @inline(__always) func transform<L: ChannelLanes>(_: L.Type, at c: Int) {
        let y00 = L.load(y[0] + c), y01 = L.load(y[1] + c), y10 = L.load(y[2] + c), y11 = L.load(y[3] + c)
        let o = out + c
        @inline(__always) func row(_ i: Int, _ a: L.Vector, _ b: L.Vector) {
            let p = o + 4 * i * stride
            L.store(a, p); L.store(a + b, p + stride); L.store(a - b, p + 2 * stride); L.store(-b, p + 3 * stride)
        }
        row(0, y00, y01)
        row(1, y00 + y10, y01 + y11)
        row(2, y00 - y10, y01 - y11)
        row(3, -y10, -y11)
    }
    forEachChannelVector(count, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
}
