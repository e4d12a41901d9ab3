// ConvTranspose2d (the feed-forward's upsampling): against direct loops and finite differences, every
// tiling, and bitwise the same however the work is split over threads.
import Kernels
import XCTest

final class ConvTransposeTests: XCTestCase {
    func checkConvTranspose(n: Int, h: Int, w: Int, cin: Int, cout: Int, threads: Int = 1, samples: Int = 48) {
        Parallel.threads = threads
        defer { Parallel.threads = 1 }
        let k = 4, stride = 2, pad = 1, ho = 2 * h, wo = 2 * w
        let g = PatchGeometry(batch: n, height: ho, width: wo, channels: cout, kernel: k, stride: stride, pad: pad,
                              gridHeight: h, gridWidth: w)
        var x = randomArray(n * h * w * cin, seed: 21), wt = randomArray(cin * cout * k * k, seed: 22), b = randomArray(cout, seed: 23)
        let r = randomArray(n * ho * wo * cout, seed: 24)
        var scratch = [Float](repeating: 0, count: convTranspose2dScratchCount(g, cin: cin, threads: threads))
        var y = [Float](repeating: 0, count: r.count)
        x.ptr { xp in wt.ptr { wp in b.ptr { bp in y.ptr { yp in scratch.ptr { sp in
            convTranspose2dForward(x: xp, cin: cin, g, weight: wp, bias: bp, y: yp, scratch: sp, scratchThreads: threads)
        } } } } }
        let naive = { (x: [Float], wt: [Float], b: [Float]) in
            naiveConvTranspose2d(x: x, n: n, h: h, w: w, cin: cin, weight: wt, bias: b, cout: cout, k: k, stride: stride, pad: pad).y
        }
        assertClose(y, naive(x, wt, b), "convT forward")
        checkEpilogue(x: &x, cin: cin, g, weight: &wt, bias: &b, unfused: y)
        var dy = r, dx = [Float](repeating: 3, count: x.count)
        var dw = [Float](repeating: 0, count: wt.count), db = [Float](repeating: 0, count: cout)
        x.ptr { xp in wt.ptr { wp in dy.ptr { dyp in dx.ptr { dxp in dw.ptr { dwp in db.ptr { dbp in scratch.ptr { sp in
            convTranspose2dBackward(x: xp, cin: cin, g, weight: wp, dy: dyp, dx: dxp, dWeight: dwp, dBias: dbp,
                                    scratch: sp, scratchThreads: threads)
        } } } } } } }
        let direct = naiveConvTranspose2dBackward(x: x, n: n, h: h, w: w, cin: cin, weight: wt, dy: r, cout: cout,
                                                  k: k, stride: stride, pad: pad)
        assertClose(dx, direct.dx, "convT dx")
        assertClose(dw, direct.dW, "convT dW")
        checkGradient("convT dx", samples: samples, values: &x, analytic: dx, eps: 0.5) { dot(naive($0, wt, b), r) }
        checkGradient("convT dW", samples: samples, values: &wt, analytic: dw, eps: 0.5) { dot(naive(x, $0, b), r) }
        checkGradient("convT db", samples: samples, values: &b, analytic: db, eps: 0.5) { dot(naive(x, wt, $0), r) }
    }

    /// The fused eval BatchNorm + residual writes, into a wider buffer, bitwise what the separate
    /// pass computes from the plain output.
    func checkEpilogue(x: inout [Float], cin: Int, _ g: PatchGeometry, weight: inout [Float], bias: inout [Float], unfused: [Float]) {
        let c = g.channels, pixels = g.batch * g.height * g.width, ldy = c + 3, ldr = c + 1
        var scale = randomArray(c, seed: 25), shift = randomArray(c, seed: 26), residual = randomArray(pixels * ldr, seed: 27)
        let threads = Parallel.threads
        var scratch = [Float](repeating: 0, count: convTranspose2dScratchCount(g, cin: cin, threads: threads))
        var fused = [Float](repeating: -7, count: pixels * ldy)
        x.ptr { xp in weight.ptr { wp in bias.ptr { bp in fused.ptr { yp in scratch.ptr { sp in
        scale.ptr { sc in shift.ptr { sh in residual.ptr { rp in
            convTranspose2dForward(x: xp, cin: cin, g, weight: wp, bias: bp, y: yp, ldy: ldy,
                                   epilogue: ChannelEpilogue(scale: sc, shift: sh, residual: rp, ldr: ldr),
                                   scratch: sp, scratchThreads: threads)
        } } } } } } } }
        var separate = [Float](repeating: -7, count: pixels * ldy)
        var plain = unfused
        plain.ptr { xp in scale.ptr { sc in shift.ptr { sh in residual.ptr { rp in separate.ptr { yp in
            batchNormApply(x: xp, ldx: c, rows: pixels, channels: c, scale: sc, shift: sh, residual: rp, ldr: ldr, y: yp, ldy: ldy)
        } } } } }
        XCTAssertEqual(fused, separate, "convT with epilogue differs from convT then BatchNorm apply")
    }

