// nn.GELU (erf form) and nn.Dropout over whole tensors. Their element loops live in VectorLoops,
// compiled twice (baseline and AVX-512, see Sources/VectorLoops/GELU.swift); ElementLoops picks one.
import Foundation
import Randomness
import VectorLoops
import VectorLoopsAVX512

/// Whether the element loops run their AVX-512 build: where the CPU has every AVX-512 and related
/// extension the znver4 target may use, unless WAVEMIX_AVX512=0.
enum ElementLoops {
    static let avx512: Bool = {
        #if arch(x86_64)
        if ProcessInfo.processInfo.environment["WAVEMIX_AVX512"] == "0" { return false }
        return CPUFeatures.current.has(required)
        #else
        return false
        #endif
    }()

    /// znver4's vector extensions, as /proc/cpuinfo names them.
    static let required = ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512ifma", "avx512vbmi",
                           "avx512_vbmi2", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq", "avx512_bf16",
                           "gfni", "vaes", "vpclmulqdq", "fma", "f16c", "bmi2", "movbe"]
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
    if ElementLoops.avx512 {
        VectorLoopsAVX512.geluForwardRange(x: x, keep: mask?.keep, scale: mask?.scale ?? 1, y: y, range.lowerBound, range.upperBound)
    } else {
        VectorLoops.geluForwardRange(x: x, keep: mask?.keep, scale: mask?.scale ?? 1, y: y, range.lowerBound, range.upperBound)
    }
}

/// geluElements of x + `bias` (per channel) over `rows` rows of `channels` elements, on the calling
/// thread: the bias added as each value is loaded, the same single rounding as a dense layer's.
@inline(__always)
func geluBiasRows(x: UnsafePointer<Float>, bias: UnsafePointer<Float>, channels: Int, mask: DropoutMask?,
                  y: UnsafeMutablePointer<Float>, rows: Int) {
    let (keep, scale) = (mask?.keep, mask?.scale ?? 1)
    if ElementLoops.avx512 {
        VectorLoopsAVX512.geluBiasForwardRows(x: x, bias: bias, channels: channels, keep: keep, scale: scale, y: y, 0, rows)
    } else {
        VectorLoops.geluBiasForwardRows(x: x, bias: bias, channels: channels, keep: keep, scale: scale, y: y, 0, rows)
    }
}

/// The backward's recompute of the forward, keeping what the backward needs: y = GELU(x) * mask
/// multiplier as geluForward writes it, and x overwritten with GELU'(x), so that the backward is
/// `geluBackward(derivative:)`, one multiply pass, instead of a second erf and two exps per element.
/// The bits are those of geluForward and geluBackward(x:).
public func geluRecompute(x: UnsafeMutablePointer<Float>, mask: DropoutMask?, y: UnsafeMutablePointer<Float>, count: Int) {
    let inOut = UnsafeSendable(x), out = UnsafeSendable(y)
    Parallel.forRange(count, minPerThread: 32_768) { lo, hi in
        if ElementLoops.avx512 {
            VectorLoopsAVX512.geluRecomputeRange(x: inOut.value, keep: mask?.keep, scale: mask?.scale ?? 1, y: out.value, lo, hi)
        } else {
            VectorLoops.geluRecomputeRange(x: inOut.value, keep: mask?.keep, scale: mask?.scale ?? 1, y: out.value, lo, hi)
        }
    }
}

/// dx = dy * mask multiplier * derivative, with the derivative from geluRecompute.
public func geluBackward(derivative: UnsafePointer<Float>, mask: DropoutMask?, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>, count: Int) {
    let out = UnsafeSendable(dx)
    Parallel.forRange(count, minPerThread: 32_768) { lo, hi in
        geluBackwardElements(derivative: derivative, mask: mask, dy: dy, dx: out.value, lo..<hi)
    }
}

/// geluBackward(derivative:)'s elements `range`, on the calling thread.
@inline(__always)
func geluBackwardElements(derivative: UnsafePointer<Float>, mask: DropoutMask?, dy: UnsafePointer<Float>,
                          dx: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    if let mask {
        for i in range { dx[i] = dy[i] * mask.multiplier(i) * derivative[i] }
    } else {
        for i in range { dx[i] = dy[i] * derivative[i] }
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
            for i in lo..<hi { dx[i] = dy[i] * mask.multiplier(i) * VectorLoops.geluDerivative(x[i]) }
        } else {
            for i in lo..<hi { dx[i] = dy[i] * VectorLoops.geluDerivative(x[i]) }
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
            let stream = SplitMix64(key: seed, step, UInt64(layer), UInt64(sampleIDs[s]), UInt64(b))
            let start = s * perSample + b * block, count = min(perSample, (b + 1) * block) - b * block
            if ElementLoops.avx512 {
                VectorLoopsAVX512.dropoutKeepFlags(state: stream.state, probability: p, into: out.value + start, count: count)
            } else {
                VectorLoops.dropoutKeepFlags(state: stream.state, probability: p, into: out.value + start, count: count)
            }
        }
    }
}
