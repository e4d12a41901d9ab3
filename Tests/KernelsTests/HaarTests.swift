// The Haar DWT level: values and channel layout of the official package, adjointness of the
// backward, strided channel views.
import Kernels
import XCTest

final class HaarTests: XCTestCase {
    func testBlockValuesAndLayout() {
        // One image, 2x2 pixels, 2 channels: channel 0 = [1 2; 3 4], channel 1 = [-1 5; 0.5 2].
        var x: [Float] = [1, -1, 2, 5, 3, 0.5, 4, 2]
        var y = [Float](repeating: 0, count: 8)
        x.ptr { xp in y.ptr { yp in haarForward(x: xp, ldx: 2, batch: 1, height: 2, width: 2, channels: 2, y: yp, ldy: 8) } }
        func bands(_ a: Float, _ b: Float, _ c: Float, _ d: Float) -> [Float] {
            [(a + b + c + d) / 2, (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2]
        }
        let c0 = bands(1, 2, 3, 4), c1 = bands(-1, 5, 0.5, 2)
        let want: [Float] = [c0[0], c1[0], c0[1], c0[2], c0[3], c1[1], c1[2], c1[3]]
        assertClose(y, want, rtol: 2e-7, atol: 0, "haar block")
        // The taps are float32 0.70710677, so LL of four ones is 4 * 0.49999997, not 2.
        var ones: [Float] = [1, 1, 1, 1], out = [Float](repeating: 0, count: 4)
        ones.ptr { xp in out.ptr { yp in haarForward(x: xp, ldx: 1, batch: 1, height: 2, width: 2, channels: 1, y: yp, ldy: 4) } }
        XCTAssertEqual(out[0], haarTap * (haarTap + haarTap) + haarTap * (haarTap + haarTap))
        XCTAssertNotEqual(out[0], 2)
    }

    func testBackwardIsAdjointAndMatchesFiniteDifferences() {
        let n = 2, h = 6, w = 4, c = 3
        var x = randomArray(n * h * w * c, seed: 31)
        let r = randomArray(n * (h / 2) * (w / 2) * 4 * c, seed: 32)
        let forward = { (x: [Float]) -> [Float] in
            var x = x, y = [Float](repeating: 0, count: r.count)
            x.ptr { xp in y.ptr { yp in haarForward(x: xp, ldx: c, batch: n, height: h, width: w, channels: c, y: yp, ldy: 4 * c) } }
            return y
        }
        var dy = r, dx = [Float](repeating: 0, count: x.count)
        dy.ptr { g in dx.ptr { d in haarBackward(dy: g, lddy: 4 * c, batch: n, height: h, width: w, channels: c, dx: d, lddx: c, accumulate: false) } }
        XCTAssertEqual(dot(forward(x), r), dot(x, dx), accuracy: 1e-4)
        checkGradient("haar dx", values: &x, analytic: dx, eps: 0.5) { dot(forward($0), r) }

        // accumulate adds on top of what is there.
        var acc = [Float](repeating: 1, count: x.count)
        dy.ptr { g in acc.ptr { d in haarBackward(dy: g, lddy: 4 * c, batch: n, height: h, width: w, channels: c, dx: d, lddx: c, accumulate: true) } }
        assertClose(acc, dx.map { $0 + 1 }, rtol: 0, atol: 1e-6, "haar accumulate")
    }

    /// Multi-level use: level k reads the LL channels of level k-1's wider output buffer.
    func testStridedViews() {
        let n = 1, h = 4, w = 4, c = 2, ldx = 5, ldy = 11
        var wide = randomArray(n * h * w * ldx, seed: 41)
        var packed = (0..<(n * h * w)).flatMap { p in (0..<c).map { wide[p * ldx + 1 + $0] } }
        var a = [Float](repeating: 0, count: 4 * 4 * c), b = [Float](repeating: -3, count: 4 * ldy)
        packed.ptr { xp in a.ptr { yp in haarForward(x: xp, ldx: c, batch: n, height: h, width: w, channels: c, y: yp, ldy: 4 * c) } }
        wide.ptr { xp in b.ptr { yp in haarForward(x: xp + 1, ldx: ldx, batch: n, height: h, width: w, channels: c, y: yp + 2, ldy: ldy) } }
        for p in 0..<4 {
            for ch in 0..<(4 * c) { XCTAssertEqual(b[p * ldy + 2 + ch], a[p * 4 * c + ch]) }
            XCTAssertEqual(b[p * ldy], -3); XCTAssertEqual(b[p * ldy + 1], -3); XCTAssertEqual(b[p * ldy + 10], -3)
        }
    }
}
