// BatchNorm2d in training and evaluation mode against a Double-precision reference; gradients by
// finite differences of that reference.
import Kernels
import XCTest

/// Training-mode BatchNorm in Double: returns y and the batch mean and biased variance.
func naiveBatchNorm(x: [Float], rows: Int, c: Int, gamma: [Float], beta: [Float], eps: Double = 1e-5) -> (y: [Float], mean: [Double], variance: [Double]) {
    var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
    for r in 0..<rows { for ch in 0..<c { mean[ch] += Double(x[r * c + ch]) } }
    for ch in 0..<c { mean[ch] /= Double(rows) }
    for r in 0..<rows { for ch in 0..<c { let d = Double(x[r * c + ch]) - mean[ch]; variance[ch] += d * d } }
    for ch in 0..<c { variance[ch] /= Double(rows) }
    var y = [Float](repeating: 0, count: rows * c)
    for r in 0..<rows { for ch in 0..<c {
        y[r * c + ch] = Float((Double(x[r * c + ch]) - mean[ch]) / (variance[ch] + eps).squareRoot() * Double(gamma[ch]) + Double(beta[ch]))
    } }
    return (y, mean, variance)
}

final class NormalizationTests: XCTestCase {
    struct TrainOutput { var y: [Float]; var mean: [Float]; var invStd: [Float]; var runningMean: [Float]; var runningVar: [Float] }

    func trainForward(_ x: [Float], rows: Int, c: Int, gamma: [Float], beta: [Float], residual: [Float]? = nil) -> TrainOutput {
        var x = x, gamma = gamma, beta = beta
        var out = TrainOutput(y: .init(repeating: 0, count: rows * c), mean: .init(repeating: 0, count: c),
                              invStd: .init(repeating: 0, count: c), runningMean: .init(repeating: 0.5, count: c),
                              runningVar: .init(repeating: 2, count: c))
        var sums = [Double](repeating: 0, count: 2 * c), scale = [Float](repeating: 0, count: c), shift = scale
        var res = residual ?? []
        x.ptr { xp in
            sums.withUnsafeMutableBufferPointer { batchNormForwardSums(x: xp, ldx: c, rows: rows, channels: c, sums: $0.baseAddress!) }
            sums.withUnsafeBufferPointer { s in out.mean.ptr { m in out.invStd.ptr { i in out.runningMean.ptr { rm in out.runningVar.ptr { rv in
                batchNormFinishStatistics(sums: s.baseAddress!, count: rows, channels: c, eps: 1e-5, momentum: 0.1,
                                          mean: m, invStd: i, runningMean: rm, runningVar: rv)
            } } } } }
            gamma.ptr { g in beta.ptr { b in out.mean.ptr { m in out.invStd.ptr { i in scale.ptr { sc in shift.ptr { sh in
                batchNormAffine(gamma: g, beta: b, mean: m, invStd: i, channels: c, scale: sc, shift: sh)
            } } } } } }
            scale.ptr { sc in shift.ptr { sh in out.y.ptr { yp in res.ptr { rp in
                batchNormApply(x: xp, ldx: c, rows: rows, channels: c, scale: sc, shift: sh,
                               residual: residual == nil ? nil : UnsafePointer(rp), ldr: c, y: yp, ldy: c)
            } } } }
        }
        return out
    }

    func testTrainingForwardAndRunningStatistics() {
        let rows = 300, c = 5
        let x = randomArray(rows * c, seed: 51).map { $0 * 3 + 1.5 }
        let gamma = randomArray(c, seed: 52), beta = randomArray(c, seed: 53)
        let got = trainForward(x, rows: rows, c: c, gamma: gamma, beta: beta)
        let want = naiveBatchNorm(x: x, rows: rows, c: c, gamma: gamma, beta: beta)
        assertClose(got.y, want.y, rtol: 1e-5, "bn train y")
        assertClose(got.runningMean, (0..<c).map { Float(0.9 * 0.5 + 0.1 * want.mean[$0]) }, rtol: 1e-6, "running mean")
        // running_var uses the unbiased variance.
        assertClose(got.runningVar, (0..<c).map { Float(0.9 * 2 + 0.1 * want.variance[$0] * Double(rows) / Double(rows - 1)) },
                    rtol: 1e-6, "running var")
        let residual = randomArray(rows * c, seed: 54)
        let fused = trainForward(x, rows: rows, c: c, gamma: gamma, beta: beta, residual: residual)
        assertClose(fused.y, zip(want.y, residual).map { $0 + $1 }, rtol: 1e-5, "bn + residual")
    }

