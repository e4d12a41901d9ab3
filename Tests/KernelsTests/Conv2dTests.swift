// Conv2d (the stem's 3x3 and patch convolutions, direct and Winograd): against direct loops and
// finite differences, and bitwise the same however the work is split over threads.
import Kernels
import XCTest

final class Conv2dTests: XCTestCase {
    func checkConv2d(n: Int, h: Int, w: Int, cin: Int, cout: Int, k: Int, stride: Int, pad: Int, threads: Int = 1, samples: Int = 48) {
        Parallel.threads = threads
        defer { Parallel.threads = 1 }
        let ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1
        let g = PatchGeometry(batch: n, height: h, width: w, channels: cin, kernel: k, stride: stride, pad: pad,
                              gridHeight: ho, gridWidth: wo)
        var x = randomArray(n * h * w * cin, seed: 11), wt = randomArray(cout * cin * k * k, seed: 12), b = randomArray(cout, seed: 13)
        let r = randomArray(n * ho * wo * cout, seed: 14)
        var scratch = [Float](repeating: 0, count: conv2dScratchCount(g, cout: cout, threads: threads))
        var y = [Float](repeating: 0, count: n * ho * wo * cout)
        x.ptr { xp in wt.ptr { wp in b.ptr { bp in y.ptr { yp in scratch.ptr { sp in
            conv2dForward(x: xp, g, weight: wp, bias: bp, cout: cout, y: yp, scratch: sp, scratchThreads: threads)
        } } } } }
        let naive = { (x: [Float], wt: [Float], b: [Float]) in
            naiveConv2d(x: x, n: n, h: h, w: w, cin: cin, weight: wt, bias: b, cout: cout, k: k, stride: stride, pad: pad).y
        }
        let label = "conv2d k\(k) s\(stride) p\(pad) \(h)x\(w)"
        assertClose(y, naive(x, wt, b), "\(label) forward")

        var dy = r, dx = [Float](repeating: 7, count: x.count)
        var dw = [Float](repeating: 0, count: wt.count), db = [Float](repeating: 0, count: cout)
        x.ptr { xp in wt.ptr { wp in dy.ptr { dyp in dx.ptr { dxp in dw.ptr { dwp in db.ptr { dbp in scratch.ptr { sp in
            conv2dBackward(x: xp, g, weight: wp, cout: cout, dy: dyp, dx: dxp, dWeight: dwp, dBias: dbp, scratch: sp,
                           scratchThreads: threads)
        } } } } } } }
        let direct = naiveConv2dBackward(x: x, n: n, h: h, w: w, cin: cin, weight: wt, dy: r, cout: cout, k: k, stride: stride, pad: pad)
        assertClose(dx, direct.dx, "\(label) dx")
        assertClose(dw, direct.dW, "\(label) dW")
        checkGradient("\(label) dx", samples: samples, values: &x, analytic: dx, eps: 0.5) { dot(naive($0, wt, b), r) }
        checkGradient("\(label) dW", samples: samples, values: &wt, analytic: dw, eps: 0.5) { dot(naive(x, $0, b), r) }
        checkGradient("\(label) db", samples: samples, values: &b, analytic: db, eps: 0.5) { dot(naive(x, wt, $0), r) }
    }

    func testConv2d3x3Stride1() { checkConv2d(n: 2, h: 6, w: 5, cin: 3, cout: 4, k: 3, stride: 1, pad: 1) }
    func testConv2d3x3Stride2OddSize() { checkConv2d(n: 2, h: 7, w: 9, cin: 2, cout: 5, k: 3, stride: 2, pad: 1) }
    func testConv2dPatchify() { checkConv2d(n: 2, h: 8, w: 12, cin: 3, cout: 4, k: 4, stride: 4, pad: 0) }
    func testConv2dTwoThreads() { checkConv2d(n: 3, h: 10, w: 10, cin: 4, cout: 6, k: 3, stride: 1, pad: 1, threads: 2) }
    // Patches of at most 32 values run the direct path: blocks of 32 output channels, then the rest.
    func testConv2dDirectWideOutput() { checkConv2d(n: 2, h: 9, w: 7, cin: 1, cout: 40, k: 3, stride: 1, pad: 1, threads: 2) }
    func testConv2dDirectLargestPatch() { checkConv2d(n: 2, h: 8, w: 12, cin: 2, cout: 33, k: 4, stride: 4, pad: 0) }

