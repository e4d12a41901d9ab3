// nn.ConvTranspose2d(k4, s2, p1), the transposed convolution WaveMix uses to double the
// resolution, NHWC. PyTorch's weight is [cin, cout, 4, 4]; geometry: image = output
// (2h x 2w x cout), grid = input (h x w).
// Forward: four sub-pixel convolutions. Output pixel (2m + py, 2l + px) sums a 2x2 neighbourhood of
// input pixels through the 2x2 slice of the kernel that belongs to its parity class (py, px), so
// every output is written once, with no scatter-add of overlapping 4x4 patches. Each class's 2x2
// convolution runs as Winograd F(2x2, 2x2): per 2x2 tile of a class's outputs, the 3x3 input tile
// and the 2x2 kernel slice are transformed to 3x3 (additions only), multiplied position by
// position (nine GEMMs over tiles, K = cin) and transformed back: 9 multiplications where direct
// needs 16, with GEMMs that OpenBLAS runs as fast as the direct form's (K = cin runs at the same
// GFLOP/s as K = 4 cin on these shapes).
// Backward: im2col of the output gradient with the full 4x4 kernel, then one GEMM each for dx and dW.

/// Per axis and output parity p (0 even, 1 odd): the input offset of a class tile's first input
/// row, and the kernel taps that meet the tile's inputs in increasing order. Output 2m lies under
/// input m-1 (tap 3) and m (tap 1); output 2m+1 under input m (tap 2) and m+1 (tap 0).
private let classOrigin = [-1, 0]
private let classTaps = [[3, 1], [2, 0]]
/// Floats of transformed tiles per forward chunk: 2 MiB, so the GEMMs read them from cache right
/// after the transform wrote them.
private let tileChunkBudget = 1 << 19

/// Floats of scratch the forward and backward need; the forward gets one chunk buffer per thread
/// for up to `threads` threads.
public func convTranspose2dScratchCount(_ g: PatchGeometry, cin: Int, threads: Int = 1) -> Int {
    let backward = 2 * cin * g.patchSize + chunkRows(total: g.rows, rowFloats: g.patchSize) * g.patchSize
    let forward = 36 * cin * g.channels + cin + max(1, threads) * tileChunkFloats(g, cin: cin)
    return max(backward, forward)
}

private func tileCount(_ g: PatchGeometry) -> Int { g.batch * ((g.gridHeight + 1) / 2) * ((g.gridWidth + 1) / 2) }

private func tilesPerChunk(_ g: PatchGeometry, cin: Int) -> Int {
    chunkRows(total: tileCount(g), rowFloats: 9 * (cin + g.channels), budget: tileChunkBudget)
}