    func testEvaluationUsesRunningStatistics() {
        let rows = 20, c = 3
        var x = randomArray(rows * c, seed: 61), gamma = randomArray(c, seed: 62), beta = randomArray(c, seed: 63)
        var rm: [Float] = [0.1, -0.2, 0.3], rv: [Float] = [0.5, 1.5, 2.5]
        var invStd = [Float](repeating: 0, count: c), scale = invStd, shift = invStd, y = [Float](repeating: 0, count: rows * c)
        rv.ptr { v in invStd.ptr { batchNormEvalInvStd(runningVar: v, channels: c, eps: 1e-5, invStd: $0) } }
        gamma.ptr { g in beta.ptr { b in rm.ptr { m in invStd.ptr { i in scale.ptr { sc in shift.ptr { sh in
            batchNormAffine(gamma: g, beta: b, mean: m, invStd: i, channels: c, scale: sc, shift: sh)
        } } } } } }
        x.ptr { xp in scale.ptr { sc in shift.ptr { sh in y.ptr { yp in
            batchNormApply(x: xp, ldx: c, rows: rows, channels: c, scale: sc, shift: sh, residual: nil, ldr: 0, y: yp, ldy: c)
        } } } }
        let want = (0..<(rows * c)).map { i -> Float in
            let ch = i % c
            return Float((Double(x[i]) - Double(rm[ch])) / (Double(rv[ch]) + 1e-5).squareRoot() * Double(gamma[ch]) + Double(beta[ch]))
        }
        assertClose(y, want, rtol: 1e-6, "bn eval")
    }

    func testTrainingBackward() {
        let rows = 64, c = 4
        var x = randomArray(rows * c, seed: 71).map { $0 * 2 - 0.7 }
        var gamma = randomArray(c, seed: 72), beta = randomArray(c, seed: 73)
        let r = randomArray(rows * c, seed: 74)
        let fwd = trainForward(x, rows: rows, c: c, gamma: gamma, beta: beta)
        var dy = r, mean = fwd.mean, invStd = fwd.invStd
        var sums = [Double](repeating: 0, count: 2 * c)
        var dGamma = [Float](repeating: 0, count: c), dBeta = dGamma, dx = [Float](repeating: 0, count: x.count)
        x.ptr { xp in dy.ptr { g in mean.ptr { m in invStd.ptr { i in gamma.ptr { gm in dGamma.ptr { dg in dBeta.ptr { db in dx.ptr { d in
            sums.withUnsafeMutableBufferPointer { batchNormBackwardSums(x: xp, ldx: c, dy: g, lddy: c, rows: rows, channels: c, mean: m, sums: $0.baseAddress!) }
            sums.withUnsafeBufferPointer { s in
                batchNormBackwardApply(x: xp, ldx: c, dy: g, lddy: c, rows: rows, channels: c, count: rows, mean: m, invStd: i, gamma: gm,
                                       localSums: s.baseAddress!, sums: s.baseAddress!, dGamma: dg, dBeta: db, dx: d, lddx: c)
            }
        } } } } } } } }
        checkGradient("bn dx", values: &x, analytic: dx, eps: 1e-2, rtol: 1e-3) {
            dot(naiveBatchNorm(x: $0, rows: rows, c: c, gamma: gamma, beta: beta).y, r)
        }
        checkGradient("bn dgamma", values: &gamma, analytic: dGamma, eps: 1e-2, rtol: 1e-3) {
            dot(naiveBatchNorm(x: x, rows: rows, c: c, gamma: $0, beta: beta).y, r)
        }
        checkGradient("bn dbeta", values: &beta, analytic: dBeta, eps: 1e-2, rtol: 1e-3) {
            dot(naiveBatchNorm(x: x, rows: rows, c: c, gamma: gamma, beta: $0).y, r)
        }
    }

    func testSumsDoNotDependOnThreads() {
        let rows = 5000, c = 7
        var x = randomArray(rows * c, seed: 81)
        func sums(threads: Int) -> [Double] {
            Parallel.threads = threads
            defer { Parallel.threads = 1 }
            var s = [Double](repeating: 0, count: 2 * c)
            x.ptr { xp in s.withUnsafeMutableBufferPointer { batchNormForwardSums(x: xp, ldx: c, rows: rows, channels: c, sums: $0.baseAddress!) } }
            return s
        }
        XCTAssertEqual(sums(threads: 1), sums(threads: 2))
    }
}
