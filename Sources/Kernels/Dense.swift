// Dense layers over rows of NHWC pixels: a 1x1 convolution and nn.Linear are the same GEMM.
// x: [rows, cin] (row stride ldx), weight: [cout, cin] (PyTorch layout), y: [rows, cout] (ldy).

/// y = x * W^T + b. With `scratch` (cin * cout floats), where OpenBLAS has its small-matrix kernel,
/// the product runs as NN on W^T written there, in chunks for that kernel (gemmInSmallProducts:
/// 1.1-1.3x the packed NT call on these shapes), with the bias added chunk by chunk; every row is
/// then computed the same way whatever the row count, which the fused layers rely on.
public func denseForward(
    x: UnsafePointer<Float>, ldx: Int, rows: Int, cin: Int,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, cout: Int,
    y: UnsafeMutablePointer<Float>, ldy: Int, scratch: UnsafeMutablePointer<Float>? = nil
) {
    if let scratch, SmallGEMM.rows(macsPerRow: cin * cout) != nil {
        transposeWeight(weight, cin: cin, cout: cout, into: scratch)
        gemmInSmallProducts(transA: false, transB: false, m: rows, n: cout, k: cin, a: x, lda: ldx, b: scratch, ldb: cout,
                            beta: 0, c: y, ldc: ldy, bias: bias)
        return
    }
    gemm(transA: false, transB: true, m: rows, n: cout, k: cin,
         a: x, lda: ldx, b: weight, ldb: cin, beta: 0, c: y, ldc: ldy)
    if let bias { addRowVector(bias, to: y, ld: ldy, rows: rows, cols: cout) }
}

/// dW += dy^T x, db += column sums of dy, dx (= or +=) dy * W.
public func denseBackward(
    x: UnsafePointer<Float>, ldx: Int, rows: Int, cin: Int,
    weight: UnsafePointer<Float>, cout: Int,
    dy: UnsafePointer<Float>, lddy: Int,
    dx: UnsafeMutablePointer<Float>?, lddx: Int, accumulateDx: Bool,
    dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?
) {
    gemmInSmallProducts(transA: true, transB: false, m: cout, n: cin, k: rows,
                        a: dy, lda: lddy, b: x, ldb: ldx, beta: 1, c: dWeight, ldc: cin)
    if let dBias { addColumnSums(dy, ld: lddy, rows: rows, cols: cout, into: dBias) }
    if let dx {
        gemmInSmallProducts(transA: false, transB: false, m: rows, n: cin, k: cout,
                            a: dy, lda: lddy, b: weight, ldb: cin, beta: accumulateDx ? 1 : 0, c: dx, ldc: lddx)
    }
}

/// y[r, :] += v for every row.
public func addRowVector(_ v: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int) {
    Parallel.forRange(rows, minPerThread: max(1, 65_536 / max(cols, 1))) { lo, hi in
        for r in lo..<hi {
            let row = y + r * ld
            for c in 0..<cols { row[c] += v[c] }
        }
    }
}

/// out[c] += sum over rows of a[r, c]. Rows are summed in fixed blocks whose partial sums are
/// combined in block order, so the result does not depend on the thread count.
public func addColumnSums(_ a: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
    let block = 256
    let blocks = (rows + block - 1) / block
    withUnsafeTemporaryAllocation(of: Double.self, capacity: max(1, blocks * cols)) { partial in
        let p = UnsafeSendable(partial.baseAddress!)
        Parallel.forRange(blocks, minPerThread: max(1, 16_384 / max(cols * block, 1))) { lo, hi in
            for b in lo..<hi {
                let acc = p.value + b * cols
                acc.update(repeating: 0, count: cols)
                for r in (b * block)..<min(rows, (b + 1) * block) {
                    let row = a + r * ld
                    for c in 0..<cols { acc[c] += Double(row[c]) }
                }
            }
        }
        for c in 0..<cols {
            var s = 0.0
            for b in 0..<blocks { s += partial[b * cols + c] }
            out[c] += Float(s)
        }
    }
}

