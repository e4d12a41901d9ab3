// Patch gathering for convolutions in NHWC, tap-major: column (ky*k + kx)*C + c of row q holds
// image[n, gy*stride - pad + ky, gx*stride - pad + kx, c] for grid point q = (n, gy, gx), or zero
// outside the image. Conv2d gathers its input this way (grid = output); ConvTranspose2d scatters
// its output with the inverse (grid = input). Channels stay contiguous so copies are memcpy-like.

public struct PatchGeometry: Sendable {
    public let batch: Int
    /// Image side: spatial size and channels.
    public let height: Int, width: Int, channels: Int
    /// Square kernel, stride and zero padding.
    public let kernel: Int, stride: Int, pad: Int
    /// Grid side: one row of patches per grid point.
    public let gridHeight: Int, gridWidth: Int

    public init(batch: Int, height: Int, width: Int, channels: Int, kernel: Int, stride: Int, pad: Int,
                gridHeight: Int, gridWidth: Int) {
        self.batch = batch; self.height = height; self.width = width; self.channels = channels
        self.kernel = kernel; self.stride = stride; self.pad = pad
        self.gridHeight = gridHeight; self.gridWidth = gridWidth
    }

    public var rows: Int { batch * gridHeight * gridWidth }
    public var patchSize: Int { kernel * kernel * channels }
}

/// cols[q - q0, :] = patch of grid point q, for q in q0..<q1.
/// `split: false` stays on the calling thread (for a kernel's own per-thread piece).
public func im2col(_ image: UnsafePointer<Float>, _ g: PatchGeometry, rows q0: Int, _ q1: Int,
                   into cols: UnsafeMutablePointer<Float>, split: Bool = true) {
    let c = g.channels, k = g.kernel, patch = g.patchSize
    Parallel.forRange(q1 - q0, minPerThread: split ? max(1, 32_768 / patch) : Int.max) { lo, hi in
        for q in (q0 + lo)..<(q0 + hi) {
            let gx = q % g.gridWidth, gy = (q / g.gridWidth) % g.gridHeight, n = q / (g.gridWidth * g.gridHeight)
            let row = cols + (q - q0) * patch
            if c < 16 { im2colRow(image, g, n: n, gy: gy, gx: gx, into: row); continue }
            for ky in 0..<k {
                let iy = gy * g.stride - g.pad + ky
                let dst = row + ky * k * c
                if iy < 0 || iy >= g.height { dst.update(repeating: 0, count: k * c); continue }
                let line = image + (n * g.height + iy) * g.width * c
                for kx in 0..<k {
                    let ix = gx * g.stride - g.pad + kx
                    if ix < 0 || ix >= g.width { (dst + kx * c).update(repeating: 0, count: c) }
                    else { (dst + kx * c).update(from: line + ix * c, count: c) }
                }
            }
        }
    }
}

/// row[0..<patch] = the patch of grid point (n, gy, gx) (zeros outside the image), element by
/// element: for the few values of a small-channel patch, where im2col's per-pixel copies cost more
/// than the data.
@inline(__always)
func im2colRow(_ image: UnsafePointer<Float>, _ g: PatchGeometry, n: Int, gy: Int, gx: Int, into row: UnsafeMutablePointer<Float>) {
    let c = g.channels, k = g.kernel
    for ky in 0..<k {
        let iy = gy * g.stride - g.pad + ky
        for kx in 0..<k {
            let ix = gx * g.stride - g.pad + kx, dst = row + (ky * k + kx) * c
            let inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width
            let src = image + ((n * g.height + iy) * g.width + ix) * c
            // Element by element, with the common channel counts spelled out: LLVM turns a loop
            // over c into a memcpy/memset call per pixel, which cost more than the convolution.
            switch c {
            case 1: dst[0] = inside ? src[0] : 0
            case 3: for ch in 0..<3 { dst[ch] = inside ? src[ch] : 0 }
            default: for ch in 0..<c { dst[ch] = inside ? src[ch] : 0 }
            }
        }
    }
}

/// image += scatter of cols rows q0..<q1 (the adjoint of im2col). Threads split the channels, so
/// overlapping patches never race.
public func col2im(_ cols: UnsafePointer<Float>, _ g: PatchGeometry, rows q0: Int, _ q1: Int,
                   into image: UnsafeMutablePointer<Float>) {
    let c = g.channels, k = g.kernel, patch = g.patchSize
    let pieces = (q1 - q0) * patch >= 65_536 ? min(Parallel.threads, c) : 1
    let out = UnsafeSendable(image)
    Parallel.forEach(pieces) { p in
        let c0 = c * p / pieces, c1 = c * (p + 1) / pieces
        for q in q0..<q1 {
            let gx = q % g.gridWidth, gy = (q / g.gridWidth) % g.gridHeight, n = q / (g.gridWidth * g.gridHeight)
            let row = cols + (q - q0) * patch
            for ky in 0..<k {
                let iy = gy * g.stride - g.pad + ky
                if iy < 0 || iy >= g.height { continue }
                let line = out.value + (n * g.height + iy) * g.width * c
                for kx in 0..<k {
                    let ix = gx * g.stride - g.pad + kx
                    if ix < 0 || ix >= g.width { continue }
                    let src = row + (ky * k + kx) * c, dst = line + ix * c
                    for ch in c0..<c1 { dst[ch] += src[ch] }
                }
            }
        }
    }
}

/// Rows per chunk so that a chunk of patches stays around `budget` floats (cache-friendly, bounded memory).
@inline(__always)
func chunkRows(total: Int, rowFloats: Int, budget: Int = 1 << 20) -> Int {
    max(1, min(total, budget / max(1, rowFloats)))
}

/// Calls body(q0, q1) over piece `piece` of rows 0..<rows split evenly into `pieces` (one per
/// thread), in equal chunks of at most `chunk` rows. Equal, not `chunk`-sized with a remainder: a
/// chunk is never thinner than half of `chunk` (unless the piece is), so a split into more threads
/// never hands OpenBLAS a sliver small enough for its small-matrix kernel (SmallGEMM) where whole
/// chunks take the packed one; the two may round differently.
///
/// The AVX-512 kernel sets compute a row the same way wherever a chunk starts. The others do only
/// at multiples of GEMMSplit.tile rows, so there the chunks are one grid fixed by `rows` and
/// `chunk` (cells of whole tiles where a chunk holds one), the same calls for any thread count,
/// and each piece takes a run of cells.
@inline(__always)
func forEachChunk(rows: Int, piece: Int, of pieces: Int, chunk: Int, _ body: (Int, Int) -> Void) {
    if !GEMMSplit.avx512Kernels {
        let cell = chunk >= GEMMSplit.tile ? chunk / GEMMSplit.tile * GEMMSplit.tile : max(1, chunk)
        let cells = (rows + cell - 1) / cell
        for i in cells * piece / pieces ..< cells * (piece + 1) / pieces { body(i * cell, min(rows, (i + 1) * cell)) }
        return
    }
    let start = rows * piece / pieces, count = rows * (piece + 1) / pieces - start
    let chunks = (count + chunk - 1) / max(1, chunk)
    for i in 0..<chunks { body(start + count * i / chunks, start + count * (i + 1) / chunks) }
}
