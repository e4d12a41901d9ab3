// Direct-loop twins of the GEMM-backed kernels: the oracles the fast versions are tested against.
// NHWC activations, PyTorch weight layouts.

func naiveConv2d(x: [Float], n: Int, h: Int, w: Int, cin: Int, weight: [Float], bias: [Float]?, cout: Int,
                 k: Int, stride: Int, pad: Int) -> (y: [Float], ho: Int, wo: Int) {
    let ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1
    var y = [Float](repeating: 0, count: n * ho * wo * cout)
    for b in 0..<n { for oy in 0..<ho { for ox in 0..<wo { for co in 0..<cout {
        var s = Double(bias?[co] ?? 0)
        for ci in 0..<cin { for ky in 0..<k { for kx in 0..<k {
            let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
            if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
            s += Double(x[((b * h + iy) * w + ix) * cin + ci]) * Double(weight[((co * cin + ci) * k + ky) * k + kx])
        } } }
        y[((b * ho + oy) * wo + ox) * cout + co] = Float(s)
    } } } }
    return (y, ho, wo)
}

/// dL/dx and dL/dW of naiveConv2d for output gradient dy, by the same direct loops in Double.
func naiveConv2dBackward(x: [Float], n: Int, h: Int, w: Int, cin: Int, weight: [Float], dy: [Float], cout: Int,
                         k: Int, stride: Int, pad: Int) -> (dx: [Float], dW: [Float]) {
    let ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1
    var dx = [Double](repeating: 0, count: x.count), dW = [Double](repeating: 0, count: weight.count)
    for b in 0..<n { for oy in 0..<ho { for ox in 0..<wo { for co in 0..<cout {
        let g = Double(dy[((b * ho + oy) * wo + ox) * cout + co])
        for ci in 0..<cin { for ky in 0..<k { for kx in 0..<k {
            let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
            if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
            let xi = ((b * h + iy) * w + ix) * cin + ci, wi = ((co * cin + ci) * k + ky) * k + kx
            dx[xi] += g * Double(weight[wi])
            dW[wi] += g * Double(x[xi])
        } } }
    } } } }
    return (dx.map { Float($0) }, dW.map { Float($0) })
}

func naiveConvTranspose2d(x: [Float], n: Int, h: Int, w: Int, cin: Int, weight: [Float], bias: [Float]?, cout: Int,
                          k: Int, stride: Int, pad: Int) -> (y: [Float], ho: Int, wo: Int) {
    let ho = (h - 1) * stride - 2 * pad + k, wo = (w - 1) * stride - 2 * pad + k
    var acc = [Double](repeating: 0, count: n * ho * wo * cout)
    for b in 0..<n { for iy in 0..<h { for ix in 0..<w { for ci in 0..<cin {
        let v = Double(x[((b * h + iy) * w + ix) * cin + ci])
        for co in 0..<cout { for ky in 0..<k { for kx in 0..<k {
            let oy = iy * stride - pad + ky, ox = ix * stride - pad + kx
            if oy < 0 || oy >= ho || ox < 0 || ox >= wo { continue }
            acc[((b * ho + oy) * wo + ox) * cout + co] += v * Double(weight[((ci * cout + co) * k + ky) * k + kx])
        } } }
    } } } }
    var y = acc.map { Float($0) }
    if let bias { for i in 0..<y.count { y[i] += bias[i % cout] } }
    return (y, ho, wo)
}

/// dL/dx and dL/dW of naiveConvTranspose2d for output gradient dy, by the same direct loops in Double.
func naiveConvTranspose2dBackward(x: [Float], n: Int, h: Int, w: Int, cin: Int, weight: [Float], dy: [Float], cout: Int,
                                  k: Int, stride: Int, pad: Int) -> (dx: [Float], dW: [Float]) {
    let ho = (h - 1) * stride - 2 * pad + k, wo = (w - 1) * stride - 2 * pad + k
    var dx = [Double](repeating: 0, count: x.count), dW = [Double](repeating: 0, count: weight.count)
    for b in 0..<n { for iy in 0..<h { for ix in 0..<w { for ci in 0..<cin {
        let xi = ((b * h + iy) * w + ix) * cin + ci, v = Double(x[xi])
        for co in 0..<cout { for ky in 0..<k { for kx in 0..<k {
            let oy = iy * stride - pad + ky, ox = ix * stride - pad + kx
            if oy < 0 || oy >= ho || ox < 0 || ox >= wo { continue }
            let g = Double(dy[((b * ho + oy) * wo + ox) * cout + co]), wi = ((ci * cout + co) * k + ky) * k + kx
            dx[xi] += g * Double(weight[wi])
            dW[wi] += g * v
        } } }
    } } } }
    return (dx.map { Float($0) }, dW.map { Float($0) })
}

func naiveDense(x: [Float], rows: Int, cin: Int, weight: [Float], bias: [Float]?, cout: Int) -> [Float] {
    var y = [Float](repeating: 0, count: rows * cout)
    for r in 0..<rows { for co in 0..<cout {
        var s = Double(bias?[co] ?? 0)
        for ci in 0..<cin { s += Double(x[r * cin + ci]) * Double(weight[co * cin + ci]) }
        y[r * cout + co] = Float(s)
    } }
    return y
}
