// Work splitting on one thread pool, for the element-wise kernels and the GEMM blocks (BLAS.swift).
// Element-wise kernels split a range of rows into at most `Parallel.threads` contiguous pieces.
// Results never depend on the thread count: every piece computes exactly what the serial loop
// would for its rows, and reductions combine fixed-size partial sums in a fixed order.
import Dispatch

public enum Parallel {
    /// Threads used by the kernels and GEMMs (set once at start-up).
    nonisolated(unsafe) public static var threads = 1

    /// Calls `body(lo, hi)` over disjoint pieces covering 0..<count, in parallel when it pays.
    @inline(__always)
    public static func forRange(_ count: Int, minPerThread: Int = 16_384, _ body: (Int, Int) -> Void) {
        let pieces = min(threads, max(1, count / max(1, minPerThread)))
        if pieces <= 1 {
            if count > 0 { body(0, count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UnsafeSendable(body)
            DispatchQueue.concurrentPerform(iterations: pieces) { p in
                shared.value(count * p / pieces, count * (p + 1) / pieces)
            }
        }
    }

    /// Runs `body(i)` for i in 0..<count (count small, e.g. one per thread or per image).
    @inline(__always)
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if threads <= 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UnsafeSendable(body)
            DispatchQueue.concurrentPerform(iterations: count) { shared.value($0) }
        }
    }
}

/// Carries a non-Sendable value (a closure over raw buffers) into concurrentPerform; the kernels
/// guarantee that the pieces touch disjoint memory.
public struct UnsafeSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
