// nn.BatchNorm2d over NHWC rows [rows, c] (rows = N*H*W). Training normalises with the biased batch
// variance and updates running_var with the unbiased one (momentum 0.1, eps 1e-5, PyTorch's
// defaults); evaluation uses the running statistics. Per-channel sums are accumulated in Double in
// fixed row blocks (from Float runs of 16 rows), so results do not depend on the thread count, and they are exposed so that a
// caller can sum them across replicas (synchronised BatchNorm) before they are used.

/// sums[0..<c] += Σx, sums[c..<2c] += Σx² over the rows.
public func batchNormForwardSums(x: UnsafePointer<Float>, ldx: Int, rows: Int, channels c: Int,
                                 sums: UnsafeMutablePointer<Double>) {
    blockedChannelSums(rows: rows, channels: c, into: sums) { lo, hi, acc in
        @inline(__always) func run<L: ChannelLanes>(_ lanes: L.Type, _ ch: Int) {
            var s = L.Vector(), q = L.Vector()
            for r in lo..<hi {
                let v = L.load(x + r * ldx + ch)
                s += v
                q = q.addingProduct(v, v)
            }
            addToDoubles(s, acc + ch, lanes); addToDoubles(q, acc + c + ch, lanes)
        }
        forEachChannelVector(c, eight: { run(EightChannels.self, $0) }, one: { run(OneChannel.self, $0) })
    }
}

/// From summed statistics over `count` rows: mean and 1/sqrt(var + eps); updates the running
/// statistics and returns nothing else. `count` may span several replicas.
public func batchNormFinishStatistics(sums: UnsafePointer<Double>, count: Int, channels c: Int, eps: Float, momentum: Float,
                                      mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>,
                                      runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>) {
    let n = Double(count)
    for ch in 0..<c {
        let m = sums[ch] / n
        let variance = max(0, sums[c + ch] / n - m * m)
        mean[ch] = Float(m)
        invStd[ch] = 1 / (Float(variance) + eps).squareRoot()
        let unbiased = count > 1 ? variance * n / (n - 1) : variance
        runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * Float(m)
        runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * Float(unbiased)
    }
}

/// y = x * scale + shift (+ residual): the affine form of normalisation shared by train and eval.
public func batchNormApply(x: UnsafePointer<Float>, ldx: Int, rows: Int, channels c: Int,
                           scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                           residual: UnsafePointer<Float>?, ldr: Int,
                           y: UnsafeMutablePointer<Float>, ldy: Int) {
    let out = UnsafeSendable(y)
    Parallel.forRange(rows, minPerThread: max(1, 32_768 / max(1, c))) { lo, hi in
        for r in lo..<hi {
            let src = x + r * ldx, dst = out.value + r * ldy
            if let residual {
                let res = residual + r * ldr
                for ch in 0..<c { dst[ch] = src[ch] * scale[ch] + shift[ch] + res[ch] }
            } else {
                for ch in 0..<c { dst[ch] = src[ch] * scale[ch] + shift[ch] }
            }
        }
    }
}

/// scale = gamma * invStd, shift = beta - mean * scale.
public func batchNormAffine(gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                            invStd: UnsafePointer<Float>, channels c: Int,
                            scale: UnsafeMutablePointer<Float>, shift: UnsafeMutablePointer<Float>) {
    for ch in 0..<c {
        scale[ch] = gamma[ch] * invStd[ch]
        shift[ch] = beta[ch] - mean[ch] * scale[ch]
    }
}

/// invStd from running variance, for evaluation.
public func batchNormEvalInvStd(runningVar: UnsafePointer<Float>, channels c: Int, eps: Float, invStd: UnsafeMutablePointer<Float>) {
    for ch in 0..<c { invStd[ch] = 1 / (runningVar[ch] + eps).squareRoot() }
}

