// What the Winograd convolutions (ConvTranspose2d.swift, Conv2dWinograd.swift) share: the size of
// their chunks of tiles, gathering one tile's input pixels, and channel-vector loads and stores
// for their tile transforms.

/// Tiles per chunk, of `total`, for `rowFloats` floats of transformed tiles and `macs`
/// multiply-adds in one GEMM per tile: at most 2 MiB of tiles, so the GEMMs read them from cache
/// right after the transform wrote them; fewer where that keeps each GEMM small enough for
/// OpenBLAS's small-matrix kernel (SmallGEMM, BLAS.swift: 91 -> 111 GFLOP/s on these GEMMs).
func tilesPerChunk(total: Int, rowFloats: Int, macs: Int) -> Int {
    min(chunkRows(total: total, rowFloats: rowFloats, budget: 1 << 19), SmallGEMM.rows(macsPerRow: macs) ?? .max)
}

/// Points d[r * columns + c] at pixel (m0 + r, l0 + c) of an h x w plane (`pixel(m, l)`), or at
/// zeros outside it: one tile's rows x columns inputs.
@inline(__always)
func gatherTile(_ d: UnsafeMutablePointer<UnsafePointer<Float>>, rows: Int, columns: Int, m0: Int, l0: Int, h: Int, w: Int,
                zeros: UnsafePointer<Float>, pixel: (Int, Int) -> UnsafePointer<Float>) {
    d.update(repeating: zeros, count: rows * columns)
    for r in 0..<rows where m0 + r >= 0 && m0 + r < h {
        for c in 0..<columns where l0 + c >= 0 && l0 + c < w { d[r * columns + c] = pixel(m0 + r, l0 + c) }
    }
}

/// Loads and stores of channel vectors for the tile transforms: eight channels at a time, or one
/// (in the first lane of a SIMD2) for the channels past the last multiple of eight. Explicit
/// vectors because with nine inputs or outputs per channel LLVM would not vectorise the channel
/// loop (too many alias checks).
protocol ChannelLanes {
    associatedtype Vector: SIMD where Vector.Scalar == Float
    static var width: Int { get }
    static func load(_ p: UnsafePointer<Float>) -> Vector
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>)
}

enum EightChannels: ChannelLanes {
    static let width = 8
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}

enum OneChannel: ChannelLanes {
    static let width = 1
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD2<Float> { SIMD2(p[0], 0) }
    @inline(__always) static func store(_ v: SIMD2<Float>, _ p: UnsafeMutablePointer<Float>) { p[0] = v[0] }
}

/// Calls `eight(c)` for c = 0, 8, ... while eight channels remain, then `one(c)` for the rest.
@inline(__always)
func forEachChannelVector(_ count: Int, eight: (Int) -> Void, one: (Int) -> Void) {
    var c = 0
    while c + EightChannels.width <= count { eight(c); c += EightChannels.width }
    while c < count { one(c); c += OneChannel.width }
}

/// Where a tile's outputs (row-major, up to 4 x 4) go and what happens to them on the way, so the
/// output transforms write each result once, straight from registers:
/// y = ((z + bias) * scale + shift) + residual, each part optional (the same operations, in the
/// same order, as adding the bias and then applying ChannelEpilogue in separate passes).
/// Outputs past the edge of the image are written to a dummy row instead.
struct TileWriter {
    let bias: UnsafePointer<Float>?
    let epilogue: ChannelEpilogue?
    /// outputs[j] and residuals[j] for the current tile's output j.
    let outputs: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    let residuals: UnsafeMutablePointer<UnsafePointer<Float>>
    let dummy: UnsafeMutablePointer<Float>

    /// Calls body with a writer whose pointer tables live on the stack for the call; `dummy`
    /// holds one row of outputs.
    static func with<R>(bias: UnsafePointer<Float>?, epilogue: ChannelEpilogue?, dummy: UnsafeMutablePointer<Float>,
                        _ body: (TileWriter) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: 16) { outputs in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 16) { residuals in
                body(TileWriter(bias: bias, epilogue: epilogue, outputs: outputs.baseAddress!,
                                residuals: residuals.baseAddress!, dummy: dummy))
            }
        }
    }

    /// Points output j at `output` (nil past the image's edge), pixel `pixel` of the image, and its
    /// residual at the epilogue's row of that pixel.
    @inline(__always)
    func target(_ j: Int, _ output: UnsafeMutablePointer<Float>?, pixel: Int) {
        outputs[j] = output ?? dummy
        if let e = epilogue, let residual = e.residual {
            residuals[j] = output == nil ? UnsafePointer(dummy) : residual + pixel * e.ldr
        }
    }

    /// Points the size x size outputs at the pixels of tile (ty, tx) of image n, in a batch of
    /// h x w images at `base` with row stride ld (the plain layout; the transposed convolution's
    /// forward interleaves its parity classes and targets each output itself).
    @inline(__always)
    func targetTile(n: Int, ty: Int, tx: Int, size: Int, h: Int, w: Int, base: UnsafeMutablePointer<Float>, ld: Int) {
        for a in 0..<size { for b in 0..<size {
            let m = size * ty + a, l = size * tx + b, pixel = (n * h + m) * w + l
            target(a * size + b, m < h && l < w ? base + pixel * ld : nil, pixel: pixel)
        } }
    }

    /// Output j's channels c ..< c + L.width.
    @inline(__always)
    func write<L: ChannelLanes>(_ z: L.Vector, _ j: Int, at c: Int, _: L.Type) {
        var v = z
        if let bias { v = v + L.load(bias + c) }
        if let e = epilogue {
            v = v * L.load(e.scale + c) + L.load(e.shift + c)
            if e.residual != nil { v = v + L.load(residuals[j] + c) }
        }
        L.store(v, outputs[j] + c)
    }
}

