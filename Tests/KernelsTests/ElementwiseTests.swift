// GELU (erf form), dropout masks, global average pooling and softmax cross-entropy.
@testable import Kernels
import Randomness
import Foundation
import VectorLoops
import VectorLoopsAVX512
import XCTest

final class ElementwiseTests: XCTestCase {
    func exactGELU(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }

    func testFastExpAndGELUAccuracy() {
        var worstExp: Double = 0
        for i in -8000...8000 {
            let x = Float(i) * 0.01
            worstExp = max(worstExp, abs(Double(VectorLoops.fastExp(x)) - exp(Double(x))) / exp(Double(x)))
        }
        XCTAssertLessThan(worstExp, 3e-7)
        var worst: Double = 0
        for i in -1000...1000 {
            let x = Double(i) * 0.01
            worst = max(worst, abs(Double(VectorLoops.geluValue(Float(x))) - exactGELU(x)) / max(1, abs(x)))
        }
        XCTAssertLessThan(worst, 4e-7)
    }

    func testElementLoopBuildsForBaselineAndAVX512GiveTheSameBits() throws {
        try XCTSkipUnless(ElementLoops.avx512, "this CPU lacks the AVX-512 extensions the znver4 build uses")
        // Normal and extreme inputs (exp's clamp, erf's tails, zeros, subnormals), with a dropout mask.
        var x = randomArray(4099, seed: 95, scale: 4)
        x += [0, -0, 1e-40, -1e-40, 9, -9, 40, -40, 1e6, -1e6, .infinity, -.infinity]
        let n = x.count
        let keep = (0..<n).map { UInt8($0 % 3 == 0 ? 0 : 1) }
        for useMask in [false, true] {
            var y0 = [Float](repeating: 0, count: n), y1 = y0, d0 = x, d1 = x, r0 = y0, r1 = y0
            keep.withUnsafeBufferPointer { k in
                let keep = useMask ? k.baseAddress! : nil
                x.withUnsafeBufferPointer { xp in
                    y0.ptr { VectorLoops.geluForwardRange(x: xp.baseAddress!, keep: keep, scale: 2, y: $0, 0, n) }
                    y1.ptr { VectorLoopsAVX512.geluForwardRange(x: xp.baseAddress!, keep: keep, scale: 2, y: $0, 0, n) }
                }
                d0.ptr { d in r0.ptr { VectorLoops.geluRecomputeRange(x: d, keep: keep, scale: 2, y: $0, 0, n) } }
                d1.ptr { d in r1.ptr { VectorLoopsAVX512.geluRecomputeRange(x: d, keep: keep, scale: 2, y: $0, 0, n) } }
            }
            XCTAssertEqual(y0.map(\.bitPattern), y1.map(\.bitPattern), "forward, mask \(useMask)")
            XCTAssertEqual(r0.map(\.bitPattern), r1.map(\.bitPattern), "recompute values, mask \(useMask)")
            XCTAssertEqual(d0.map(\.bitPattern), d1.map(\.bitPattern), "recompute derivatives, mask \(useMask)")
            XCTAssertEqual(y0.map(\.bitPattern), r0.map(\.bitPattern), "recompute values are the forward's, mask \(useMask)")
        }
        // Dropout flags: both builds, and the stream SplitMix64.nextUniform draws from.
        for p: Float in [0, 0.1, 0.5, 0.999, 1] {
            var a = [UInt8](repeating: 7, count: 5000), b = a
            a.withUnsafeMutableBufferPointer { VectorLoops.dropoutKeepFlags(state: 12345, probability: p, into: $0.baseAddress!, count: 5000) }
            b.withUnsafeMutableBufferPointer { VectorLoopsAVX512.dropoutKeepFlags(state: 12345, probability: p, into: $0.baseAddress!, count: 5000) }
            var rng = SplitMix64(seed: 12345)
            XCTAssertEqual(a, b, "dropout flags, p \(p)")
            XCTAssertEqual(a, (0..<5000).map { _ in rng.nextUniform() < p ? 0 : 1 }, "dropout flags follow the stream, p \(p)")
        }
    }

