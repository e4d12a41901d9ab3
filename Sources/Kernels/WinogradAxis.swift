// One axis of a Winograd tile: `outputs` outputs of a correlation with a short filter from
// `points` inputs, through `points` products Y = A^T [(G g) . (B^T d)]. Two axes make a 2D tile.
// The 2-tap axes serve the transposed convolution's parity classes (a tile of 4 x 4 outputs
// multiplies 25 points where 2 x 2 tiles multiply 9 per 4 outputs, 36 per 16: 31% fewer GEMM
// flops); the 3-tap axis serves the 3x3 convolutions (36 points per 16 outputs where F(2x2, 3x3)
// multiplies 64). The transforms are written out term by term, in a fixed order, so every build
// and thread count computes the same bits.

protocol WinogradAxis {
    /// Outputs of one tile along this axis.
    static var outputs: Int { get }
    /// Inputs one tile reads, and products it multiplies.
    static var points: Int { get }
    /// B^T d: `input(i)` is input i, `store(i, v)` takes point i.
    static func input<V: SIMD>(_ input: (Int) -> V, _ store: (Int, V) -> Void) where V.Scalar == Float
    /// A^T p: `point(i)` is product i, `store(j, v)` takes output j.
    static func output<V: SIMD>(_ point: (Int) -> V, _ store: (Int, V) -> Void) where V.Scalar == Float
}

/// An axis for a 2-tap filter: `outputs + 1` of the five points 0, 1, -1, 2, inf, each with its
/// row of G = [1/2 0; 1/2 1/2; 1/6 -1/6; 1/6 1/3; 0 1] (twoTapKernel), so the transformed kernel
/// of a 2D tile of any two such axes is part of one 5 x 5 transform.
protocol TwoTapAxis: WinogradAxis {
    /// Which of the five points point i is (its row of twoTapKernel).
    static func sharedPoint(_ i: Int) -> Int
}

extension TwoTapAxis {
    static var points: Int { outputs + 1 }
}

/// G g for the taps (g0, g1) in input order, at all five points: `store(i, u)` takes point i.
@inline(__always)
func twoTapKernel<V: SIMD>(_ g0: V, _ g1: V, _ store: (Int, V) -> Void) where V.Scalar == Float {
    store(0, g0 / 2); store(1, (g0 + g1) / 2); store(2, (g0 - g1) / 6); store(3, (g0 + 2 * g1) / 6); store(4, g1)
}

/// F(2, 2), points 0, 1, inf: B^T = [2 -2 0; 0 2 0; 0 -1 1], A^T = [1 1 0; 0 1 1] (G's rows halved
/// against B^T's doubled: exactly the bits of G = [1 0; 1 1; 0 1], B^T = [1 -1 0; 0 1 0; 0 -1 1]).
enum TwoOutputs: TwoTapAxis {
    static let outputs = 2
    static func sharedPoint(_ i: Int) -> Int { [0, 1, 4][i] }

    @inline(__always)
    static func input<V: SIMD>(_ d: (Int) -> V, _ store: (Int, V) -> Void) where V.Scalar == Float {
        let d1 = d(1)
        store(0, 2 * (d(0) - d1)); store(1, 2 * d1); store(2, d(2) - d1)
    }

    @inline(__always)
    static func output<V: SIMD>(_ p: (Int) -> V, _ store: (Int, V) -> Void) where V.Scalar == Float {
        let p1 = p(1)
        store(0, p(0) + p1); store(1, p1 + p(2))
    }
}

/// F(4, 2), all five points, with B^T's rows scaled to integers (G's divided to match):
/// B^T = [2 -1 -2 1 0; 0 2 1 -1 0; 0 -2 3 -1 0; 0 -1 0 1 0; 0 2 -1 -2 1],
/// A^T = [1 1 1 1 0; 0 1 -1 2 0; 0 1 1 4 0; 0 1 -1 8 1].
/// In float32 its 2D tiles differ from the exact sum by ~3e-6 of the outputs' size (2 x 2 tiles:
/// ~7e-7); the parity tolerance is 1e-4.
enum FourOutputs: TwoTapAxis {
    static let outputs = 4
    static func sharedPoint(_ i: Int) -> Int { i }

