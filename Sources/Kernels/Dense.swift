// Dense layers over rows of NHWC pixels: a 1x1 convolution and nn.Linear are the same GEMM.
// x: [rows, cin] (row stride ldx), weight: [cout, cin] (PyTorch layout), y: [rows, cout] (ldy).

/// y = x * W^T + b. With `scratch` (cin * cout floats) a tall product runs as NN on W^T written
/// there, in chunks for OpenBLAS's small-matrix kernel (gemmInSmallProducts: 1.1-1.3x the packed
/// NT call on these shapes), with the bias added chunk by chunk.
public func denseForward(
    x: UnsafePointer<Float>, ldx: Int, rows: Int, cin: Int,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, cout: Int,
    y: UnsafeMutablePointer<Float>, ldy: Int, scratch: UnsafeMutablePointer<Float>? = nil
) {
    if let scratch, let chunk = SmallGEMM.rows(macsPerRow: cin * cout), rows > chunk {
        for co in 0..<cout { for ci in 0..<cin { scratch[ci * cout + co] = weight[co * cin + ci] } }
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