    /// conv2dForward of random data (seeds from `seed`) gives the same bits for 1, 2 and 3 threads.
    func assertConv2dForwardSplitIsBitwise(_ g: PatchGeometry, cout: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var x = randomArray(g.batch * g.height * g.width * g.channels, seed: seed)
        var wt = randomArray(cout * g.channels * g.kernel * g.kernel, seed: seed + 1), b = randomArray(cout, seed: seed + 2)
        assertSameBitsForAnyThreadCount(file: file, line: line) { threads in
            var scratch = [Float](repeating: 0, count: conv2dScratchCount(g, cout: cout, threads: threads))
            var y = [Float](repeating: 0, count: g.rows * cout)
            x.ptr { xp in wt.ptr { wp in b.ptr { bp in y.ptr { yp in scratch.ptr { sp in
                conv2dForward(x: xp, g, weight: wp, bias: bp, cout: cout, y: yp, scratch: sp, scratchThreads: threads)
            } } } } }
            return y
        }
    }

    func testConv2dForwardSplitIsBitwise() {
        // 4 x 16 x 16 output rows: one piece per thread; the rows, not the threads, decide the bits.
        let g = PatchGeometry(batch: 4, height: 16, width: 16, channels: 5, kernel: 3, stride: 1, pad: 1, gridHeight: 16, gridWidth: 16)
        assertConv2dForwardSplitIsBitwise(g, cout: 24, seed: 44)
    }

    func testConv2dStridedSplitIsBitwise() {
        // 3x3 stride 2 over 8 channels (patch 72): the im2col path. 16 images give 1024 output rows,
        // a product over 10^6 multiply-adds on one thread and two under it on two; 8 images, under it
        // either way.
        for batch in [8, 16] {
            let g = PatchGeometry(batch: batch, height: 16, width: 16, channels: 8, kernel: 3, stride: 2, pad: 1, gridHeight: 8, gridWidth: 8)
            assertConv2dForwardSplitIsBitwise(g, cout: 16, seed: 56)
        }
    }

    // 3x3 stride 1 with 8+ channels both sides: Winograd, F(4x4, 3x3) forward and dx, F(2x2, 3x3)
    // dW. Sizes that are not multiples of 4 (or 2) leave tiles overhanging the image.
    func testConv2dWinograd() { checkConv2d(n: 2, h: 7, w: 5, cin: 8, cout: 12, k: 3, stride: 1, pad: 1) }
    func testConv2dWinogradTwoThreads() { checkConv2d(n: 3, h: 10, w: 9, cin: 16, cout: 8, k: 3, stride: 1, pad: 1, threads: 2) }
    func testConv2dWinogradManyChunks() {
        // 48 + 48 channels: 5 x 8 x 8 forward tiles, 160 per thread, in two chunks each (at most
        // 2^19 floats / 36 (cin + cout) = 151 tiles); dW's 5 x 15 x 15 tiles in four (341).
        checkConv2d(n: 5, h: 30, w: 30, cin: 48, cout: 48, k: 3, stride: 1, pad: 1, threads: 2, samples: 4)
    }

    func testConv2dWinogradSplitIsBitwise() {
        // 4 x 8 x 8 forward tiles: one forward / dx piece per thread (up to 4); dW's sixteen GEMMs
        // shared by 2, 3 or 5 threads. dW accumulates onto what is there.
        let g = PatchGeometry(batch: 4, height: 32, width: 32, channels: 8, kernel: 3, stride: 1, pad: 1, gridHeight: 32, gridWidth: 32)
        var x = randomArray(4 * 32 * 32 * 8, seed: 47), wt = randomArray(24 * 8 * 9, seed: 48), b = randomArray(24, seed: 49)
        var dy = randomArray(4 * 32 * 32 * 24, seed: 50)
        func run(_ threads: Int) -> [Float] {
            Parallel.threads = threads
            defer { Parallel.threads = 1 }
            var scratch = [Float](repeating: 0, count: conv2dScratchCount(g, cout: 24, threads: threads))
            var y = [Float](repeating: 0, count: g.rows * 24), dx = [Float](repeating: 0, count: x.count)
            var dw = randomArray(wt.count, seed: 55), db = [Float](repeating: 0, count: 24)
            x.ptr { xp in wt.ptr { wp in b.ptr { bp in y.ptr { yp in dy.ptr { dyp in dx.ptr { dxp in dw.ptr { dwp in
            db.ptr { dbp in scratch.ptr { sp in
                conv2dForward(x: xp, g, weight: wp, bias: bp, cout: 24, y: yp, scratch: sp, scratchThreads: threads)
                conv2dBackward(x: xp, g, weight: wp, cout: 24, dy: dyp, dx: dxp, dWeight: dwp, dBias: dbp, scratch: sp,
                               scratchThreads: threads)
            } } } } } } } } }
            return y + dx + dw + db
        }
        let one = run(1)
        for threads in [2, 3, 4, 5, 19] { XCTAssertEqual(one, run(threads), "\(threads) threads") }
    }

    /// run(threads) with Parallel.threads set to 1, 2 and 3 must return the same bits.

    func testConv2dManyChunks() {
        // More output rows than one chunk holds (chunks of ~2^20 floats / patch size).
        checkConv2d(n: 2, h: 64, w: 64, cin: 64, cout: 3, k: 3, stride: 1, pad: 1, samples: 4)
    }
}