/// Transformed inputs [9][tiles][cin], products [9][tiles][cout], one tile's outputs [4][cout].
private func tileChunkFloats(_ g: PatchGeometry, cin: Int) -> Int {
    tilesPerChunk(g, cin: cin) * 9 * (cin + g.channels) + 4 * g.channels
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

/// y (row stride `ldy`, default cout) = convT(x) + bias, then `epilogue` when given. The tiles are
/// split evenly over up to `scratchThreads` threads (what `scratch` was sized for); each thread
/// transforms, multiplies and writes its own chunks, so the whole call is one parallel region.
/// Every output is computed the same way whatever the split.
public func convTranspose2dForward(
    x: UnsafePointer<Float>, cin: Int, _ g: PatchGeometry,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, ldy: Int? = nil, epilogue: ChannelEpilogue? = nil,
    scratch: UnsafeMutablePointer<Float>, scratchThreads: Int = 1
) {
    precondition(g.kernel == 4 && g.stride == 2 && g.pad == 1 && g.height == 2 * g.gridHeight && g.width == 2 * g.gridWidth,
                 "convTranspose2dForward implements kernel 4, stride 2, padding 1")
    let cout = g.channels, h = g.gridHeight, w = g.gridWidth, ldy = ldy ?? g.channels
    let th = (h + 1) / 2, tw = (w + 1) / 2, tiles = tileCount(g)
    // Transformed class weights: weights[(class * 9 + position)] is [cin, cout], G g G^T of the
    // class's 2x2 slice with G = [1 0; 1 1; 0 1] (taps in input order).
    let weights = scratch, zeros = scratch + 36 * cin * cout
    zeros.update(repeating: 0, count: cin)
    for py in 0..<2 { for px in 0..<2 {
        let u = weights + (py * 2 + px) * 9 * cin * cout
        let (y0, y1, x0, x1) = (classTaps[py][0] * 4, classTaps[py][1] * 4, classTaps[px][0], classTaps[px][1])
        for ci in 0..<cin { for co in 0..<cout {
            let k = weight + (ci * cout + co) * 16
            let (g00, g01, g10, g11) = (k[y0 + x0], k[y0 + x1], k[y1 + x0], k[y1 + x1])
            // Row i of G g (along y), then G along x into positions 3i, 3i + 1, 3i + 2.
            func put(_ i: Int, _ g0: Float, _ g1: Float) {
                u[((i * 3 + 0) * cin + ci) * cout + co] = g0
                u[((i * 3 + 1) * cin + ci) * cout + co] = g0 + g1
                u[((i * 3 + 2) * cin + ci) * cout + co] = g1
            }
            put(0, g00, g01); put(1, g00 + g10, g01 + g11); put(2, g10, g11)
        } }
    } }
    let chunk = tilesPerChunk(g, cin: cin)
    // One piece per thread, each worth at least a few GEMM tiles.
    let pieces = max(1, min(Parallel.threads, scratchThreads, tiles / 64))
    if let observe = GEMMShape.observer {  // the pieces' GEMMs, for the profiler
        for piece in 0..<pieces {
            forEachChunk(rows: tiles, piece: piece, of: pieces, chunk: chunk) { t0, t1 in
                for _ in 0..<36 { observe(GEMMShape(transA: false, transB: false, m: t1 - t0, n: cout, k: cin, accumulate: false)) }
            }
        }
    }
    let out = UnsafeSendable(y), buffers = UnsafeSendable(zeros + cin)
    Parallel.forEach(pieces) { piece in
        let v = buffers.value + piece * tileChunkFloats(g, cin: cin), product = v + 9 * chunk * cin
        let tileOut = product + 9 * chunk * cout
        let d = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: 9)  // one tile's input pixels
        defer { d.deallocate() }
        forEachChunk(rows: tiles, piece: piece, of: pieces, chunk: chunk) { t0, t1 in
            let count = t1 - t0
            for py in 0..<2 { for px in 0..<2 {
                // Input transform B^T d B, B^T = [1 -1 0; 0 1 0; 0 -1 1], on each tile's 3x3 inputs.
                let oy = classOrigin[py], ox = classOrigin[px]
                for t in t0..<t1 {
                    let tx = t % tw, ty = (t / tw) % th, n = t / (tw * th)
                    let m0 = 2 * ty + oy, l0 = 2 * tx + ox
                    d.update(repeating: UnsafePointer(zeros), count: 9)
                    for r in 0..<3 where m0 + r >= 0 && m0 + r < h {
                        for c in 0..<3 where l0 + c >= 0 && l0 + c < w { d[r * 3 + c] = x + ((n * h + m0 + r) * w + l0 + c) * cin }
                    }
                    tileInputTransform(UnsafePointer(d), count: cin, into: v + (t - t0) * cin, stride: chunk * cin)
                }
                let u = weights + (py * 2 + px) * 9 * cin * cout
                for position in 0..<9 {
                    gemm(transA: false, transB: false, m: count, n: cout, k: cin, a: v + position * chunk * cin, lda: cin,
                         b: u + position * cin * cout, ldb: cout, beta: 0, c: product + position * chunk * cout, ldc: cout,
                         split: false)
                }
                // Output transform A^T M A, A^T = [1 1 0; 0 1 1], then bias, epilogue, write-out.
                for t in t0..<t1 {
                    let tx = t % tw, ty = (t / tw) % th, n = t / (tw * th)
                    tileOutputTransform(product + (t - t0) * cout, stride: chunk * cout, count: cout, into: tileOut)
                    for a in 0..<2 { for b in 0..<2 {
                        let m = 2 * ty + a, l = 2 * tx + b
                        guard m < h, l < w else { continue }
                        let src = tileOut + (a * 2 + b) * cout
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
                    } }
                }
            } }
        }
    }
}

/// Loads and stores of channel vectors for the tile transforms: eight channels at a time, or one
/// (in the first lane of a SIMD2) for the channels past the last multiple of eight. Explicit
/// vectors because with nine inputs or outputs per channel LLVM would not vectorise the channel
/// loop (too many alias checks).
private protocol ChannelLanes {
    associatedtype Vector: SIMD where Vector.Scalar == Float
    static var width: Int { get }
    static func load(_ p: UnsafePointer<Float>) -> Vector
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>)
}

private enum EightChannels: ChannelLanes {
    static let width = 8
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}

private enum OneChannel: ChannelLanes {
    static let width = 1
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD2<Float> { SIMD2(p[0], 0) }
    @inline(__always) static func store(_ v: SIMD2<Float>, _ p: UnsafeMutablePointer<Float>) { p[0] = v[0] }
}

/// Calls `eight(c)` for c = 0, 8, ... while eight channels remain, then `one(c)` for the rest.
@inline(__always)
private func forEachChannelVector(_ count: Int, eight: (Int) -> Void, one: (Int) -> Void) {
    var c = 0
    while c + EightChannels.width <= count { eight(c); c += EightChannels.width }
    while c < count { one(c); c += OneChannel.width }
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
/// p + i * stride -> the tile's four outputs (row-major 2x2) at out, out + count, ...
@inline(__always)
private func tileOutputTransform(_ p: UnsafePointer<Float>, stride: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
    @inline(__always) func transform<L: ChannelLanes>(_: L.Type, at c: Int) {
        let q = p + c
        let z00 = L.load(q) + L.load(q + stride), z01 = L.load(q + stride) + L.load(q + 2 * stride)
        let z10 = L.load(q + 3 * stride) + L.load(q + 4 * stride), z11 = L.load(q + 4 * stride) + L.load(q + 5 * stride)
        let z20 = L.load(q + 6 * stride) + L.load(q + 7 * stride), z21 = L.load(q + 7 * stride) + L.load(q + 8 * stride)
        let o = out + c
        L.store(z00 + z10, o); L.store(z01 + z11, o + count); L.store(z10 + z20, o + 2 * count); L.store(z11 + z21, o + 3 * count)
    }
    forEachChannelVector(count, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
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
