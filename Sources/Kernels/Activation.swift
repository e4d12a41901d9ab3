// nn.GELU (erf form) and nn.Dropout. erf and exp are the polynomial forms PyTorch's vectorised CPU
// kernels use (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7; a Cephes-style expf), written
// without calls so the loops vectorise, and with fused multiply-adds where ATen's AVX2 erf has
// them (_mm256_fmadd_ps): one rounding per Horner step, and half the instructions.

@inline(__always)
func fastExp(_ v: Float) -> Float {
    let x = min(max(v, -87.33654), 88.72283)
    // Adding 1.5 * 2^23 rounds x*log2(e) to an integer that sits in the low mantissa bits of t.
    let t = x * 1.442695041 + 12_582_912
    let n = t - 12_582_912
    let r = x.addingProduct(n, -0.693359375).addingProduct(n, 2.12194440e-4)
    var p: Float = 1.9875691500e-4
    p = (1.3981999507e-3 as Float).addingProduct(p, r)
    p = (8.3334519073e-3 as Float).addingProduct(p, r)
    p = (4.1665795894e-2 as Float).addingProduct(p, r)
    p = (1.6666665459e-1 as Float).addingProduct(p, r)
    p = (5.0000001201e-1 as Float).addingProduct(p, r)
    p = (r + 1).addingProduct(p, r * r)
    return p * Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) << 23)
}

/// ATen's Vectorized<float>::erf: t = 1 / (p |x| + 1), r = Horner(t), erf = sign(x) (1 - r t exp(-x^2)).
@inline(__always)
func fastErf(_ x: Float) -> Float {
    let a = abs(x)
    let t = 1 / (1 as Float).addingProduct(0.3275911, a)
    var r: Float = 1.061405429
    r = (-1.453152027 as Float).addingProduct(r, t)
    r = (1.421413741 as Float).addingProduct(r, t)
    r = (-0.284496736 as Float).addingProduct(r, t)
    r = (0.254829592 as Float).addingProduct(r, t)
    let e = (1 as Float).addingProduct(-fastExp(-a * a) * t, r)
    return x < 0 ? -e : e
}

@inline(__always)
func geluValue(_ x: Float) -> Float { x * 0.5 * (1 + fastErf(x * 0.70710678118654752)) }

@inline(__always)
func geluDerivative(_ x: Float) -> Float {
    let cdf = 0.5 * (1 + fastErf(x * 0.70710678118654752))
    let pdf = 0.3989422804014327 * fastExp(-0.5 * x * x)
    return cdf.addingProduct(x, pdf)
}

/// A dropout mask: keep[i] is 1 where element i is kept (scaled by `scale` = 1/(1-p), as ATen
/// scales) and 0 where it is dropped. One byte per element instead of a float multiplier: the
/// activation arena holds one mask per block and level, a quarter of the memory.
public struct DropoutMask {
    public let keep: UnsafePointer<UInt8>
    public let scale: Float
    public init(keep: UnsafePointer<UInt8>, scale: Float) { self.keep = keep; self.scale = scale }
    /// 0 or `scale`: bitwise the multiplier a float mask would hold.
    @inline(__always) func multiplier(_ i: Int) -> Float { Float(keep[i]) * scale }
}

/// y = GELU(x) * mask multiplier (nil = no dropout). x and y are contiguous [count]; y may alias x.
public func geluForward(x: UnsafePointer<Float>, mask: DropoutMask?, y: UnsafeMutablePointer<Float>, count: Int) {
    let out = UnsafeSendable(y)
    Parallel.forRange(count, minPerThread: 32_768) { lo, hi in geluElements(x: x, mask: mask, y: out.value, lo..<hi) }
}

/// geluForward's elements `range`, on the calling thread.
@inline(__always)
func geluElements(x: UnsafePointer<Float>, mask: DropoutMask?, y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    if let mask {
        for i in range { y[i] = geluValue(x[i]) * mask.multiplier(i) }
    } else {
        for i in range { y[i] = geluValue(x[i]) }
    }
}