    @inline(__always)
    static func input<V: SIMD>(_ d: (Int) -> V, _ store: (Int, V) -> Void) where V.Scalar == Float {
        let d0 = d(0), d1 = d(1), d2 = d(2), d3 = d(3), d4 = d(4)
        let t = d3 - d1
        store(0, 2 * (d0 - d2) + t)
        store(1, d1 + d2 - t)
        store(2, 3 * d2 - 2 * d1 - d3)
        store(3, t)
        store(4, d4 - d2 - 2 * t)
    }

    @inline(__always)
    static func output<V: SIMD>(_ p: (Int) -> V, _ store: (Int, V) -> Void) where V.Scalar == Float {
        let p1 = p(1), p2 = p(2), p3 = p(3)
        let s = p1 + p2, d = p1 - p2
        store(0, p(0) + s + p3)
        store(1, d + 2 * p3)
        store(2, s + 4 * p3)
        store(3, d + 8 * p3 + p(4))
    }
}

/// B^T d of the six points 0, 1, -1, 2, -2, inf, rows scaled to integers (Lavin & Gray's, up to
/// the signs of two rows, which G takes): B^T = [4 0 -5 0 1 0; 0 4 4 -1 -1 0; 0 -4 4 1 -1 0;
/// 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
@inline(__always)
func sixPointInput<V: SIMD>(_ d: (Int) -> V, _ store: (Int, V) -> Void) where V.Scalar == Float {
    let d1 = d(1), d2 = d(2), d3 = d(3), d4 = d(4)
    let even = d4 - d2, odd = 2 * (d3 - d1)
    store(0, 4 * d(0) - 5 * d2 + d4)
    store(1, 4 * (d1 + d2) - (d3 + d4))
    store(2, 4 * (d2 - d1) + (d3 - d4))
    store(3, even + odd)
    store(4, even - odd)
    store(5, 4 * d1 - 5 * d3 + d(5))
}

/// F(4, 3), points 0, 1, -1, 2, -2, inf (B^T: sixPointInput), for the 3x3 convolutions:
/// G = [1/4 0 0; 1/6 1/6 1/6; 1/6 -1/6 1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
/// A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
/// In float32 its 2D tiles differ from the exact sum by ~3.4e-6 of the outputs' size (F(2x2, 3x3):
/// ~4e-7); the parity tolerance is 1e-4.
enum FourOutputsOfThreeTaps: WinogradAxis {
    static let outputs = 4
    static let points = 6

    @inline(__always)
    static func input<V: SIMD>(_ d: (Int) -> V, _ store: (Int, V) -> Void) where V.Scalar == Float {
        sixPointInput(d, store)
    }

    @inline(__always)
    static func output<V: SIMD>(_ p: (Int) -> V, _ store: (Int, V) -> Void) where V.Scalar == Float {
        let p1 = p(1), p2 = p(2), p3 = p(3), p4 = p(4)
        let s = p1 + p2, d = p1 - p2, s2 = p3 + p4, d2 = p3 - p4
        store(0, p(0) + s + s2)
        store(1, d + 2 * d2)
        store(2, s + 4 * s2)
        store(3, d + 8 * d2 + p(5))
    }

    /// G g for the taps (g0, g1, g2) in input order: `store(i, u)` takes point i.
    @inline(__always)
    static func kernel<V: SIMD>(_ g0: V, _ g1: V, _ g2: V, _ store: (Int, V) -> Void) where V.Scalar == Float {
        store(0, g0 / 4)
        store(1, (g0 + g1 + g2) / 6)
        store(2, (g0 - g1 + g2) / 6)
        store(3, (g0 + 2 * g1 + 4 * g2) / 24)
        store(4, (g0 - 2 * g1 + 4 * g2) / 24)
        store(5, g2)
    }
}

/// How a class plane of `size` outputs along one axis is tiled: `four` tiles of four outputs from
/// 0, then one of two outputs where 1 or 2 remain (where 3 remain, the last four-output tile
/// overhangs the edge by one: 5 points for 3 outputs, where two-output tiles would need 6).
struct AxisTiling {
    let four: Int
    let two: Bool

    init(_ size: Int) {
        four = size / 4 + (size % 4 == 3 ? 1 : 0)
        two = size % 4 == 1 || size % 4 == 2
    }

    /// Tiles of a kind along this axis, and the first output of its i-th tile.
    func count(fourOutputs: Bool) -> Int { fourOutputs ? four : (two ? 1 : 0) }
    func start(fourOutputs: Bool, _ i: Int) -> Int { fourOutputs ? 4 * i : 4 * four }
}
