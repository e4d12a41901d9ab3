// One level of the 2D Haar DWT exactly as the official wavemix package computes it
// (DWTForward(J=1, wave='db1', mode='zero') on even sizes): a row filter, then a column filter,
// each tap the float32 0.70710677. For each 2x2 block [a b; c d] and channel ci:
//   LL = (a+b+c+d)/2, band 0 = (a+b-c-d)/2, band 1 = (a-b+c-d)/2, band 2 = (a-b-c+d)/2
// Output layout (NHWC, as the official block's cat(LL, reshape(Yh)) produces it):
//   y[..., ci] = LL of channel ci, y[..., c + 3*ci + band] = detail band of channel ci.
// Input and output may be channel slices of wider buffers (pixel strides ldx, ldy).

/// pywt's db1 tap rounded to float32, as the official package stores its filters.
public let haarTap = Float(0.7071067811865476)

/// x: [n, h, w, c] (stride ldx) -> y: [n, h/2, w/2, 4c] (stride ldy). h and w must be even.
public func haarForward(x: UnsafePointer<Float>, ldx: Int, batch: Int, height: Int, width: Int, channels c: Int,
                        y: UnsafeMutablePointer<Float>, ldy: Int) {
    let h2 = height / 2, w2 = width / 2, t = haarTap
    let out = UnsafeSendable(y)
    Parallel.forRange(batch * h2, minPerThread: max(1, 8192 / max(1, w2 * c))) { lo, hi in
        for row in lo..<hi {
            let n = row / h2, i = row % h2
            let top = x + ((n * height + 2 * i) * width) * ldx, bottom = top + width * ldx
            for j in 0..<w2 {
                let a = top + 2 * j * ldx, b = a + ldx, cc = bottom + 2 * j * ldx, d = cc + ldx
                let o = out.value + ((n * h2 + i) * w2 + j) * ldy
                for ch in 0..<c {
                    let rowLoTop = t * a[ch] + t * b[ch], rowHiTop = t * a[ch] - t * b[ch]
                    let rowLoBottom = t * cc[ch] + t * d[ch], rowHiBottom = t * cc[ch] - t * d[ch]
                    o[ch] = t * rowLoTop + t * rowLoBottom
                    o[c + 3 * ch] = t * rowLoTop - t * rowLoBottom
                    o[c + 3 * ch + 1] = t * rowHiTop + t * rowHiBottom
                    o[c + 3 * ch + 2] = t * rowHiTop - t * rowHiBottom
                }
            }
        }
    }
}

/// The adjoint: dx (= or +=) DWT^T dy, with dy in the layout haarForward writes.
public func haarBackward(dy: UnsafePointer<Float>, lddy: Int, batch: Int, height: Int, width: Int, channels c: Int,
                         dx: UnsafeMutablePointer<Float>, lddx: Int, accumulate: Bool) {
    let h2 = height / 2, w2 = width / 2, t = haarTap
    let out = UnsafeSendable(dx)
    Parallel.forRange(batch * h2, minPerThread: max(1, 8192 / max(1, w2 * c))) { lo, hi in
        for row in lo..<hi {
            let n = row / h2, i = row % h2
            let top = out.value + ((n * height + 2 * i) * width) * lddx, bottom = top + width * lddx
            for j in 0..<w2 {
                let a = top + 2 * j * lddx, b = a + lddx, cc = bottom + 2 * j * lddx, d = cc + lddx
                let g = dy + ((n * h2 + i) * w2 + j) * lddy
                for ch in 0..<c {
                    let ll = g[ch], b0 = g[c + 3 * ch], b1 = g[c + 3 * ch + 1], b2 = g[c + 3 * ch + 2]
                    let rowLoTop = t * ll + t * b0, rowLoBottom = t * ll - t * b0
                    let rowHiTop = t * b1 + t * b2, rowHiBottom = t * b1 - t * b2
                    let ga = t * rowLoTop + t * rowHiTop, gb = t * rowLoTop - t * rowHiTop
                    let gc = t * rowLoBottom + t * rowHiBottom, gd = t * rowLoBottom - t * rowHiBottom
                    if accumulate {
                        a[ch] += ga; b[ch] += gb; cc[ch] += gc; d[ch] += gd
                    } else {
                        a[ch] = ga; b[ch] = gb; cc[ch] = gc; d[ch] = gd
                    }
                }
            }
        }
    }
}
