// The transposed convolution's forward (geometry and parity classes: ConvTranspose2d.swift). Each
// class's 2x2 convolution over its h x w plane of outputs runs in Winograd tiles of 4 x 4 outputs
// (25 points, F(4x4, 2x2)) where the plane allows, and tiles of 4 x 2, 2 x 4 and 2 x 2 outputs
// (15, 15 and 9 points) along its far edges (AxisTiling). A 14 x 14 plane, WaveMix's 28 x 28
// images, takes 324 points per class where 2 x 2 tiles alone take 441: 27% fewer multiplications,
// and the GEMMs over the points are nearly all of this layer's time. Every kind of tile uses its
// points of one 5 x 5 kernel transform per class (TwoTapAxis).
// Per kind of tile, the tiles are split evenly over the threads; per chunk of tiles and class: the
// input transform of each tile, one GEMM per point ([tiles][cin] x [cin][cout]), and the output
// transform, which writes each output once with bias and epilogue. Every output is computed the
// same way whatever the split.

/// A kind of tile: rows and columns of four or of two outputs.
private struct TileKind {
    let fourRows: Bool, fourColumns: Bool
    var points: Int { (fourRows ? FourOutputs.points : TwoOutputs.points) * (fourColumns ? FourOutputs.points : TwoOutputs.points) }
}

/// Points of each class's kernel transform, shared by every kind of tile.
private let classPositions = FourOutputs.points * FourOutputs.points

/// The kinds of tile of a geometry's class planes, and how many of each an image has.
private struct ForwardPlan {
    let rows: AxisTiling, columns: AxisTiling
    let kinds: [(kind: TileKind, tilesPerImage: Int)]

    init(_ g: PatchGeometry) {
        rows = AxisTiling(g.gridHeight)
        columns = AxisTiling(g.gridWidth)
        var kinds: [(kind: TileKind, tilesPerImage: Int)] = []
        for fourRows in [true, false] { for fourColumns in [true, false] {
            let tiles = rows.count(fourOutputs: fourRows) * columns.count(fourOutputs: fourColumns)
            if tiles > 0 { kinds.append((TileKind(fourRows: fourRows, fourColumns: fourColumns), tiles)) }
        } }
        self.kinds = kinds
    }

    func chunk(_ kind: TileKind, tiles: Int, cin: Int, cout: Int) -> Int {
        tilesPerChunk(total: tiles, rowFloats: kind.points * (cin + cout), macs: cin * cout)
    }

    /// One thread's chunk buffers, for the largest kind: transformed inputs [points][tiles][cin],
    /// products [points][tiles][cout], and a row for the outputs past the image's edge.
    func chunkFloats(_ g: PatchGeometry, cin: Int) -> Int {
        let cout = g.channels
        let largest = kinds.map { entry in
            entry.kind.points * chunk(entry.kind, tiles: g.batch * entry.tilesPerImage, cin: cin, cout: cout) * (cin + cout)
        }.max() ?? 0
        return largest + cout
    }
}