    func testGELUGradientWithDropoutMask() {
        let n = 500, scale = Float(1) / Float(0.7)
        var x = randomArray(n, seed: 91, scale: 2)
        var keep = [UInt8](repeating: 0, count: n), ids = [0, 1]
        keep.withUnsafeMutableBufferPointer { k in ids.withUnsafeBufferPointer {
            dropoutMask(samples: 2, perSample: n / 2, probability: 0.3, seed: 1, step: 2, layer: 3, sampleIDs: $0.baseAddress!,
                        into: k.baseAddress!)
        } }
        let multiplier = keep.map { Double(Float($0) * scale) }
        let r = randomArray(n, seed: 92)
        var dx = [Float](repeating: 0, count: n), dy = r
        var y = [Float](repeating: 0, count: n)
        keep.withUnsafeBufferPointer { k in
            let mask = DropoutMask(keep: k.baseAddress!, scale: scale)
            x.ptr { xp in dy.ptr { g in dx.ptr { d in geluBackward(x: xp, mask: mask, dy: g, dx: d, count: n) } } }
            x.ptr { xp in y.ptr { geluForward(x: xp, mask: mask, y: $0, count: n) } }
        }
        checkGradient("gelu", values: &x, analytic: dx, eps: 1e-3, rtol: 1e-4) { xs in
            zip(xs.indices, xs).reduce(0.0) { $0 + self.exactGELU(Double($1.1)) * multiplier[$1.0] * Double(r[$1.0]) }
        }
        for i in 0..<n { XCTAssertEqual(Double(y[i]), exactGELU(Double(x[i])) * multiplier[i], accuracy: 2e-6) }
        XCTAssertTrue(keep.contains(0) && keep.contains(1))
    }

    /// The backward's fused recompute (GELU value and, in place of x, GELU') followed by the
    /// multiply-only backward gives bitwise what geluForward and geluBackward(x:) give.
    func testGELURecomputeMatchesForwardAndBackwardBitwise() {
        let n = 70_001  // more than one piece at 2 threads, and a remainder for the vector loops
        let x = randomArray(n, seed: 93, scale: 3) + [0, -0, 1e-30, -1e-30, 9, -9, 40, -40]
        let dy = randomArray(x.count, seed: 94)
        var keep = (0..<x.count).map { UInt8($0 % 3 == 0 ? 0 : 1) }
        for threads in [1, 2] {
            Parallel.threads = threads
            defer { Parallel.threads = 1 }
            for masked in [false, true] {
                keep.withUnsafeMutableBufferPointer { k in
                    let mask = masked ? DropoutMask(keep: k.baseAddress!, scale: 1 / 0.7) : nil
                    var xs = x, ys = dy, y0 = [Float](repeating: 0, count: x.count), dx0 = y0, y1 = y0, dx1 = y0
                    xs.ptr { xp in ys.ptr { g in y0.ptr { yp in dx0.ptr { d in
                        geluForward(x: xp, mask: mask, y: yp, count: x.count)
                        geluBackward(x: xp, mask: mask, dy: g, dx: d, count: x.count)
                    } } } }
                    xs.ptr { xp in ys.ptr { g in y1.ptr { yp in dx1.ptr { d in
                        geluRecompute(x: xp, mask: mask, y: yp, count: x.count)
                        geluBackward(derivative: xp, mask: mask, dy: g, dx: d, count: x.count)
                    } } } }
                    XCTAssertEqual(y0.map(\.bitPattern), y1.map(\.bitPattern), "value, masked \(masked), \(threads) threads")
                    XCTAssertEqual(dx0.map(\.bitPattern), dx1.map(\.bitPattern), "gradient, masked \(masked), \(threads) threads")
                }
            }
        }
    }

    func testDropoutMaskIsKeyedPerSampleAndThreadIndependent() {
        let perSample = 5000, samples = 200
        func mask(threads: Int, step: UInt64, ids: [Int]) -> [UInt8] {
            Parallel.threads = threads
            defer { Parallel.threads = 1 }
            var m = [UInt8](repeating: 7, count: ids.count * perSample)
            m.withUnsafeMutableBufferPointer { out in ids.withUnsafeBufferPointer {
                dropoutMask(samples: ids.count, perSample: perSample, probability: 0.25, seed: 7, step: step, layer: 1,
                            sampleIDs: $0.baseAddress!, into: out.baseAddress!)
            } }
            return m
        }
        let ids = Array(100..<(100 + samples))
        let a = mask(threads: 1, step: 3, ids: ids)
        XCTAssertEqual(a, mask(threads: 2, step: 3, ids: ids))
        XCTAssertNotEqual(a, mask(threads: 1, step: 4, ids: ids))
        // A sample's mask does not depend on its position in the batch or on the batch's other samples.
        let swapped = mask(threads: 1, step: 3, ids: [ids[5], 42])
        XCTAssertEqual(Array(swapped[0..<perSample]), Array(a[(5 * perSample)..<(6 * perSample)]))
        let dropped = Double(a.filter { $0 == 0 }.count) / Double(a.count)
        XCTAssertEqual(dropped, 0.25, accuracy: 0.003)
        XCTAssertTrue(a.allSatisfy { $0 == 0 || $0 == 1 })
    }

