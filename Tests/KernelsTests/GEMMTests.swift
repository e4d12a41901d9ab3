// gemm splits large products into row or column blocks on the kernels' thread pool: every
// transpose combination, with leading dimensions wider than the matrices, must give bitwise the
// same result as one single-threaded call, and both must match a direct loop. KernelSetTests runs
// these again under every OpenBLAS kernel set the CPU can execute.
@testable import Kernels
import XCTest

final class GEMMTests: XCTestCase {
    func checkSplit(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, beta: Float) {
        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 2
        var a = randomArray((transA ? k : m) * lda, seed: 31), b = randomArray((transB ? n : k) * ldb, seed: 32)
        let c0 = randomArray(m * ldc, seed: 33)
        func run(threads: Int) -> [Float] {
            Parallel.threads = threads
            defer { Parallel.threads = 1 }
            var c = c0
            a.ptr { ap in b.ptr { bp in c.ptr { cp in
                gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: ap, lda: lda, b: bp, ldb: ldb,
                     beta: beta, c: cp, ldc: ldc)
            } } }
            return c
        }
        let label = "gemm \(m)x\(n)x\(k) transA \(transA) transB \(transB) beta \(beta)"
        Parallel.threads = 3
        XCTAssertGreaterThan(GEMMSplit.plan(m: m, n: n, k: k).pieces, 1, "\(label): not split, the test checks nothing")
        Parallel.threads = 1
        let serial = run(threads: 1), split = run(threads: 3)
        XCTAssertEqual(serial, split, "\(label): split result differs from the single call")
        var want = c0
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = 0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p], bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                want[i * ldc + j] = 0.5 * Float(s) + beta * c0[i * ldc + j]
            }
        }
        assertClose(serial, want, rtol: 1e-4, label)
    }

    func testRowSplitEveryTranspose() {
        for transA in [false, true] { for transB in [false, true] { for beta: Float in [0, 1] {
            checkSplit(m: 301, n: 40, k: 260, transA: transA, transB: transB, beta: beta)
        } } }
    }

    func testColumnSplitAccumulates() throws {
        Parallel.threads = 3
        defer { Parallel.threads = 1 }
        let plan = GEMMSplit.plan(m: 24, n: 517, k: 270)
        try XCTSkipUnless(GEMMSplit.columns, "\(BLAS.coreName) kernels: rows only (plan \(plan))")
        XCTAssertFalse(plan.rows)
        Parallel.threads = 1
        for transA in [false, true] { for transB in [false, true] {
            checkSplit(m: 24, n: 517, k: 270, transA: transA, transB: transB, beta: 1)
        } }
    }

    func testPiecesStayOnThePackedKernel() throws {
        try XCTSkipUnless(SmallGEMM.available, "\(BLAS.coreName) kernels have no small-matrix kernel")
        // 95 x 8 x 5000: 3.8 * 10^6 multiply-adds, work for three pieces, but cut on the AVX-512
        // kernels' 16-row tiles the first of three would hold 16 rows (0.64 * 10^6), which
        // OpenBLAS computes with its small-matrix kernel, rounding them unlike the whole call.
        Parallel.threads = 3
        let plan = GEMMSplit.plan(m: 95, n: 8, k: 5000)
        Parallel.threads = 1
        XCTAssertEqual(plan.pieces, 2)
        for transA in [false, true] {
            checkSplit(m: 95, n: 8, k: 5000, transA: transA, transB: false, beta: 0)
        }
    }

    func testSmallProductsStayWhole() {
        Parallel.threads = 2
        defer { Parallel.threads = 1 }
        XCTAssertEqual(GEMMSplit.plan(m: 64, n: 64, k: 64).pieces, 1)
        XCTAssertEqual(GEMMSplit.plan(m: 8, n: 12, k: 100_000).pieces, 1, "too small a C for 16-wide blocks")
        XCTAssertEqual(GEMMSplit.plan(m: 4096, n: 128, k: 512).pieces, 2)
    }
}
