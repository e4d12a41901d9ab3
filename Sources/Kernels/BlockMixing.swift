// A one-level wave block's token mixing in eval mode as one pass: the reduction, the Haar level
// and the feed-forward, chunk by chunk of image-row pairs. Run as separate passes, the wavelet
// level (a quarter of the block's pixels, 4 * reduced channels) goes to memory and comes back for
// the feed-forward; here it stays in cache. Training keeps the level for the backward and does
// not use this.

/// Floats of `buffers` reductionHaarFeedForward needs: per thread, a chunk of reduction output,
/// its wavelet level and the feed-forward's hidden activations; 0 where the fused kernels do not
/// apply (no small-matrix kernel).
public func reductionHaarFeedForwardBufferCount(width: Int, cin: Int, reduced: Int, hidden: Int, cout: Int, threads: Int) -> Int {
    guard let pairs = reductionHaarPairsPerChunk(width: width, cin: cin, cout: reduced),
          let rows = feedForwardChunkRows(cin: 4 * reduced, hidden: hidden, cout: cout) else { return 0 }
    return (pairs * 2 * width * reduced + pairs * width / 2 * 4 * reduced + 2 * rows * hidden) * max(1, threads)
}

/// y = feedForward(haarForward(reduction(x))) without dropout: x [batch, height, width, cin]
/// (pixel stride ldx) -> y [batch, height/2, width/2, project.cout] (stride ldy). Bitwise
/// reductionHaarForward then feedForwardForward (the same chunks of each, every row computed the
/// same way). Only where reductionHaarFeedForwardBufferCount is non-zero.
public func reductionHaarFeedForward(
    x: UnsafePointer<Float>, ldx: Int, batch: Int, height: Int, width: Int,
    reduction: DenseWeights, expand: DenseWeights, project: DenseWeights,
    y: UnsafeMutablePointer<Float>, ldy: Int, buffers: UnsafeMutablePointer<Float>, bufferThreads: Int
) {
    let c = reduction.cout, level = 4 * c, hidden = expand.cout, half = width / 2, pairs = batch * (height / 2)
    precondition(expand.cin == level && project.cin == hidden,
                 "reductionHaarFeedForward: \(c) reduced channels give a level of \(level), expand takes \(expand.cin)")
    guard let chunk = reductionHaarPairsPerChunk(width: width, cin: reduction.cin, cout: c),
          let rowsPerChunk = feedForwardChunkRows(cin: level, hidden: hidden, cout: project.cout) else {
        preconditionFailure("reductionHaarFeedForward needs OpenBLAS's small-matrix kernel")
    }
    let pieces = max(1, min(Parallel.threads, bufferThreads, (pairs + chunk - 1) / chunk))
    let perThread = reductionHaarFeedForwardBufferCount(width: width, cin: reduction.cin, reduced: c, hidden: hidden,
                                                        cout: project.cout, threads: 1)
    let out = UnsafeSendable(y), shared = UnsafeSendable(buffers)
    Parallel.forEach(pieces) { piece in
        let reduced = shared.value + piece * perThread, levelRows = reduced + chunk * 2 * width * c
        let expanded = levelRows + chunk * half * level, activated = expanded + rowsPerChunk * hidden
        let end = pairs * (piece + 1) / pieces
        forEachChunk(rows: pairs, piece: piece, of: pieces, chunk: chunk) { p0, p1 in
            reductionHaarChunk(x: x, ldx: ldx, width: width, reduction: reduction, pairs: p0..<p1, prefetchBefore: end,
                               reduced: reduced, y: levelRows, ldy: level)
            // The level's rows in feedForwardForward's chunks (rows are computed alike in any chunk).
            forEachChunk(rows: (p1 - p0) * half, piece: 0, of: 1, chunk: rowsPerChunk) { r0, r1 in
                feedForwardChunk(expand: expand, project: project, a: levelRows + r0 * level, lda: level, rows: r1 - r0,
                                 mask: nil, expanded: expanded, activated: activated,
                                 y: out.value + (p0 * half + r0) * ldy, ldy: ldy)
            }
        }
    }
}