/// The backward's recompute of the forward, keeping what the backward needs: y = GELU(x) * mask
/// multiplier as geluForward writes it, and x overwritten with GELU'(x), so that the backward is
/// `geluBackward(derivative:)`, one multiply pass, instead of a second erf and two exps per element.
/// The bits are those of geluForward and geluBackward(x:).
public func geluRecompute(x: UnsafeMutablePointer<Float>, mask: DropoutMask?, y: UnsafeMutablePointer<Float>, count: Int) {
    let inOut = UnsafeSendable(x), out = UnsafeSendable(y)
    Parallel.forRange(count, minPerThread: 32_768) { lo, hi in
        let x = inOut.value, y = out.value
        // x * cdf is geluValue's x * 0.5 * (1 + erf) bit for bit (halving is exact), and the
        // derivative is geluDerivative's expression.
        @inline(__always) func valueAndDerivative(_ v: Float) -> (Float, Float) {
            let cdf = 0.5 * (1 + fastErf(v * 0.70710678118654752))
            return (v * cdf, cdf.addingProduct(v, 0.3989422804014327 * fastExp(-0.5 * v * v)))
        }
        if let mask {
            for i in lo..<hi { let (value, slope) = valueAndDerivative(x[i]); y[i] = value * mask.multiplier(i); x[i] = slope }
        } else {
            for i in lo..<hi { let (value, slope) = valueAndDerivative(x[i]); y[i] = value; x[i] = slope }
        }
    }
}

/// dx = dy * mask multiplier * derivative, with the derivative from geluRecompute.
public func geluBackward(derivative: UnsafePointer<Float>, mask: DropoutMask?, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>, count: Int) {
    let out = UnsafeSendable(dx)
    Parallel.forRange(count, minPerThread: 32_768) { lo, hi in
        let dx = out.value
        if let mask {
            for i in lo..<hi { dx[i] = dy[i] * mask.multiplier(i) * derivative[i] }
        } else {
            for i in lo..<hi { dx[i] = dy[i] * derivative[i] }
        }
    }
}

/// dx = dy * mask multiplier * GELU'(x). dx may alias dy, but distinct buffers vectorise (LLVM's
/// overlap check sends exact aliasing to the scalar loop).
public func geluBackward(x: UnsafePointer<Float>, mask: DropoutMask?, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>, count: Int) {
    let out = UnsafeSendable(dx)
    Parallel.forRange(count, minPerThread: 32_768) { lo, hi in
        let dx = out.value
        if let mask {
            for i in lo..<hi { dx[i] = dy[i] * mask.multiplier(i) * geluDerivative(x[i]) }
        } else {
            for i in lo..<hi { dx[i] = dy[i] * geluDerivative(x[i]) }
        }
    }
}

/// Dropout keep flags (1 kept, 0 dropped with probability p) for a batch of `samples` x `perSample`
/// elements. Sample s draws from streams keyed (seed, step, layer, id_s, block), where id_s is its
/// index in the data set, so a sample's mask is the same whatever the batch it is in, the world size
/// or the thread count.
public func dropoutMask(samples: Int, perSample: Int, probability p: Float, seed: UInt64, step: UInt64, layer: Int,
                        sampleIDs: UnsafePointer<Int>, into keep: UnsafeMutablePointer<UInt8>) {
    let block = 4096
    let blocksPerSample = (perSample + block - 1) / block
    let out = UnsafeSendable(keep)
    Parallel.forRange(samples * blocksPerSample, minPerThread: 4) { lo, hi in
        for j in lo..<hi {
            let s = j / blocksPerSample, b = j % blocksPerSample
            var rng = SplitMix64(key: seed, step, UInt64(layer), UInt64(sampleIDs[s]), UInt64(b))
            let start = s * perSample + b * block
            for i in start..<(s * perSample + min(perSample, (b + 1) * block)) {
                out.value[i] = rng.nextUniform() < p ? 0 : 1
            }
        }
    }
}
