// nn.Conv2d(k3, s1, p1) in Winograd tiles, NHWC: the stems' 3x3 convolutions once they have
// channels enough for GEMMs (the first one, on the image's 1-3 channels, stays im2col).
// Forward: F(4x4, 3x3) (FourOutputsOfThreeTaps on both axes): per 4x4 tile of outputs, the 6x6
// input tile (B^T d B) and the 3x3 kernel (G g G^T) go to 6x6, are multiplied position by
// position (36 GEMMs over tiles, K = cin) and come back through A^T M A: 36 multiplications per
// 16 outputs where F(2x2, 3x3) needs 64 and direct 144 (Lavin & Gray, 2016). Tiles at the far
// edges overhang the image (zeros in, outputs dropped).
// Backward: dx is the same convolution of dy through the kernel flipped in both axes with its
// channel axes swapped; dW is the Winograd weight gradient G^T [sum over tiles (B^T d B) x
// (A dY A^T)] G in F(2x2, 3x3) tiles: sixteen GEMMs with K = tiles, over chunks of tiles in a
// fixed order.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].

/// Whether conv2dForward/conv2dBackward take the Winograd path for this geometry: below
/// `winogradMinChannels` on either side the GEMMs get too thin (K = cin forward, cout for dx).
func winogradApplies(_ g: PatchGeometry, cout: Int) -> Bool {
    g.kernel == 3 && g.stride == 1 && g.pad == 1 && g.gridHeight == g.height && g.gridWidth == g.width
        && min(g.channels, cout) >= winogradMinChannels
}

private let winogradMinChannels = 8

/// The forward's (and dx's) tile axis, and its positions per tile.
private typealias Axis = FourOutputsOfThreeTaps
private let positions = Axis.points * Axis.points

/// 4x4 tiles of the forward and dx, and 2x2 tiles of dW.
private func tileCount(_ g: PatchGeometry) -> Int {
    g.batch * ((g.height + Axis.outputs - 1) / Axis.outputs) * ((g.width + Axis.outputs - 1) / Axis.outputs)
}
private func gradientTileCount(_ g: PatchGeometry) -> Int { g.batch * ((g.height + 1) / 2) * ((g.width + 1) / 2) }

/// Tiles per chunk of a convolution from `cin` to `cout` channels: transformed inputs
/// [36][tiles][cin] and products [36][tiles][cout].
private func tilesPerChunk(_ g: PatchGeometry, cin: Int, cout: Int) -> Int {
    tilesPerChunk(total: tileCount(g), rowFloats: positions * (cin + cout), macs: cin * cout)
}

/// One thread's chunk buffers for a convolution from `cin` to `cout`, plus a row of outputs past
/// the image's edge.
private func chunkFloats(_ g: PatchGeometry, cin: Int, cout: Int) -> Int {
    positions * tilesPerChunk(g, cin: cin, cout: cout) * (cin + cout) + cout
}

/// dW's chunks: transformed inputs [16][tiles][cin] and output gradients [16][tiles][cout].
private func gradientTilesPerChunk(_ g: PatchGeometry, cin: Int, cout: Int) -> Int {
    tilesPerChunk(total: gradientTileCount(g), rowFloats: 16 * (cin + cout), macs: cin * cout)
}

func conv2dWinogradScratchCount(_ g: PatchGeometry, cout: Int, threads: Int) -> Int {
    let cin = g.channels, threads = max(1, threads)
    let forward = positions * cin * cout + max(cin, cout) + threads * chunkFloats(g, cin: cin, cout: cout)
    let backward = (positions + 16) * cin * cout + max(cin, cout)
        + max(threads * chunkFloats(g, cin: cout, cout: cin), 16 * gradientTilesPerChunk(g, cin: cin, cout: cout) * (cin + cout))
    return max(forward, backward)
}

