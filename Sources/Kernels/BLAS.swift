// The one door to OpenBLAS: row-major sgemm. Every heavy kernel (1x1, im2col and Winograd
// convolutions, transposed convolutions, linear layers) calls `gemm`, or `gemmInSmallProducts`
// for tall products cut into pieces for OpenBLAS's small-matrix kernel.
//
// OpenBLAS itself always runs single-threaded: a large GEMM is split into row or column blocks on
// the same thread pool as the element-wise kernels (`Parallel`). Two pools on the same cores fight:
// OpenBLAS's workers spin for a while after each call and steal the cores from the element-wise
// passes between GEMMs, and vice versa; measured on a 2-core host, GEMMs inside a training step ran
// at ~95 GFLOP/s with both pools and ~140 with one. Each block computes its outputs with the same
// K-ordered accumulation as the whole call would, so results do not depend on the thread count.
//
// While a profiler listens (GEMMRecord, GEMMShape.swift), `recordProduct` here adds each product's
// shape as it is asked for: a `gemm` call, a small-kernel chunk, a K-chunk of a transposed tall
// product. Where this file cuts a product between threads, the product is recorded once, whole.
import CCacheHints
import COpenBLAS

/// C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is m x k, op(B) is k x n, C is m x n.
/// `split: false` runs it on the calling thread (for kernels that already run one piece per thread,
/// each piece's products recorded as they run).
public func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, split: Bool = true
) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS would scale C by beta; keep that meaning for empty reductions.
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    recordProduct(transA, transB, m, n, k, beta: beta)
    if !split {
        // A kernel's own parallel piece: stay on this thread.
        sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    }
    let (splitRows, pieces) = GEMMSplit.plan(m: m, n: n, k: k)
    if pieces <= 1 {
        sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    }
    let extent = splitRows ? m : n
    let output = UnsafeSendable(c)
    Parallel.forEach(pieces) { p in
        let (lo, hi) = GEMMSplit.block(p, of: pieces, extent: extent)
        if lo >= hi { return }
        if splitRows {
            sgemm(transA, transB, hi - lo, n, k, alpha, transA ? a + lo : a + lo * lda, lda, b, ldb, beta,
                  output.value + lo * ldc, ldc)
        } else {
            sgemm(transA, transB, m, hi - lo, k, alpha, a, lda, transB ? b + lo * ldb : b + lo, ldb, beta,
                  output.value + lo, ldc)
        }
    }
}

