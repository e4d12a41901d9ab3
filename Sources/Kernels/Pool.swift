// nn.AdaptiveAvgPool2d(1) over NHWC: x [n, hw, c] -> y [n, c].

public func globalAveragePoolForward(x: UnsafePointer<Float>, batch: Int, pixels: Int, channels c: Int,
                                     y: UnsafeMutablePointer<Float>) {
    let out = UnsafeSendable(y)
    Parallel.forRange(batch, minPerThread: max(1, 65_536 / max(1, pixels * c))) { lo, hi in
        withUnsafeTemporaryAllocation(of: Double.self, capacity: c) { acc in
            for n in lo..<hi {
                acc.initialize(repeating: 0)
                for p in 0..<pixels {
                    let row = x + (n * pixels + p) * c
                    for ch in 0..<c { acc[ch] += Double(row[ch]) }
                }
                for ch in 0..<c { out.value[n * c + ch] = Float(acc[ch] / Double(pixels)) }
            }
        }
    }
}

/// dx[n, p, :] (+)= dy[n, :] / pixels.
public func globalAveragePoolBackward(dy: UnsafePointer<Float>, batch: Int, pixels: Int, channels c: Int,
                                      dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let out = UnsafeSendable(dx)
    let inv = 1 / Float(pixels)
    Parallel.forRange(batch * pixels, minPerThread: max(1, 65_536 / max(1, c))) { lo, hi in
        for r in lo..<hi {
            let g = dy + (r / pixels) * c, d = out.value + r * c
            if accumulate { for ch in 0..<c { d[ch] += g[ch] * inv } } else { for ch in 0..<c { d[ch] = g[ch] * inv } }
        }
    }
}