func conv2dWinogradForward(
    x: UnsafePointer<Float>, _ g: PatchGeometry, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, cout: Int,
    y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, scratchThreads: Int
) {
    let cin = g.channels
    // weights[position] is [cin, cout]: G k G^T of each [cout, cin] kernel.
    let weights = scratch, zeros = scratch + positions * cin * cout
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
    let flipped = scratch, gradients = scratch + positions * plane, zeros = gradients + 16 * plane
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

/// y = conv3x3(x) + bias through transformed weights [36][cin][cout] (g: x's geometry, `cin`
/// channels). The tiles are split evenly over up to `scratchThreads` threads, each with its own
/// chunk buffer in `buffers`; every output is computed the same way whatever the split.
private func winogradConvolve(
    x: UnsafePointer<Float>, cin: Int, _ g: PatchGeometry, weights: UnsafePointer<Float>, cout: Int,
    bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, zeros: UnsafePointer<Float>,
    buffers: UnsafeMutablePointer<Float>, scratchThreads: Int
) {
    let size = Axis.outputs, h = g.height, w = g.width, th = (h + size - 1) / size, tw = (w + size - 1) / size
    let tiles = tileCount(g), out = y
    winogradTilePipeline(
        tiles: tiles, chunk: tilesPerChunk(g, cin: cin, cout: cout), pieces: max(1, min(Parallel.threads, scratchThreads, tiles / 64)),
        positions: positions, k: cin, n: cout, weights: weights, buffers: buffers, perThread: chunkFloats(g, cin: cin, cout: cout),
        bias: bias,
        transform: { d, temp, t, row, stride in
            let tx = t % tw, ty = (t / tw) % th, n = t / (tw * th)
            gatherTile(d, rows: Axis.points, columns: Axis.points, m0: size * ty - 1, l0: size * tx - 1, h: h, w: w, zeros: zeros) { m, l in
                x + ((n * h + m) * w + l) * cin
            }
            tileInput(Axis.self, Axis.self, d, count: cin, temp: temp, into: row, stride: stride)
        },
        write: { writer, temp, t, products, stride in
            writer.targetTile(n: t / (tw * th), ty: (t / tw) % th, tx: t % tw, size: size, h: h, w: w, base: out, ld: cout)
            tileOutput(Axis.self, Axis.self, products, stride: stride, count: cout, temp: temp, writer)
        })
}

/// gradients[position] = sum over tiles of (B^T d B)^T (A dY A^T) at that position, over chunks
/// of tiles in a fixed order: per chunk the threads transform tiles, then share out the sixteen
/// GEMMs, so every sum runs in the same order whatever the thread count.
private func winogradWeightGradient(
    x: UnsafePointer<Float>, _ g: PatchGeometry, dy: UnsafePointer<Float>, cout: Int,
    gradients: UnsafeMutablePointer<Float>, zeros: UnsafePointer<Float>, buffer: UnsafeMutablePointer<Float>
) {
    let cin = g.channels, h = g.height, w = g.width, th = (h + 1) / 2, tw = (w + 1) / 2, tiles = gradientTileCount(g)
    let chunk = gradientTilesPerChunk(g, cin: cin, cout: cout), vs = chunk * cin, zs = chunk * cout
    let v = buffer, z = buffer + 16 * vs
    gradients.update(repeating: 0, count: 16 * cin * cout)
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

/// G k G^T of the 3x3 kernel k (row-major; `flipped`: reversed in both axes) for F(4x4, 3x3):
/// position i * 6 + j goes to out[(i * 6 + j) * stride].
@inline(__always)
private func kernelTransform(_ k: UnsafePointer<Float>, flipped: Bool, into out: UnsafeMutablePointer<Float>, stride: Int) {
    let n = Axis.points
    // Rows of k as vectors over its three columns, then the rows of G k (6 x 3) through G again.
    let row = { (r: Int) in
        flipped ? SIMD4(k[8 - 3 * r], k[7 - 3 * r], k[6 - 3 * r], 0) : SIMD4(k[3 * r], k[3 * r + 1], k[3 * r + 2], 0)
    }
    Axis.kernel(row(0), row(1), row(2)) { i, gk in
        Axis.kernel(SIMD2(gk[0], 0), SIMD2(gk[1], 0), SIMD2(gk[2], 0)) { j, u in out[(i * n + j) * stride] = u[0] }
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
