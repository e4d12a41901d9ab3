// Conv2d, ConvTranspose2d and dense layers: fast kernels against direct loops, gradients against
// finite differences.
import Kernels
import XCTest

final class ConvolutionTests: XCTestCase {
    func testDenseForwardBackward() {
        let rows = 37, cin = 6, cout = 5
        var x = randomArray(rows * cin, seed: 1), w = randomArray(cout * cin, seed: 2), b = randomArray(cout, seed: 3)
        let r = randomArray(rows * cout, seed: 4)
        var y = [Float](repeating: 0, count: rows * cout)
        x.ptr { xp in w.ptr { wp in b.ptr { bp in y.ptr { yp in
            denseForward(x: xp, ldx: cin, rows: rows, cin: cin, weight: wp, bias: bp, cout: cout, y: yp, ldy: cout)
        } } } }
        assertClose(y, naiveDense(x: x, rows: rows, cin: cin, weight: w, bias: b, cout: cout), "dense forward")

        var dx = [Float](repeating: 9, count: rows * cin), dw = [Float](repeating: 0, count: cout * cin)
        var db = [Float](repeating: 0, count: cout), dy = r
        x.ptr { xp in w.ptr { wp in dy.ptr { dyp in dx.ptr { dxp in dw.ptr { dwp in db.ptr { dbp in
            denseBackward(x: xp, ldx: cin, rows: rows, cin: cin, weight: wp, cout: cout, dy: dyp, lddy: cout,
                          dx: dxp, lddx: cin, accumulateDx: false, dWeight: dwp, dBias: dbp)
        } } } } } }
        checkGradient("dense dx", values: &x, analytic: dx, eps: 0.5) { dot(naiveDense(x: $0, rows: rows, cin: cin, weight: w, bias: b, cout: cout), r) }
        checkGradient("dense dW", values: &w, analytic: dw, eps: 0.5) { dot(naiveDense(x: x, rows: rows, cin: cin, weight: $0, bias: b, cout: cout), r) }
        checkGradient("dense db", values: &b, analytic: db, eps: 0.5) { dot(naiveDense(x: x, rows: rows, cin: cin, weight: w, bias: $0, cout: cout), r) }
    }