/// `gemm` as a sequence of products small enough for OpenBLAS's small-matrix kernel (SmallGEMM),
/// for the tall GEMMs of the dense layers, where it runs 1.1-1.9x faster than one packed call
/// (NN and TN; its NT variant is slower than the packed path). Without transA, C is cut into equal
/// chunks of rows and each thread takes its share of rows (every row is computed the same way in
/// any chunk); `bias`, if given, is added to every row of C as each chunk is computed (beta must
/// be 0). With transA (dW = dy^T x, K = pixels), K is cut into equal chunks accumulated in order,
/// and each thread takes a block of C's rows or columns through all of them. The chunks depend on
/// the shape only, so the bits do not depend on the thread count. Falls back to `gemm` (and a
/// separate bias pass) where the small kernel is missing.
public func gemmInSmallProducts(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>? = nil
) {
    precondition(bias == nil || (!transA && beta == 0), "gemmInSmallProducts: a bias goes with NN/NT products and beta 0")
    let cut = transA ? k : m
    guard m > 0, n > 0, k > 0, let chunk = SmallGEMM.rows(macsPerRow: transA ? m * n : n * k), cut > chunk else {
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        if let bias { addRowVector(bias, to: c, ld: ldc, rows: m, cols: n) }
        return
    }
    let output = UnsafeSendable(c)
    if !transA {
        let pieces = min(Parallel.threads, (m + chunk - 1) / chunk)
        // Rows of 128 floats or more: there the hint measured 5-17% faster; rows of 64 stream at
        // full memory bandwidth without it and slow down with it.
        let prefetch = k >= 128
        Parallel.forEach(pieces) { piece in
            let end = m * (piece + 1) / pieces
            forEachChunk(rows: m, piece: piece, of: pieces, chunk: chunk) { r0, r1 in
                if prefetch { prefetchRows(a, ld: lda, rows: r1..<min(end, 2 * r1 - r0), count: k) }
                smallProduct(transB: transB, m: r1 - r0, n: n, k: k, a: a + r0 * lda, lda: lda, b: b, ldb: ldb, beta: beta,
                             c: output.value + r0 * ldc, ldc: ldc, bias: bias)
            }
        }
        return
    }
    let chunks = (k + chunk - 1) / chunk
    // Blocks of C's longer side, cut as in `gemm`.
    let splitRows = GEMMSplit.splitsRows(m: m, n: n), extent = splitRows ? m : n
    let pieces = max(1, min(Parallel.threads, extent / GEMMSplit.tile))
    Parallel.forEach(pieces) { p in
        let (lo, hi) = GEMMSplit.block(p, of: pieces, extent: extent)
        for i in 0..<chunks {
            let k0 = k * i / chunks, k1 = k * (i + 1) / chunks
            let beta = i == 0 ? beta : 1
            // Each chunk's product once, whole: the first block records it for all of them.
            if p == 0 { recordProduct(true, transB, m, n, k1 - k0, beta: beta) }
            let a = a + k0 * lda, b = transB ? b + k0 : b + k0 * ldb
            if splitRows {
                sgemm(true, transB, hi - lo, n, k1 - k0, 1, a + lo, lda, b, ldb, beta, output.value + lo * ldc, ldc)
            } else {
                sgemm(true, transB, m, hi - lo, k1 - k0, 1, a, lda, transB ? b + lo * ldb : b + lo, ldb, beta,
                      output.value + lo, ldc)
            }
        }
    }
}

