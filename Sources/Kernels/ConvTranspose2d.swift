// nn.ConvTranspose2d (WaveMix uses k4 s2 p1, doubling the resolution), NHWC: one GEMM of the input
// pixels against the weight permuted from PyTorch's [cin, cout, k, k] to [cin, k, k, cout], then
// col2im scatters each pixel's k*k*cout contributions into the output. Geometry: image = output
// (height = (h-1)*stride - 2*pad + k), grid = input.

public func convTranspose2dScratchCount(_ g: PatchGeometry, cin: Int) -> Int {
    let chunk = chunkRows(total: g.rows, rowFloats: g.patchSize)
    return 2 * cin * g.patchSize + chunk * g.patchSize
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

public func convTranspose2dForward(
    x: UnsafePointer<Float>, cin: Int, _ g: PatchGeometry,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
) {
    let patch = g.patchSize, taps = g.kernel * g.kernel, cout = g.channels
    let wp = scratch, cols = scratch + 2 * cin * patch
    permuteTransposedWeight(weight, cin: cin, cout: cout, taps: taps, into: wp)
    let outRows = g.batch * g.height * g.width
    if let bias {
        Parallel.forRange(outRows, minPerThread: max(1, 65_536 / cout)) { lo, hi in
            for r in lo..<hi { (y + r * cout).update(from: bias, count: cout) }
        }
    } else {
        y.update(repeating: 0, count: outRows * cout)
    }
    let chunk = chunkRows(total: g.rows, rowFloats: patch)
    var q0 = 0
    while q0 < g.rows {
        let q1 = min(g.rows, q0 + chunk)
        gemm(transA: false, transB: false, m: q1 - q0, n: patch, k: cin,
             a: x + q0 * cin, lda: cin, b: wp, ldb: patch, beta: 0, c: cols, ldc: patch)
        col2im(cols, g, rows: q0, q1, into: y)
        q0 = q1
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