    /// Tall dense GEMMs go through gemmInSmallProducts: y (on the transposed weight, bias added per
    /// chunk) and dx in chunks of rows, dW in chunks of K accumulated in order (3000 rows of 64 -> 16:
    /// chunks of at most 10^6 / 1024 rows where OpenBLAS has its small-matrix kernel), on channel
    /// slices of wider buffers. Against direct loops, and the same bits at 1, 2, 3 threads.
    func testFusedFeedForwardIsBitwiseTheSeparateLayers() throws {
        // expand 48 -> 96, GELU * dropout, project 96 -> 40 over 2000 rows of a wider buffer, against
        // denseForward, geluForward and denseForward on the whole tensors (what the backward recomputes).
        let rows = 2000, cin = 48, hidden = 96, cout = 40, ldx = cin + 5, ldy = cout + 3
        try XCTSkipIf(feedForwardChunkRows(cin: cin, hidden: hidden, cout: cout) == nil, "no small-matrix kernel in this OpenBLAS")
        let x = randomArray(rows * ldx, seed: 36), we = randomArray(hidden * cin, seed: 37), be = randomArray(hidden, seed: 38)
        let wp = randomArray(cout * hidden, seed: 39), bp = randomArray(cout, seed: 40)
        var keep = [UInt8](repeating: 0, count: rows * hidden), ids = [0, 1, 2, 3]
        keep.withUnsafeMutableBufferPointer { k in ids.withUnsafeBufferPointer {
            dropoutMask(samples: 4, perSample: rows * hidden / 4, probability: 0.5, seed: 3, step: 1, layer: 0,
                        sampleIDs: $0.baseAddress!, into: k.baseAddress!)
        } }
        for withMask in [false, true] {
            var want = [Float](repeating: -1, count: rows * ldy)
            var expanded = [Float](repeating: 0, count: rows * hidden), activated = expanded
            var scratch = [Float](repeating: 0, count: cin * hidden + hidden * cout)
            x.withUnsafeBufferPointer { xp in keep.withUnsafeBufferPointer { k in
                let mask = withMask ? DropoutMask(keep: k.baseAddress!, scale: 2) : nil
                we.withUnsafeBufferPointer { wep in be.withUnsafeBufferPointer { bep in
                wp.withUnsafeBufferPointer { wpp in bp.withUnsafeBufferPointer { bpp in
                expanded.ptr { e in activated.ptr { a in want.ptr { y in scratch.ptr { s in
                    denseForward(x: xp.baseAddress! + 2, ldx: ldx, rows: rows, cin: cin, weight: wep.baseAddress!,
                                 bias: bep.baseAddress!, cout: hidden, y: e, ldy: hidden, scratch: s)
                    geluForward(x: e, mask: mask, y: a, count: rows * hidden)
                    denseForward(x: a, ldx: hidden, rows: rows, cin: hidden, weight: wpp.baseAddress!, bias: bpp.baseAddress!,
                                 cout: cout, y: y + 1, ldy: ldy, scratch: s)
                } } } }
                } } } }
            } }
            for threads in [1, 2, 3] {
                Parallel.threads = threads
                defer { Parallel.threads = 1 }
                var y = [Float](repeating: -1, count: rows * ldy), scratch = [Float](repeating: 0, count: cin * hidden + hidden * cout)
                var buffers = [Float](repeating: 0, count: feedForwardBufferCount(cin: cin, hidden: hidden, cout: cout, threads: threads))
                x.withUnsafeBufferPointer { xp in keep.withUnsafeBufferPointer { k in
                    let mask = withMask ? DropoutMask(keep: k.baseAddress!, scale: 2) : nil
                    we.withUnsafeBufferPointer { wep in be.withUnsafeBufferPointer { bep in
                    wp.withUnsafeBufferPointer { wpp in bp.withUnsafeBufferPointer { bpp in
                    y.ptr { yp in scratch.ptr { s in buffers.ptr { bufs in
                        transposeWeight(wep.baseAddress!, cin: cin, cout: hidden, into: s)
                        transposeWeight(wpp.baseAddress!, cin: hidden, cout: cout, into: s + cin * hidden)
                        feedForwardForward(x: xp.baseAddress! + 2, ldx: ldx, rows: rows,
                                           expand: DenseWeights(weightT: s, bias: bep.baseAddress!, cin: cin, cout: hidden),
                                           project: DenseWeights(weightT: s + cin * hidden, bias: bpp.baseAddress!, cin: hidden, cout: cout),
                                           mask: mask, y: yp + 1, ldy: ldy, buffers: bufs, bufferThreads: threads)
                    } } }
                    } } } }
                } }
                XCTAssertEqual(y, want, "mask \(withMask), \(threads) threads")
            }
        }
    }