/// One chunk of gemmInSmallProducts without transA, on the calling thread: C = AB (+ beta C), or
/// with `bias` C = bias + AB computed as AB + 1 * C (bias preloaded), the same single rounding as
/// adding the bias after. The fused layers call it for their chunks, so that they compute every
/// row exactly as the unfused layers do.
@inline(__always)
func smallProduct(transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?) {
    if let bias { for r in 0..<m { (c + r * ldc).update(from: bias, count: n) } }
    let beta = bias == nil ? beta : 1
    recordProduct(false, transB, m, n, k, beta: beta)
    sgemm(false, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
}

/// Adds a product's shape to the profiler's record when one is listening (GEMMShape.swift); the
/// only place that records GEMMs.
@inline(__always)
private func recordProduct(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, beta: Float) {
    GEMMRecord.listening?.add(GEMMShape(transA: transA, transB: transB, m: m, n: n, k: k, accumulate: beta != 0))
}

/// Prefetches `count` floats of each of `rows` (row stride ld) from p: the next chunk of a tall
/// product while OpenBLAS's small kernel works on this one. Measured in C on 100k x 128 inputs
/// coming from memory (the activations of the layer before), the kernel alone reads them at
/// ~4 GB/s of the core's 12; with the hint 1x1 layers with K = 128-256 run 5-17% faster.
@inline(__always)
func prefetchRows(_ p: UnsafePointer<Float>, ld: Int, rows: Range<Int>, count: Int) {
    for r in rows { prefetchLines(p + r * ld, floats: count) }
}

/// Prefetches the lines holding p[0..<floats] into L1, or (`l2`) into L2 only: data wanted after
/// the work in between, which should not push that work's operands out of L1.
@inline(__always)
func prefetchLines(_ p: UnsafePointer<Float>, floats: Int, l2: Bool = false) {
    let start = UnsafeRawPointer(p)
    for offset in stride(from: 0, to: floats * MemoryLayout<Float>.stride, by: 64) {
        if l2 { wavemix_prefetch_l2(start + offset) } else { wavemix_prefetch(start + offset) }
    }
}

/// Where a GEMM may be cut between threads without changing a bit, by OpenBLAS kernel set
/// (measured on OpenBLAS 0.3.21 with random shapes against one call; the kernel-set tests in
/// KernelsTests run the split checks under each set this CPU can execute):
/// - AVX-512 sets: C's rows or columns at multiples of their 16-wide tile. Their small-matrix
///   kernel (SmallGEMM) rounds differently from the packed one, so no piece of a larger product
///   may be that small.
/// - Every other set: rows only, at multiples of 48. Haswell's and Zen's kernels give the same bits
///   for row cuts at multiples of 12 only, the SSE sets at multiples of 8 or 16, and a column cut
///   changes the columns next to it in Haswell's.
enum GEMMSplit {
    /// Whether the kernel set is one of the AVX-512 ones, which also give the same bits for a row
    /// cut anywhere (forEachChunk relies on it).
    static let avx512Kernels = SmallGEMM.available
    /// Rows/columns per block boundary.
    static let tile = avx512Kernels ? 16 : 48
    static let columns = avx512Kernels
    /// Below this many multiply-adds per piece, waking another thread costs more than it saves.
    static let minMACsPerPiece = 1 << 20

    /// Piece p of `pieces` blocks of 0..<extent, on tile boundaries (the last takes the rest).
    static func block(_ p: Int, of pieces: Int, extent: Int) -> (Int, Int) {
        let lo = min(extent, extent / tile * p / pieces * tile)
        return (lo, p == pieces - 1 ? extent : min(extent, extent / tile * (p + 1) / pieces * tile))
    }

    /// Whether C is cut into blocks of rows (else of columns): its longer side, where allowed.
    static func splitsRows(m: Int, n: Int) -> Bool { m >= n || !columns }

    /// The side to cut and the number of pieces (1: one call).
    static func plan(m: Int, n: Int, k: Int) -> (rows: Bool, pieces: Int) {
        let rows = splitsRows(m: m, n: n)
        let threads = Parallel.threads
        if threads <= 1 { return (rows, 1) }
        let extent = rows ? m : n, macsPerLine = (rows ? n : m) * k
        var pieces = max(1, min(threads, m * n * k / minMACsPerPiece, extent / tile))
        // The smallest block (all but the last have at least this many lines) must stay on the
        // packed kernel, as the whole product does.
        while pieces > 1 && SmallGEMM.available && (extent / tile / pieces) * tile * macsPerLine <= SmallGEMM.maxMACs {
            pieces -= 1
        }
        return (rows, pieces)
    }
}

@inline(__always)
private func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                   _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                   _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    _ = KernelSelection.current
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

public enum BLAS {
    /// Name of the kernel set OpenBLAS runs now (e.g. "Haswell", "SkylakeX"); KernelSelection
    /// chooses it.
    public static var coreName: String { String(cString: openblas_get_corename()) }
}

/// OpenBLAS's AVX-512 kernel sets (SkylakeX, Cooperlake, SapphireRapids) compute a product of at
/// most 100^3 multiply-adds with a direct kernel that skips packing A and B: 110-115 GFLOP/s on
/// this host's cores, near the FMA ceiling, against 90-100 for the packed path on the same shapes
/// (OpenBLAS 0.3.21; the speed changes between m n k = 999,424 and 1,003,520). Kernels that cut a
/// product into chunks of rows of their own choosing (the transposed convolution's tiles) keep
/// each chunk under that size. Every chunk then runs the same kernel, so the split never changes
/// the bits; the two kernels may round differently.
enum SmallGEMM {
    static let maxMACs = 1_000_000
    static let available = ["SkylakeX", "Cooperlake", "SapphireRapids"].contains(KernelSelection.current.blasCore)

    /// The most rows a chunk may have for the small kernel, given its multiply-adds per row; nil
    /// where that kernel is missing or would need chunks thinner than 8 rows.
    static func rows(macsPerRow: Int) -> Int? {
        let rows = maxMACs / max(1, macsPerRow)
        return available && rows >= 8 ? rows : nil
    }
}