    func testGlobalAveragePool() {
        let n = 3, pixels = 10, c = 4
        var x = randomArray(n * pixels * c, seed: 101)
        let r = randomArray(n * c, seed: 102)
        let forward = { (x: [Float]) -> [Float] in
            var x = x, y = [Float](repeating: 0, count: n * c)
            x.ptr { xp in y.ptr { globalAveragePoolForward(x: xp, batch: n, pixels: pixels, channels: c, y: $0) } }
            return y
        }
        let y = forward(x)
        XCTAssertEqual(y[1 * c + 2], (0..<pixels).map { x[(1 * pixels + $0) * c + 2] }.reduce(0, +) / Float(pixels), accuracy: 1e-6)
        var dy = r, dx = [Float](repeating: 0, count: x.count)
        dy.ptr { g in dx.ptr { globalAveragePoolBackward(dy: g, batch: n, pixels: pixels, channels: c, dx: $0, accumulate: false) } }
        checkGradient("pool", values: &x, analytic: dx, eps: 0.5) { dot(forward($0), r) }
    }

    func testNonFiniteLogitsAreNeverCorrect() {
        // A NaN never compares greater than the label's logit: a diverged model used to score 100%.
        let k = 3
        var logits: [Float] = [.nan, .nan, .nan, 1, .infinity, 0, 5, 1, .nan, 0, 2, 1]
        var labels: [Int32] = [0, 1, 0, 1]
        let counts = logits.ptr { l in labels.withUnsafeMutableBufferPointer { lb in
            softmaxCrossEntropy(logits: l, labels: lb.baseAddress!, batch: 4, classes: k, dLogits: nil).counts
        } }
        XCTAssertEqual(counts.top1, 1, "only the finite row whose label scores highest is correct")
        XCTAssertEqual(counts.top5, 1)
        logits.ptr { l in XCTAssertEqual(classesAtOrAbove(label: 0, row: l + 6, classes: k), Int.max) }
    }

    func testCrossEntropyLossGradientAndTopK() {
        let n = 6, k = 7
        var logits = randomArray(n * k, seed: 111, scale: 2)
        var labels: [Int32] = [0, 3, 6, 2, 2, 5]
        var d = [Float](repeating: 0, count: n * k)
        let (loss, counts) = logits.ptr { l in labels.withUnsafeMutableBufferPointer { lb in d.ptr {
            softmaxCrossEntropy(logits: l, labels: lb.baseAddress!, batch: n, classes: k, dLogits: $0)
        } } }
        func reference(_ z: [Float]) -> Double {
            (0..<n).reduce(0.0) { acc, i in
                let row = (0..<k).map { Double(z[i * k + $0]) }
                let m = row.max()!
                return acc + (log(row.map { exp($0 - m) }.reduce(0, +)) + m - row[Int(labels[i])])
            } / Double(n)
        }
        XCTAssertEqual(Double(loss), reference(logits), accuracy: 1e-6)
        checkGradient("cross-entropy", values: &logits, analytic: d, eps: 1e-3, rtol: 1e-3) { reference($0) }
        let top1 = (0..<n).filter { i in let row = Array(logits[(i * k)..<((i + 1) * k)]); return row.indices.max { row[$0] < row[$1] }! == Int(labels[i]) }.count
        let top5 = (0..<n).filter { i in let row = Array(logits[(i * k)..<((i + 1) * k)]); return row.filter { $0 > row[Int(labels[i])] }.count < 5 }.count
        XCTAssertEqual(counts.top1, top1)
        XCTAssertEqual(counts.top5, top5)
        XCTAssertEqual(counts.samples, n)
    }
}
