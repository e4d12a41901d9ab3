// nn.GELU (erf form): the element loops. erf and exp are the polynomial forms PyTorch's vectorised
// CPU kernels use (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7; a Cephes-style expf),
// written without calls so the loops vectorise, and with fused multiply-adds where ATen's AVX2 erf
// has them (_mm256_fmadd_ps): one rounding per Horner step, and half the instructions.
//
// The module's files are compiled twice: as VectorLoops for the package's baseline CPU, and as
// VectorLoopsAVX512 (Sources/VectorLoopsAVX512 holds links to them) for AVX-512, where these loops
// run 1.7-2.4x faster (32 vector registers hold the polynomials' constants; 64-bit vector
// multiplies for the random streams). Kernels picks one at run time (ElementLoops). Every
// operation is an IEEE single operation, an explicit FMA or integer arithmetic, so both builds give
// the same bits.

@inlinable @inline(__always)
public func fastExp(_ v: Float) -> Float {
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
@inlinable @inline(__always)
public func fastErf(_ x: Float) -> Float {
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

@inlinable @inline(__always)
public func geluValue(_ x: Float) -> Float { x * 0.5 * (1 + fastErf(x * 0.70710678118654752)) }

@inlinable @inline(__always)
public func geluDerivative(_ x: Float) -> Float {
    let cdf = 0.5 * (1 + fastErf(x * 0.70710678118654752))
    let pdf = 0.3989422804014327 * fastExp(-0.5 * x * x)
    return cdf.addingProduct(x, pdf)
}

/// y[i] = GELU(x[i]) * multiplier for i in lo..<hi, the multiplier keep[i] * scale (the dropout
/// mask) or 1 without keep. y may alias x.
public func geluForwardRange(x: UnsafePointer<Float>, keep: UnsafePointer<UInt8>?, scale: Float,
                             y: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int) {
    if let keep {
        for i in lo..<hi { y[i] = geluValue(x[i]) * (Float(keep[i]) * scale) }
    } else {
        for i in lo..<hi { y[i] = geluValue(x[i]) }
    }
}

/// geluForwardRange of x plus a per-channel bias: for rows r in lo..<hi of `channels` elements,
/// y[r, c] = GELU(x[r, c] + bias[c]) * multiplier. y may alias x.
public func geluBiasForwardRows(x: UnsafePointer<Float>, bias: UnsafePointer<Float>, channels: Int, keep: UnsafePointer<UInt8>?,
                                scale: Float, y: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int) {
    for r in lo..<hi {
        let x = x + r * channels, y = y + r * channels
        if let keep {
            let keep = keep + r * channels
            for c in 0..<channels { y[c] = geluValue(x[c] + bias[c]) * (Float(keep[c]) * scale) }
        } else {
            for c in 0..<channels { y[c] = geluValue(x[c] + bias[c]) }
        }
    }
}

/// For i in lo..<hi: y[i] = GELU(x[i]) * multiplier as geluForwardRange writes it, and x[i] =
/// GELU'(x[i]) (geluDerivative's bits).
public func geluRecomputeRange(x: UnsafeMutablePointer<Float>, keep: UnsafePointer<UInt8>?, scale: Float,
                               y: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int) {
    // x * cdf is geluValue's x * 0.5 * (1 + erf) bit for bit (halving is exact), and the
    // derivative is geluDerivative's expression.
    @inline(__always) func valueAndDerivative(_ v: Float) -> (Float, Float) {
        let cdf = 0.5 * (1 + fastErf(v * 0.70710678118654752))
        return (v * cdf, cdf.addingProduct(v, 0.3989422804014327 * fastExp(-0.5 * v * v)))
    }
    if let keep {
        for i in lo..<hi { let (value, slope) = valueAndDerivative(x[i]); y[i] = value * (Float(keep[i]) * scale); x[i] = slope }
    } else {
        for i in lo..<hi { let (value, slope) = valueAndDerivative(x[i]); y[i] = value; x[i] = slope }
    }
}