    func testFusedReductionAndHaarIsBitwiseTheSeparateLayers() throws {
        // 3 images of 12 x 10 (fewer rows than one small-kernel product) and 5 of 24 x 30 (more),
        // 40 -> 8 channels, from a wider buffer into a wider level buffer, against denseForward then
        // haarForward.
        for (n, h, w) in [(3, 12, 10), (5, 24, 30)] {
            let cin = 40, c = 8, ldx = cin + 3, ldy = 4 * c + 5, pixels = n * h * w
            try XCTSkipIf(reductionHaarPairsPerChunk(width: w, cin: cin, cout: c) == nil, "no small-matrix kernel in this OpenBLAS")
            let x = randomArray(pixels * ldx, seed: 71), wt = randomArray(c * cin, seed: 72), b = randomArray(c, seed: 73)
            var want = [Float](repeating: -1, count: pixels / 4 * ldy), reduced = [Float](repeating: 0, count: pixels * c)
            var scratch = [Float](repeating: 0, count: cin * c)
            x.withUnsafeBufferPointer { xp in wt.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                reduced.ptr { r in scratch.ptr { s in want.ptr { y in
                    denseForward(x: xp.baseAddress!, ldx: ldx, rows: pixels, cin: cin, weight: wp.baseAddress!, bias: bp.baseAddress!,
                                 cout: c, y: r, ldy: c, scratch: s)
                    haarForward(x: r, ldx: c, batch: n, height: h, width: w, channels: c, y: y + 2, ldy: ldy)
                } } }
            } } }
            for threads in [1, 2, 3] {
                Parallel.threads = threads
                defer { Parallel.threads = 1 }
                var y = [Float](repeating: -1, count: want.count), weightT = [Float](repeating: 0, count: cin * c)
                var buffers = [Float](repeating: 0, count: reductionHaarBufferCount(width: w, cin: cin, cout: c, threads: threads))
                x.withUnsafeBufferPointer { xp in wt.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                    weightT.ptr { t in y.ptr { yp in buffers.ptr { bufs in
                        transposeWeight(wp.baseAddress!, cin: cin, cout: c, into: t)
                        reductionHaarForward(x: xp.baseAddress!, ldx: ldx, batch: n, height: h, width: w,
                                             reduction: DenseWeights(weightT: t, bias: bp.baseAddress!, cin: cin, cout: c),
                                             y: yp + 2, ldy: ldy, buffers: bufs, bufferThreads: threads)
                    } } }
                } } }
                XCTAssertEqual(y, want, "\(n) x \(h) x \(w), \(threads) threads")
            }
        }
    }

    func testFusedMixingIsBitwiseTheSeparateKernels() throws {
        // reductionHaarFeedForward against reductionHaarForward then feedForwardForward (each proven
        // bitwise the separate layers above): 40 -> 8 channels, a level of 32, hidden 72, out 24,
        // for images of fewer and more rows than one small-kernel product, into a wider buffer.
        let cin = 40, c = 8, hidden = 72, cout = 24, ldx = cin + 3, ldy = cout + 5
        try XCTSkipIf(reductionHaarFeedForwardBufferCount(width: 10, cin: cin, reduced: c, hidden: hidden, cout: cout, threads: 1) == 0,
                      "no small-matrix kernel in this OpenBLAS")
        let wr = randomArray(c * cin, seed: 91), br = randomArray(c, seed: 92)
        let we = randomArray(hidden * 4 * c, seed: 93), be = randomArray(hidden, seed: 94)
        let wp = randomArray(cout * hidden, seed: 95), bp = randomArray(cout, seed: 96)
        // The three transposed weights, then the three biases.
        let weightFloats = cin * c + 4 * c * hidden + hidden * cout
        var parameters = [Float](repeating: 0, count: weightFloats) + br + be + bp
        parameters.ptr { t in
            transposeWeight(wr, cin: cin, cout: c, into: t)
            transposeWeight(we, cin: 4 * c, cout: hidden, into: t + cin * c)
            transposeWeight(wp, cin: hidden, cout: cout, into: t + cin * c + 4 * c * hidden)
        }
        for (n, h, w) in [(3, 12, 10), (5, 24, 30)] {
            let pixels = n * h * w, rows = pixels / 4
            let x = randomArray(pixels * ldx, seed: 97)
            for threads in [1, 2, 3] {
                Parallel.threads = threads
                defer { Parallel.threads = 1 }
                var want = [Float](repeating: -1, count: rows * ldy), y = want, level = [Float](repeating: 0, count: rows * 4 * c)
                var haarBuffers = [Float](repeating: 0, count: reductionHaarBufferCount(width: w, cin: cin, cout: c, threads: threads))
                var ffBuffers = [Float](repeating: 0, count: feedForwardBufferCount(cin: 4 * c, hidden: hidden, cout: cout, threads: threads))
                var buffers = [Float](repeating: 0, count: reductionHaarFeedForwardBufferCount(
                    width: w, cin: cin, reduced: c, hidden: hidden, cout: cout, threads: threads))
                parameters.withUnsafeBufferPointer { tp in
                    let t = tp.baseAddress!, biases = t + weightFloats
                    let reduction = DenseWeights(weightT: t, bias: biases, cin: cin, cout: c)
                    let expand = DenseWeights(weightT: t + cin * c, bias: biases + c, cin: 4 * c, cout: hidden)
                    let project = DenseWeights(weightT: t + cin * c + 4 * c * hidden, bias: biases + c + hidden, cin: hidden, cout: cout)
                    level.ptr { l in haarBuffers.ptr { hb in ffBuffers.ptr { fb in want.ptr { o in
                        reductionHaarForward(x: x, ldx: ldx, batch: n, height: h, width: w, reduction: reduction, y: l, ldy: 4 * c,
                                             buffers: hb, bufferThreads: threads)
                        feedForwardForward(x: l, ldx: 4 * c, rows: rows, expand: expand, project: project, mask: nil, y: o + 1, ldy: ldy,
                                           buffers: fb, bufferThreads: threads)
                    } } } }
                    y.ptr { o in buffers.ptr { b in
                        reductionHaarFeedForward(x: x, ldx: ldx, batch: n, height: h, width: w, reduction: reduction, expand: expand,
                                                 project: project, y: o + 1, ldy: ldy, buffers: b, bufferThreads: threads)
                    } }
                }
                XCTAssertEqual(y, want, "\(n) x \(h) x \(w), \(threads) threads")
            }
        }
    }

    func testFusedFeedForwardInputGradientIsBitwiseTheSeparateLayers() throws {
        // project 96 -> 40 taken back through GELU * dropout, against denseBackward's dx and
        // geluBackward(derivative:), for fewer and more rows than one small-kernel product.
        let cin = 48, hidden = 96, cout = 40
        try XCTSkipIf(feedForwardChunkRows(cin: cin, hidden: hidden, cout: cout) == nil, "no small-matrix kernel in this OpenBLAS")
        for rows in [60, 2000] {
            let dy = randomArray(rows * cout, seed: 81), w = randomArray(cout * hidden, seed: 82)
            let derivative = randomArray(rows * hidden, seed: 83), x = randomArray(rows * hidden, seed: 84)
            let keep = (0..<(rows * hidden)).map { UInt8($0 % 3 == 0 ? 0 : 1) }
            for withMask in [false, true] {
                var dAct = [Float](repeating: 0, count: rows * hidden), want = dAct
                var dW = [Float](repeating: 0, count: cout * hidden)
                keep.withUnsafeBufferPointer { k in
                    let mask = withMask ? DropoutMask(keep: k.baseAddress!, scale: 2) : nil
                    dy.withUnsafeBufferPointer { g in w.withUnsafeBufferPointer { wp in x.withUnsafeBufferPointer { xp in
                    derivative.withUnsafeBufferPointer { d in dAct.ptr { a in want.ptr { o in dW.ptr { dw in
                        denseBackward(x: xp.baseAddress!, ldx: hidden, rows: rows, cin: hidden, weight: wp.baseAddress!, cout: cout,
                                      dy: g.baseAddress!, lddy: cout, dx: a, lddx: hidden, accumulateDx: false, dWeight: dw, dBias: nil)
                        geluBackward(derivative: d.baseAddress!, mask: mask, dy: a, dx: o, count: rows * hidden)
                    } } } }
                    } } }
                }
                for threads in [1, 2, 3] {
                    Parallel.threads = threads
                    defer { Parallel.threads = 1 }
                    var dx = [Float](repeating: -1, count: rows * hidden)
                    var buffers = [Float](repeating: 0, count: feedForwardBufferCount(cin: cin, hidden: hidden, cout: cout, threads: threads))
                    keep.withUnsafeBufferPointer { k in
                        let mask = withMask ? DropoutMask(keep: k.baseAddress!, scale: 2) : nil
                        dy.withUnsafeBufferPointer { g in w.withUnsafeBufferPointer { wp in derivative.withUnsafeBufferPointer { d in
                        dx.ptr { o in buffers.ptr { b in
                            feedForwardInputGradient(dy: g.baseAddress!, rows: rows, project: wp.baseAddress!, cin: hidden, cout: cout,
                                                     expandCin: cin, derivative: d.baseAddress!, mask: mask, dx: o,
                                                     buffers: b, bufferThreads: threads)
                        } }
                        } } }
                    }
                    XCTAssertEqual(dx, want, "\(rows) rows, mask \(withMask), \(threads) threads")
                }
            }
        }
    }

    func testTallDenseInSmallProducts() {
        let rows = 3000, cin = 64, cout = 16
        let x = randomArray(rows * cin, seed: 31), w = randomArray(cout * cin, seed: 32), dy = randomArray(rows * cout, seed: 33)
        let dW0 = randomArray(cout * cin, seed: 34), b = randomArray(cout, seed: 35)
        let wantY = naiveDense(x: x, rows: rows, cin: cin, weight: w, bias: b, cout: cout)
        var wantDx = [Float](repeating: 0, count: rows * cin), wantDW = dW0
        for r in 0..<rows { for ci in 0..<cin {
            var s = 0.0
            for co in 0..<cout { s += Double(dy[r * cout + co]) * Double(w[co * cin + ci]) }
            wantDx[r * cin + ci] = Float(s)
        } }
        for co in 0..<cout { for ci in 0..<cin {
            var s = Double(dW0[co * cin + ci])
            for r in 0..<rows { s += Double(dy[r * cout + co]) * Double(x[r * cin + ci]) }
            wantDW[co * cin + ci] = Float(s)
        } }
        // Channel slices of wider buffers, as the model passes them: x at column 1 of rows of
        // ldx, y at column 1 of rows of ldy, dx at column 0 of rows of lddx; the rest stays untouched.
        let ldx = cin + 3, ldy = cout + 2, lddx = cin + 1
        var xWide = [Float](repeating: 0, count: rows * ldx)
        for r in 0..<rows { for ci in 0..<cin { xWide[r * ldx + 1 + ci] = x[r * cin + ci] } }
        func slice(_ a: [Float], ld: Int, offset: Int, width: Int) -> [Float] {
            (0..<rows).flatMap { r in a[(r * ld + offset)..<(r * ld + offset + width)] }
        }
        var first: [Float]? = nil
        for threads in [1, 2, 3] {
            Parallel.threads = threads
            defer { Parallel.threads = 1 }
            var y = [Float](repeating: -1, count: rows * ldy), scratch = [Float](repeating: 0, count: cin * cout)
            var dx = [Float](repeating: -1, count: rows * lddx), dW = dW0
            xWide.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in dy.withUnsafeBufferPointer { dyp in
            b.withUnsafeBufferPointer { bp in y.ptr { yp in scratch.ptr { sp in dx.ptr { dxp in dW.ptr { dwp in
                denseForward(x: xp.baseAddress! + 1, ldx: ldx, rows: rows, cin: cin, weight: wp.baseAddress!, bias: bp.baseAddress!,
                             cout: cout, y: yp + 1, ldy: ldy, scratch: sp)
                denseBackward(x: xp.baseAddress! + 1, ldx: ldx, rows: rows, cin: cin, weight: wp.baseAddress!, cout: cout,
                              dy: dyp.baseAddress!, lddy: cout, dx: dxp, lddx: lddx, accumulateDx: false, dWeight: dwp, dBias: nil)
            } } } } } } } }
            let ys = slice(y, ld: ldy, offset: 1, width: cout), dxs = slice(dx, ld: lddx, offset: 0, width: cin)
            assertClose(ys, wantY, "dense y, \(threads) threads")
            assertClose(dxs, wantDx, "dense dx, \(threads) threads")
            assertClose(dW, wantDW, "dense dW, \(threads) threads")
            XCTAssertEqual(Set(slice(y, ld: ldy, offset: 0, width: 1) + slice(y, ld: ldy, offset: cout + 1, width: 1)), [-1],
                           "y outside its slice")
            XCTAssertEqual(Set(slice(dx, ld: lddx, offset: cin, width: 1)), [-1], "dx outside its slice")
            if let first { XCTAssertEqual(first, ys + dxs + dW, "\(threads) threads") } else { first = ys + dxs + dW }
        }
    }

    /// Strided channel views: dense reads a slice of a wider buffer and writes into one.
    func testDenseOnChannelSlices() {
        let rows = 10, cin = 3, cout = 2, ldx = 7, ldy = 5
        var wide = randomArray(rows * ldx, seed: 5), w = randomArray(cout * cin, seed: 6)
        var out = [Float](repeating: -1, count: rows * ldy)
        wide.ptr { xp in w.ptr { wp in out.ptr { yp in
            denseForward(x: xp + 2, ldx: ldx, rows: rows, cin: cin, weight: wp, bias: nil, cout: cout, y: yp + 1, ldy: ldy)
        } } }
        let packed = (0..<rows).flatMap { r in (0..<cin).map { wide[r * ldx + 2 + $0] } }
        let want = naiveDense(x: packed, rows: rows, cin: cin, weight: w, bias: nil, cout: cout)
        for r in 0..<rows {
            XCTAssertEqual(out[r * ldy], -1)
            for c in 0..<cout { XCTAssertEqual(out[r * ldy + 1 + c], want[r * cout + c], accuracy: 1e-5) }
            for c in (1 + cout)..<ldy { XCTAssertEqual(out[r * ldy + c], -1) }
        }
    }

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
    func assertSameBitsForAnyThreadCount(file: StaticString = #filePath, line: UInt = #line, _ run: (Int) -> [Float]) {
        func at(_ threads: Int) -> [Float] {
            Parallel.threads = threads
            defer { Parallel.threads = 1 }
            return run(threads)
        }
        let one = at(1)
        XCTAssertEqual(one, at(2), "2 threads", file: file, line: line)
        XCTAssertEqual(one, at(3), "3 threads", file: file, line: line)
    }

    func testConv2dManyChunks() {
        // More output rows than one chunk holds (chunks of ~2^20 floats / patch size).
        checkConv2d(n: 2, h: 64, w: 64, cin: 64, cout: 3, k: 3, stride: 1, pad: 1, samples: 4)
    }

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