/// Floats of scratch the forward needs: transformed weights of the four classes, a row of zeros,
/// and one set of chunk buffers per thread for up to `threads` threads (first holding the taps).
func convTranspose2dForwardScratchCount(_ g: PatchGeometry, cin: Int, threads: Int) -> Int {
    let plan = ForwardPlan(g), plane = cin * g.channels
    return convTranspose2dClassKernelCount(cin: cin, cout: g.channels) + cin
        + max(16 * plane, max(1, threads) * plan.chunkFloats(g, cin: cin))
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

/// Floats of a transposed convolution's class kernels (convTranspose2dClassKernels).
public func convTranspose2dClassKernelCount(cin: Int, cout: Int) -> Int { 4 * classPositions * cin * cout }

/// The forward's transformed weight: each parity class's 5 x 5 kernel transform, point (i, j) of
/// class `parity` as [cin, cout] at kernels + (parity * 25 + i * 5 + j) * cin * cout. `scratch`
/// holds the kernel's taps (16 * cin * cout floats).
public func convTranspose2dClassKernels(weight: UnsafePointer<Float>, cin: Int, cout: Int, into kernels: UnsafeMutablePointer<Float>,
                                        scratch: UnsafeMutablePointer<Float>) {
    let plane = cin * cout
    splitTaps(weight, plane: plane, into: scratch)
    let taps = UnsafeSendable(scratch), classes = UnsafeSendable(kernels)
    Parallel.forRange(4, minPerThread: 1) { lo, hi in
        for parity in lo..<hi {
            transformClassKernel(taps: taps.value, plane: plane, parity: parity, into: classes.value + parity * classPositions * plane)
        }
    }
}

/// y (row stride `ldy`, default cout) = convT(x) + bias, then `epilogue` when given. Each kind of
/// tile is split evenly over up to `scratchThreads` threads (what `scratch` was sized for).
/// `classKernels`: the weight's convTranspose2dClassKernels, when the caller keeps them (they are
/// built in `scratch` otherwise).
public func convTranspose2dForward(
    x: UnsafePointer<Float>, cin: Int, _ g: PatchGeometry,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, ldy: Int? = nil, epilogue: ChannelEpilogue? = nil,
    classKernels: UnsafePointer<Float>? = nil, scratch: UnsafeMutablePointer<Float>, scratchThreads: Int = 1
) {
    precondition(g.kernel == 4 && g.stride == 2 && g.pad == 1 && g.height == 2 * g.gridHeight && g.width == 2 * g.gridWidth,
                 "convTranspose2dForward implements kernel 4, stride 2, padding 1")
    let cout = g.channels, plan = ForwardPlan(g)
    let zeros = scratch + convTranspose2dClassKernelCount(cin: cin, cout: cout), buffers = zeros + cin
    zeros.update(repeating: 0, count: cin)
    let weights = classKernels ?? {
        // The chunk buffers hold the taps: they are free until the tiles start.
        convTranspose2dClassKernels(weight: weight, cin: cin, cout: cout, into: scratch, scratch: buffers)
        return UnsafePointer(scratch)
    }()
    let tiling = OutputTiling(x: x, cin: cin, g: g, ldy: ldy ?? cout, y: y, zeros: zeros, bias: bias, epilogue: epilogue)
    let perThread = plan.chunkFloats(g, cin: cin)
    for entry in plan.kinds {
        let tiles = g.batch * entry.tilesPerImage
        let chunk = plan.chunk(entry.kind, tiles: tiles, cin: cin, cout: cout)
        withKind(entry.kind, ForwardKind(tiling: tiling, rows: plan.rows, columns: plan.columns, tiles: tiles, chunk: chunk,
                                         weights: weights, buffers: buffers, perThread: perThread, scratchThreads: scratchThreads))
    }
}

/// Work generic over a kind's axis types, run for each kind by `withKind` (a generic method on a
/// concrete type, so every kind gets its own specialised code).
private protocol KindWork {
    func run<Y: TwoTapAxis, X: TwoTapAxis>(_: Y.Type, _: X.Type)
}

@inline(__always)
private func withKind(_ kind: TileKind, _ work: some KindWork) {
    switch (kind.fourRows, kind.fourColumns) {
    case (true, true): work.run(FourOutputs.self, FourOutputs.self)
    case (true, false): work.run(FourOutputs.self, TwoOutputs.self)
    case (false, true): work.run(TwoOutputs.self, FourOutputs.self)
    case (false, false): work.run(TwoOutputs.self, TwoOutputs.self)
    }
}

private struct ForwardKind: KindWork {
    let tiling: OutputTiling, rows: AxisTiling, columns: AxisTiling, tiles: Int, chunk: Int
    let weights: UnsafePointer<Float>, buffers: UnsafeMutablePointer<Float>, perThread: Int, scratchThreads: Int
    func run<Y: TwoTapAxis, X: TwoTapAxis>(_: Y.Type, _: X.Type) {
        forwardTiles(Y.self, X.self, tiling, rows: rows, columns: columns, tiles: tiles, chunk: chunk, weights: weights,
                     buffers: buffers, perThread: perThread, scratchThreads: scratchThreads)
    }
}

/// What every kind of tile reads and writes.
private struct OutputTiling {
    let x: UnsafePointer<Float>, cin: Int, g: PatchGeometry, ldy: Int
    let y: UnsafeMutablePointer<Float>, zeros: UnsafePointer<Float>
    let bias: UnsafePointer<Float>?, epilogue: ChannelEpilogue?
}

/// The kernel's 16 taps as planes of [cin, cout], so the class transforms run over channel vectors:
/// taps[tap * cin * cout + ci * cout + co] = weight[(ci * cout + co) * 16 + tap].
private func splitTaps(_ weight: UnsafePointer<Float>, plane: Int, into taps: UnsafeMutablePointer<Float>) {
    let out = UnsafeSendable(taps)
    Parallel.forRange(plane, minPerThread: 4096) { lo, hi in
        for i in lo..<hi { for tap in 0..<16 { out.value[tap * plane + i] = weight[i * 16 + tap] } }
    }
}

/// U = G k G^T (twoTapKernel on both axes) of class `parity` (py * 2 + px)'s 2x2 kernel slice:
/// point (i, j) of (ci, co) goes to u[(i * 5 + j) * cin * cout + ci * cout + co].
private func transformClassKernel(taps: UnsafePointer<Float>, plane: Int, parity: Int, into u: UnsafeMutablePointer<Float>) {
    let (py, px) = (parity / 2, parity % 2), n = FourOutputs.points, lane = EightChannels.width
    let (y0, y1, x0, x1) = (classTaps[py][0] * 4, classTaps[py][1] * 4, classTaps[px][0], classTaps[px][1])
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * n * lane) { rows in
        let top = rows.baseAddress!, bottom = top + n * lane
        @inline(__always) func transform<L: ChannelLanes>(_: L.Type, at c: Int) {
            let tap = { (index: Int) in L.load(taps + index * plane + c) }
            twoTapKernel(tap(y0 + x0), tap(y0 + x1)) { L.store($1, top + $0 * lane) }
            twoTapKernel(tap(y1 + x0), tap(y1 + x1)) { L.store($1, bottom + $0 * lane) }
            for j in 0..<n {
                twoTapKernel(L.load(top + j * lane), L.load(bottom + j * lane)) { i, value in L.store(value, u + (i * n + j) * plane + c) }
            }
        }
        forEachChannelVector(plane, eight: { transform(EightChannels.self, at: $0) }, one: { transform(OneChannel.self, at: $0) })
    }
}

