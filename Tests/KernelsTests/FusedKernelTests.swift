// The fused kernels (feed-forward, reduction + Haar, eval-mode mixing) are bitwise the separate
// layers they replace, forward and backward.
import Kernels
import XCTest

final class FusedKernelTests: XCTestCase {
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
}