/// One 1x1 layer of a fused feed-forward: its weight transposed to [cin, cout] (`transposeWeight`)
/// and its bias.
public struct DenseWeights {
    public let weightT: UnsafePointer<Float>, bias: UnsafePointer<Float>?
    public let cin: Int, cout: Int
    public init(weightT: UnsafePointer<Float>, bias: UnsafePointer<Float>?, cin: Int, cout: Int) {
        self.weightT = weightT; self.bias = bias; self.cin = cin; self.cout = cout
    }
}

/// dst [cin, cout] = W^T of a PyTorch-layout weight [cout, cin].
public func transposeWeight(_ weight: UnsafePointer<Float>, cin: Int, cout: Int, into dst: UnsafeMutablePointer<Float>) {
    for co in 0..<cout { for ci in 0..<cin { dst[ci * cout + co] = weight[co * cin + ci] } }
}

/// Rows per chunk of `feedForwardForward`, or nil where it does not apply (no small-matrix
/// kernel, which is what makes its chunks compute every row as the unfused layers do).
public func feedForwardChunkRows(cin: Int, hidden: Int, cout: Int) -> Int? {
    guard let expand = SmallGEMM.rows(macsPerRow: cin * hidden), let project = SmallGEMM.rows(macsPerRow: hidden * cout) else {
        return nil
    }
    return min(expand, project)
}

/// Floats of `buffers` feedForwardForward needs: two chunks of hidden activations per thread.
public func feedForwardBufferCount(cin: Int, hidden: Int, cout: Int, threads: Int) -> Int {
    (feedForwardChunkRows(cin: cin, hidden: hidden, cout: cout) ?? 0) * hidden * 2 * max(1, threads)
}

/// y = project(GELU(expand(x)) * mask multiplier), chunk by chunk of rows, so the [rows, hidden]
/// activations between the layers stay in cache instead of making three passes through memory.
/// Each chunk is what OpenBLAS's small kernel computes in one call, as `denseForward` does for the
/// unfused layers, so every value is bitwise what denseForward, geluForward and denseForward write
/// (the backward recomputes them that way). Only where `feedForwardChunkRows` is non-nil.
public func feedForwardForward(
    x: UnsafePointer<Float>, ldx: Int, rows: Int, expand: DenseWeights, project: DenseWeights, mask: DropoutMask?,
    y: UnsafeMutablePointer<Float>, ldy: Int, buffers: UnsafeMutablePointer<Float>, bufferThreads: Int
) {
    let hidden = expand.cout
    precondition(project.cin == hidden, "feedForwardForward: expand gives \(hidden) channels, project takes \(project.cin)")
    guard let chunk = feedForwardChunkRows(cin: expand.cin, hidden: hidden, cout: project.cout) else {
        preconditionFailure("feedForwardForward needs OpenBLAS's small-matrix kernel")
    }
    let pieces = max(1, min(Parallel.threads, bufferThreads, (rows + chunk - 1) / chunk))
    let out = UnsafeSendable(y), shared = UnsafeSendable(buffers), prefetch = expand.cin >= 128  // as gemmInSmallProducts
    Parallel.forEach(pieces) { piece in
        let expanded = shared.value + piece * 2 * chunk * hidden, activated = expanded + chunk * hidden
        let end = rows * (piece + 1) / pieces
        forEachChunk(rows: rows, piece: piece, of: pieces, chunk: chunk) { r0, r1 in
            if prefetch { prefetchRows(x, ld: ldx, rows: r1..<min(end, 2 * r1 - r0), count: expand.cin) }
            feedForwardChunk(expand: expand, project: project, a: x + r0 * ldx, lda: ldx, rows: r1 - r0,
                             mask: mask.map { DropoutMask(keep: $0.keep + r0 * hidden, scale: $0.scale) },
                             expanded: expanded, activated: activated, y: out.value + r0 * ldy, ldy: ldy)
        }
    }
}

