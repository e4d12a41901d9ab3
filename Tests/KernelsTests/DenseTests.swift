// Dense (1x1 convolution) layers: the GEMM-backed kernels against direct loops, gradients against
// finite differences, tall products split into small ones, and layers on channel slices.
import Kernels
import XCTest

final class DenseTests: XCTestCase {
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
}