/// sums[0..<c] += Σdy, sums[c..<2c] += Σdy·(x - mean).
public func batchNormBackwardSums(x: UnsafePointer<Float>, ldx: Int, dy: UnsafePointer<Float>, lddy: Int,
                                  rows: Int, channels c: Int, mean: UnsafePointer<Float>,
                                  sums: UnsafeMutablePointer<Double>) {
    blockedChannelSums(rows: rows, channels: c, into: sums) { lo, hi, acc in
        @inline(__always) func run<L: ChannelLanes>(_ lanes: L.Type, _ ch: Int) {
            let m = L.load(mean + ch)
            var s = L.Vector(), q = L.Vector()
            for r in lo..<hi {
                let d = L.load(dy + r * lddy + ch)
                s += d
                q = q.addingProduct(d, L.load(x + r * ldx + ch) - m)
            }
            addToDoubles(s, acc + ch, lanes); addToDoubles(q, acc + c + ch, lanes)
        }
        forEachChannelVector(c, eight: { run(EightChannels.self, $0) }, one: { run(OneChannel.self, $0) })
    }
}

/// dGamma += Σdy·x̂, dBeta += Σdy, and dx = γ·invStd·(dy - Σdy/n - x̂·Σdy·x̂/n), from sums over
/// `count` rows (possibly summed across replicas).
public func batchNormBackwardApply(x: UnsafePointer<Float>, ldx: Int, dy: UnsafePointer<Float>, lddy: Int,
                                   rows: Int, channels c: Int, count: Int,
                                   mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                                   localSums: UnsafePointer<Double>, sums: UnsafePointer<Double>,
                                   dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>,
                                   dx: UnsafeMutablePointer<Float>, lddx: Int) {
    for ch in 0..<c {
        dBeta[ch] += Float(localSums[ch])
        dGamma[ch] += Float(localSums[c + ch]) * invStd[ch]
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * c) { tmp in
        let meanDy = tmp.baseAddress!, k = meanDy + c, scale = k + c
        let n = Double(count)
        for ch in 0..<c {
            meanDy[ch] = Float(sums[ch] / n)
            k[ch] = Float(sums[c + ch] / n) * invStd[ch] * invStd[ch]
            scale[ch] = gamma[ch] * invStd[ch]
        }
        let out = UnsafeSendable(dx)
        let (md, kk, sc) = (UnsafeSendable(meanDy), UnsafeSendable(k), UnsafeSendable(scale))
        Parallel.forRange(rows, minPerThread: max(1, 32_768 / max(1, c))) { lo, hi in
            for r in lo..<hi {
                let xr = x + r * ldx, g = dy + r * lddy, o = out.value + r * lddx
                for ch in 0..<c {
                    o[ch] = (g[ch] - md.value[ch] - (xr[ch] - mean[ch]) * kk.value[ch]) * sc.value[ch]
                }
            }
        }
    }
}

/// Per-channel sums of 2c Doubles, accumulated per block of rows and combined in block order.
/// Within a block, `accumulate(lo, hi, acc)` sums runs of `floatRun` rows in Float vectors (eight
/// channels an instruction, the run's rows in L1) and adds each run's sums to the block's Double
/// accumulators: a quarter of the operations of a Double add per element, at 16-element Float
/// partial sums (relative error ~1e-7 before they join the Double total).
@inline(__always)
func blockedChannelSums(rows: Int, channels c: Int, into sums: UnsafeMutablePointer<Double>,
                        _ accumulate: (Int, Int, UnsafeMutablePointer<Double>) -> Void) {
    let block = 512, floatRun = 16
    let blocks = (rows + block - 1) / block
    withUnsafeTemporaryAllocation(of: Double.self, capacity: max(1, blocks * 2 * c)) { partial in
        let p = UnsafeSendable(partial.baseAddress!)
        Parallel.forRange(blocks, minPerThread: max(1, 32_768 / max(1, block * c))) { lo, hi in
            for b in lo..<hi {
                let acc = p.value + b * 2 * c
                acc.update(repeating: 0, count: 2 * c)
                let end = min(rows, (b + 1) * block)
                for r in stride(from: b * block, to: end, by: floatRun) { accumulate(r, min(end, r + floatRun), acc) }
            }
        }
        for b in 0..<blocks {
            for i in 0..<(2 * c) { sums[i] += partial[b * 2 * c + i] }
        }
    }
}

/// p[0..<L.width] += the lanes of v, in Double.
@inline(__always)
func addToDoubles<L: ChannelLanes>(_ v: L.Vector, _ p: UnsafeMutablePointer<Double>, _: L.Type) {
    for lane in 0..<L.width { p[lane] += Double(v[lane]) }
}