/// The pipeline the Winograd passes with plain square output tiles share (the 3x3 convolution's
/// forward and dx, the transposed convolution's dx): the tiles are split evenly over `pieces`
/// threads, each with its own `perThread` floats of chunk buffers at buffers + piece * perThread.
/// Per chunk of at most `chunk` tiles, `transform(d, temp, t, row, stride)` writes tile t's
/// transformed inputs at row, row + stride, ... (`d` holds room for 36 pixel pointers, `temp` for
/// 36 channel vectors); then `positions` GEMMs multiply [tiles][k] by weights[position] [k][n];
/// then `write(writer, temp, t, products, stride)` sends tile t's products out. Every tile is
/// computed the same way whatever the split.
@inline(__always)
func winogradTilePipeline(
    tiles: Int, chunk: Int, pieces: Int, positions: Int, k: Int, n: Int, weights: UnsafePointer<Float>,
    buffers: UnsafeMutablePointer<Float>, perThread: Int, bias: UnsafePointer<Float>?,
    transform: (_ d: UnsafeMutablePointer<UnsafePointer<Float>>, _ temp: UnsafeMutablePointer<Float>, _ t: Int,
                _ row: UnsafeMutablePointer<Float>, _ stride: Int) -> Void,
    write: (_ writer: TileWriter, _ temp: UnsafeMutablePointer<Float>, _ t: Int, _ products: UnsafePointer<Float>, _ stride: Int) -> Void
) {
    let shared = UnsafeSendable(buffers)
    Parallel.forEach(pieces) { piece in
        let vs = chunk * k, ps = chunk * n
        let v = shared.value + piece * perThread, product = v + positions * vs, tileOut = product + positions * ps
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 36) { d in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 36 * EightChannels.width) { temp in
            let d = d.baseAddress!, temp = temp.baseAddress!
            TileWriter.with(bias: bias, epilogue: nil, dummy: tileOut) { writer in
                forEachChunk(rows: tiles, piece: piece, of: pieces, chunk: chunk) { t0, t1 in
                    for t in t0..<t1 { transform(d, temp, t, v + (t - t0) * k, vs) }
                    for position in 0..<positions {
                        gemm(transA: false, transB: false, m: t1 - t0, n: n, k: k, a: v + position * vs, lda: k,
                             b: weights + position * k * n, ldb: n, beta: 0, c: product + position * ps, ldc: n, split: false)
                    }
                    for t in t0..<t1 { write(writer, temp, t, product + (t - t0) * n, ps) }
                }
            }
        }
        }
    }
}

/// B_y^T d B_x for one tile: d holds its Y.points x X.points input pixels (row-major), each
/// `count` channels; point i goes to out + i * stride. `temp` holds the row transforms
/// (Y.points * X.points * 8 floats).
@inline(__always)
func tileInput<Y: WinogradAxis, X: WinogradAxis>(
    _: Y.Type, _: X.Type, _ d: UnsafePointer<UnsafePointer<Float>>, count: Int, temp: UnsafeMutablePointer<Float>,
    into out: UnsafeMutablePointer<Float>, stride: Int
) {
    @inline(__always) func transform<L: ChannelLanes>(_: L.Type, at c: Int) {
        let nx = X.points, lane = EightChannels.width
        for r in 0..<Y.points {
            X.input({ L.load(d[r * nx + $0] + c) }, { L.store($1, temp + (r * nx + $0) * lane) })
        }
        for j in 0..<nx {
            Y.input({ L.load(temp + ($0 * nx + j) * lane) }, { L.store($1, out + ($0 * nx + j) * stride + c) })
        }
    }
    forEachChannelVector(count, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
}

/// A_y^T P A_x for one tile: its points' products of `count` channels at p + i * stride -> the
/// tile's Y.outputs x X.outputs outputs (row-major), through `writer`.
@inline(__always)
func tileOutput<Y: WinogradAxis, X: WinogradAxis>(
    _: Y.Type, _: X.Type, _ p: UnsafePointer<Float>, stride: Int, count: Int, temp: UnsafeMutablePointer<Float>, _ writer: TileWriter
) {
    @inline(__always) func transform<L: ChannelLanes>(_ lanes: L.Type, at c: Int) {
        let nx = X.points, mx = X.outputs, lane = EightChannels.width
        for i in 0..<Y.points {
            X.output({ L.load(p + (i * nx + $0) * stride + c) }, { L.store($1, temp + (i * mx + $0) * lane) })
        }
        for b in 0..<mx {
            Y.output({ L.load(temp + ($0 * mx + b) * lane) }, { writer.write($1, $0 * mx + b, at: c, lanes) })
        }
    }
    forEachChannelVector(count, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
}