    func testConvTranspose() { checkConvTranspose(n: 2, h: 3, w: 5, cin: 3, cout: 4) }
    /// Class planes of 14 x 9 (four-output tiles, then a two-output tile with one output past the
    /// edge) and 1 x 2 (a lone two-output tile, one overhanging).
    func testConvTransposeEveryTiling() {
        checkConvTranspose(n: 2, h: 14, w: 9, cin: 5, cout: 12, samples: 16)
        checkConvTranspose(n: 3, h: 1, w: 2, cin: 4, cout: 3)
    }
    func testConvTransposeTwoThreads() { checkConvTranspose(n: 3, h: 7, w: 6, cin: 8, cout: 16, threads: 2) }
    func testConvTransposeForwardSplitIsBitwise() {
        // 14 x 13 class planes take all four kinds of tile (4 x 4, 4 x 2, 2 x 4, 2 x 2 outputs); 48
        // images give the two largest kinds a piece per thread. The tiles, not the threads, decide the bits.
        let g = PatchGeometry(batch: 48, height: 28, width: 26, channels: 16, kernel: 4, stride: 2, pad: 1, gridHeight: 14, gridWidth: 13)
        var x = randomArray(48 * 14 * 13 * 8, seed: 41), wt = randomArray(8 * 16 * 16, seed: 42), b = randomArray(16, seed: 43)
        assertSameBitsForAnyThreadCount { threads in
            var scratch = [Float](repeating: 0, count: convTranspose2dScratchCount(g, cin: 8, threads: threads))
            var y = [Float](repeating: 0, count: 48 * 28 * 26 * 16)
            x.ptr { xp in wt.ptr { wp in b.ptr { bp in y.ptr { yp in scratch.ptr { sp in
                convTranspose2dForward(x: xp, cin: 8, g, weight: wp, bias: bp, y: yp, scratch: sp, scratchThreads: threads)
            } } } } }
            return y
        }
    }

    func testConvTransposeBackwardSplitIsBitwise() {
        // Enough tiles (4 x 6 x 6) for one dx piece per thread; 3 and 5 threads share out dW's 36
        // GEMMs per chunk, 19 also split them into blocks of cin. dW accumulates onto what is there.
        let g = PatchGeometry(batch: 4, height: 24, width: 24, channels: 16, kernel: 4, stride: 2, pad: 1, gridHeight: 12, gridWidth: 12)
        var x = randomArray(4 * 12 * 12 * 32, seed: 51), wt = randomArray(32 * 16 * 16, seed: 52)
        var dy = randomArray(4 * 24 * 24 * 16, seed: 53)
        func run(_ threads: Int) -> [Float] {
            Parallel.threads = threads
            defer { Parallel.threads = 1 }
            var scratch = [Float](repeating: 0, count: convTranspose2dScratchCount(g, cin: 32, threads: threads))
            var dx = [Float](repeating: 0, count: x.count), dw = randomArray(wt.count, seed: 54)
            var db = [Float](repeating: 0, count: 16)
            x.ptr { xp in wt.ptr { wp in dy.ptr { dyp in dx.ptr { dxp in dw.ptr { dwp in db.ptr { dbp in scratch.ptr { sp in
                convTranspose2dBackward(x: xp, cin: 32, g, weight: wp, dy: dyp, dx: dxp, dWeight: dwp, dBias: dbp,
                                        scratch: sp, scratchThreads: threads)
            } } } } } } }
            return dx + dw + db
        }
        let one = run(1)
        for threads in [2, 3, 4, 5, 19] { XCTAssertEqual(one, run(threads), "\(threads) threads") }
    }

    func testConvTransposeManyChunks() { checkConvTranspose(n: 2, h: 32, w: 32, cin: 2, cout: 64, samples: 4) }

    func testConvTransposeBackwardManyWeightGradientChunks() {
        // 3 x 8 x 8 tiles of 160 + 160 channels: more than one chunk of dW's tiles (at most 2^19 floats /
        // 36 (cin + cout), and at most 10^6 / (cin cout) where OpenBLAS has its small-matrix kernel).
        let n = 3, h = 16, w = 16, cin = 160, cout = 160
        let g = PatchGeometry(batch: n, height: 2 * h, width: 2 * w, channels: cout, kernel: 4, stride: 2, pad: 1, gridHeight: h, gridWidth: w)
        var x = randomArray(n * h * w * cin, seed: 61), wt = randomArray(cin * cout * 16, seed: 62)
        var dy = randomArray(n * 4 * h * w * cout, seed: 63)
        var scratch = [Float](repeating: 0, count: convTranspose2dScratchCount(g, cin: cin, threads: 2))
        var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: wt.count)
        Parallel.threads = 2
        defer { Parallel.threads = 1 }
        x.ptr { xp in wt.ptr { wp in dy.ptr { dyp in dx.ptr { dxp in dw.ptr { dwp in scratch.ptr { sp in
            convTranspose2dBackward(x: xp, cin: cin, g, weight: wp, dy: dyp, dx: dxp, dWeight: dwp, dBias: nil,
                                    scratch: sp, scratchThreads: 2)
        } } } } } }
        let direct = naiveConvTranspose2dBackward(x: x, n: n, h: h, w: w, cin: cin, weight: wt, dy: dy, cout: cout,
                                                  k: 4, stride: 2, pad: 1)
        assertClose(dx, direct.dx, "convT dx")
        assertClose(dw, direct.dW, "convT dW")
    }
}
