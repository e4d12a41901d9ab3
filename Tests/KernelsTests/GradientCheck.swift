// Shared test helpers: random tensors, finite-difference gradient checks and max-diff comparisons.
import Kernels
import Randomness
import XCTest

func randomArray(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SplitMix64(key: seed)
    return (0..<count).map { _ in rng.nextNormal() * scale }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "size mismatch \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

func maxAbs(_ a: [Float]) -> Float { a.map(abs).max() ?? 0 }

/// Compares `got` with `want` tensor-wise: max|a-b| <= rtol * max|want| + atol.
func assertClose(_ got: [Float], _ want: [Float], rtol: Float = 1e-5, atol: Float = 1e-6,
                 _ name: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(got.count, want.count, "\(name): size", file: file, line: line)
    guard got.count == want.count else { return }
    let diff = maxAbsDiff(got, want), limit = rtol * maxAbs(want) + atol
    XCTAssertLessThanOrEqual(diff, limit, "\(name): max|diff| \(diff) > \(limit) (max|want| \(maxAbs(want)))", file: file, line: line)
}

/// Central finite differences of `loss` with respect to sampled entries of `values`, compared with
/// `analytic`. `loss` reads `values` through the closure's capture, in Double.
func checkGradient(_ name: String, samples: Int = 48, values: inout [Float], analytic: [Float], eps: Float, rtol: Float = 2e-3,
                   seed: UInt64 = 7, loss: ([Float]) -> Double,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(values.count, analytic.count, "\(name): gradient size", file: file, line: line)
    var rng = SplitMix64(key: seed)
    let indices = values.count <= samples ? Array(0..<values.count) : (0..<samples).map { _ in rng.nextInt(below: values.count) }
    let scale = max(maxAbs(analytic), 1e-3)
    var worst: Float = 0
    for i in indices {
        let saved = values[i]
        values[i] = saved + eps
        let plus = loss(values)
        values[i] = saved - eps
        let minus = loss(values)
        values[i] = saved
        let numeric = Float((plus - minus) / Double(2 * eps))
        worst = max(worst, abs(numeric - analytic[i]) / scale)
    }
    XCTAssertLessThanOrEqual(worst, rtol, "\(name): finite-difference mismatch \(worst) (relative to max|grad| \(scale))",
                             file: file, line: line)
}

/// Σ y·r in Double: the scalar whose gradient with respect to y is r.
func dot(_ y: [Float], _ r: [Float]) -> Double {
    zip(y, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

extension Array where Element == Float {
    /// Calls body with a mutable pointer to a copy-free buffer (the array itself).
    mutating func ptr<R>(_ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }
}

extension XCTestCase {
    /// Runs `run` at 1, 2 and 3 threads and fails unless the results have the same bits.
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
}
