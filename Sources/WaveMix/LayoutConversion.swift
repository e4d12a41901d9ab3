// PyTorch tensors are NCHW; the model computes in NHWC. Conversions at the file boundary.

/// [n, c, h, w] -> [n, h, w, c]
public func nchwToNHWC(_ x: [Float], batch n: Int, channels c: Int, height h: Int, width w: Int) -> [Float] {
    precondition(x.count == n * c * h * w, "nchwToNHWC: \(x.count) values for [\(n), \(c), \(h), \(w)]")
    var y = [Float](repeating: 0, count: x.count)
    for b in 0..<n { for ch in 0..<c { for i in 0..<(h * w) {
        y[(b * h * w + i) * c + ch] = x[(b * c + ch) * h * w + i]
    } } }
    return y
}

/// [n, h, w, c] -> [n, c, h, w]
public func nhwcToNCHW(_ x: [Float], batch n: Int, channels c: Int, height h: Int, width w: Int) -> [Float] {
    precondition(x.count == n * c * h * w, "nhwcToNCHW: \(x.count) values for [\(n), \(h), \(w), \(c)]")
    var y = [Float](repeating: 0, count: x.count)
    for b in 0..<n { for ch in 0..<c { for i in 0..<(h * w) {
        y[(b * c + ch) * h * w + i] = x[(b * h * w + i) * c + ch]
    } } }
    return y
}
