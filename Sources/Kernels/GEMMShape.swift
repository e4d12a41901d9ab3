// The GEMMs a stretch of work runs, for `wavemix bench --profile`: while a GEMMRecord listens,
// BLAS.swift adds the shape of every product it is asked for, from whichever thread asks; the
// profiler then times the same shapes alone. The kernels themselves hold no profiler code. A
// product BLAS.swift cuts between threads counts once, whole; one a kernel cuts itself (its own
// parallel pieces, `gemm(split: false)`) counts as the pieces it issues.
import Foundation

/// One product's shape: C (m x n) = op(A) (m x k) * op(B) (k x n), added to C or not.
public struct GEMMShape: Hashable, Sendable {
    public let transA: Bool, transB: Bool
    public let m: Int, n: Int, k: Int
    public let accumulate: Bool

    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

    /// Runs this GEMM on tightly packed buffers (at least `a`, `b`, `c` floats: see `sizes`).
    public func run(a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n,
             beta: accumulate ? 1 : 0, c: c, ldc: n)
    }

    public var sizes: (a: Int, b: Int, c: Int) { (m * k, k * n, m * n) }
}

/// How often each GEMM shape ran while this record was `listening`. Kernels issue their products
/// from the threads of their parallel pieces, so adding is locked.
public final class GEMMRecord: @unchecked Sendable {
    /// The record BLAS.swift adds to; nil when nobody profiles. One thread sets it around the work
    /// it times and clears it afterwards.
    nonisolated(unsafe) public static var listening: GEMMRecord?

    private let lock = NSLock()
    private var counts: [GEMMShape: Int] = [:]

    public init() {}

    /// Each shape recorded so far, with its count.
    public var shapes: [GEMMShape: Int] { lock.withLock { counts } }

    func add(_ shape: GEMMShape) { lock.withLock { counts[shape, default: 0] += 1 } }
}