/// One chunk of feedForwardForward (at most feedForwardChunkRows rows) on the calling thread, with
/// `expanded` and `activated` holding its hidden activations.
@inline(__always)
func feedForwardChunk(expand: DenseWeights, project: DenseWeights, a: UnsafePointer<Float>, lda: Int, rows count: Int,
                      mask: DropoutMask?, expanded: UnsafeMutablePointer<Float>, activated: UnsafeMutablePointer<Float>,
                      y: UnsafeMutablePointer<Float>, ldy: Int) {
    let hidden = expand.cout
    // The expand bias is added as GELU loads each value: the same single rounding as denseChunk's
    // (which preloads it into C), without that pass over the chunk.
    smallProduct(transB: false, m: count, n: hidden, k: expand.cin, a: a, lda: lda, b: expand.weightT, ldb: hidden, beta: 0,
                 c: expanded, ldc: hidden, bias: nil)
    if let bias = expand.bias {
        geluBiasRows(x: expanded, bias: bias, channels: hidden, mask: mask, y: activated, rows: count)
    } else {
        geluElements(x: expanded, mask: mask, y: activated, 0..<(count * hidden))
    }
    denseChunk(project, a: activated, lda: hidden, rows: count, c: y, ldc: ldy)
}

/// C (`rows` rows at c, row stride ldc) = bias + A W on the calling thread, as gemmInSmallProducts
/// computes each of its chunks.
@inline(__always)
func denseChunk(_ l: DenseWeights, a: UnsafePointer<Float>, lda: Int, rows count: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
    smallProduct(transB: false, m: count, n: l.cout, k: l.cin, a: a, lda: lda, b: l.weightT, ldb: l.cout, beta: 0, c: c, ldc: ldc,
                 bias: l.bias)
}

/// The feed-forward's backward from the project layer's output gradient to the expand layer's:
/// dU = (dy W) * mask multiplier * GELU'(u), with GELU'(u) in `derivative` (geluRecompute's), chunk
/// by chunk of rows, so dy W stays in cache instead of going to memory and back. Bitwise what
/// denseBackward's dx and geluBackward(derivative:) write. `buffers` as for feedForwardForward
/// (the project layer is [cout, cin] = [ff channels, hidden]).
public func feedForwardInputGradient(
    dy: UnsafePointer<Float>, rows: Int, project weight: UnsafePointer<Float>, cin hidden: Int, cout: Int, expandCin: Int,
    derivative: UnsafePointer<Float>, mask: DropoutMask?, dx: UnsafeMutablePointer<Float>,
    buffers: UnsafeMutablePointer<Float>, bufferThreads: Int
) {
    guard let chunk = feedForwardChunkRows(cin: expandCin, hidden: hidden, cout: cout) else {
        preconditionFailure("feedForwardInputGradient needs OpenBLAS's small-matrix kernel")
    }
    let pieces = max(1, min(Parallel.threads, bufferThreads, (rows + chunk - 1) / chunk))
    let out = UnsafeSendable(dx), shared = UnsafeSendable(buffers)
    Parallel.forEach(pieces) { piece in
        let dActivated = shared.value + piece * 2 * chunk * hidden
        forEachChunk(rows: rows, piece: piece, of: pieces, chunk: chunk) { r0, r1 in
            smallProduct(transB: false, m: r1 - r0, n: hidden, k: cout, a: dy + r0 * cout, lda: cout, b: weight, ldb: hidden,
                         beta: 0, c: dActivated, ldc: hidden, bias: nil)
            let base = r0 * hidden
            geluBackwardElements(derivative: derivative + base, mask: mask.map { DropoutMask(keep: $0.keep + base, scale: $0.scale) },
                                 dy: dActivated, dx: out.value + base, 0..<((r1 - r0) * hidden))
        }
    }
}