private func forwardTiles<Y: TwoTapAxis, X: TwoTapAxis>(
    _: Y.Type, _: X.Type, _ o: OutputTiling, rows: AxisTiling, columns: AxisTiling, tiles: Int, chunk: Int,
    weights: UnsafePointer<Float>, buffers: UnsafeMutablePointer<Float>, perThread: Int, scratchThreads: Int
) {
    let cin = o.cin, cout = o.g.channels, h = o.g.gridHeight, w = o.g.gridWidth, ldy = o.ldy
    let (ny, nx, my, mx) = (Y.points, X.points, Y.outputs, X.outputs), points = ny * nx
    let tileRows = rows.count(fourOutputs: my == 4), tileColumns = columns.count(fourOutputs: mx == 4)
    /// Image, first class-plane row and column of tile t.
    func origin(_ t: Int) -> (n: Int, m0: Int, l0: Int) {
        let column = t % tileColumns, row = (t / tileColumns) % tileRows
        return (t / (tileColumns * tileRows), rows.start(fourOutputs: my == 4, row), columns.start(fourOutputs: mx == 4, column))
    }
    // One piece per thread, each worth at least a few GEMM tiles.
    let pieces = max(1, min(Parallel.threads, scratchThreads, tiles / 64))
    let shared = UnsafeSendable((buffers: buffers, y: o.y))
    Parallel.forEach(pieces) { piece in
        let vs = chunk * cin, ps = chunk * cout
        let v = shared.value.buffers + piece * perThread, product = v + points * vs, dummy = product + points * ps
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 25) { pixels in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 25 * EightChannels.width) { temp in
        TileWriter.with(bias: o.bias, epilogue: o.epilogue, dummy: dummy) { writer in
            let d = pixels.baseAddress!, t8 = temp.baseAddress!
            forEachChunk(rows: tiles, piece: piece, of: pieces, chunk: chunk) { t0, t1 in
                for py in 0..<2 { for px in 0..<2 {
                    for t in t0..<t1 {
                        let (n, m0, l0) = origin(t)
                        gatherTile(d, rows: ny, columns: nx, m0: m0 + classOrigin[py], l0: l0 + classOrigin[px],
                                   h: h, w: w, zeros: o.zeros) { m, l in o.x + ((n * h + m) * w + l) * cin }
                        tileInput(Y.self, X.self, d, count: cin, temp: t8, into: v + (t - t0) * cin, stride: vs)
                    }
                    /// Calls body(j, pixel, inside) for output j of tile t: its pixel in the image, and
                    /// whether the image has it (tiles along the far edges may overhang).
                    @inline(__always) func forEachOutput(_ t: Int, _ body: (Int, Int, Bool) -> Void) {
                        let (n, m0, l0) = origin(t)
                        for a in 0..<my { for b in 0..<mx {
                            let m = m0 + a, l = l0 + b
                            body(a * mx + b, (n * 2 * h + 2 * m + py) * 2 * w + 2 * l + px, m < h && l < w)
                        } }
                    }
                    let u = weights + (py * 2 + px) * classPositions * cin * cout
                    for i in 0..<ny { for j in 0..<nx {
                        let point = i * nx + j, classPoint = Y.sharedPoint(i) * FourOutputs.points + X.sharedPoint(j)
                        // The outputs (and residual rows) come from memory: a share of them is
                        // fetched into L2 while each GEMM computes, so the output transforms below
                        // find them in cache instead of waiting on each line.
                        for t in (t0 + (t1 - t0) * point / points)..<(t0 + (t1 - t0) * (point + 1) / points) {
                            forEachOutput(t) { _, pixel, inside in
                                guard inside else { return }
                                prefetchLines(shared.value.y + pixel * ldy, floats: cout, l2: true)
                                if let e = o.epilogue, let residual = e.residual, residual != UnsafePointer(shared.value.y) {
                                    prefetchLines(residual + pixel * e.ldr, floats: cout, l2: true)
                                }
                            }
                        }
                        gemm(transA: false, transB: false, m: t1 - t0, n: cout, k: cin, a: v + point * vs, lda: cin,
                             b: u + classPoint * cin * cout, ldb: cout, beta: 0, c: product + point * ps, ldc: cout, split: false)
                    } }
                    for t in t0..<t1 {
                        forEachOutput(t) { j, pixel, inside in
                            writer.target(j, inside ? shared.value.y + pixel * ldy : nil, pixel: pixel)
                        }
                        tileOutput(Y.self, X.self, product + (t - t0) * cout, stride: ps, count: cout, temp: t8, writer)
                    }
                } }
            }
        }
        }
        }
    }
}
