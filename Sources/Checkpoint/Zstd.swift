// The one file that calls libzstd: a compression context and a decompression context, each used
// by one thread at a time, and the frame header query used to check a chunk's declared size before
// any buffer is allocated for it. Failures come back as zstd's own error name.
import CZstd

struct ZstdFailure: Error {
    let reason: String

    init(code: Int) { reason = String(cString: ZSTD_getErrorName(code)) }
    init(reason: String) { self.reason = reason }
}

enum Zstd {
    /// Bytes a compressed frame of `count` input bytes can take at most.
    static func compressBound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Bytes at the start of a frame that always hold its whole header.
    static let frameHeaderBytesMax = 18

    /// The decompressed size a frame declares in its header, or nil if it declares none or the bytes are no frame.
    static func declaredContentSize(_ frame: UnsafeRawBufferPointer) -> UInt64? {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        return size >= UInt64.max - 1 ? nil : size  // ZSTD_CONTENTSIZE_UNKNOWN, ZSTD_CONTENTSIZE_ERROR
    }
}

final class ZstdCompressor {
    private let context: OpaquePointer

    /// `entropyOnly` leaves zstd little more than its entropy stage: the smallest hash table and the
    /// longest minimum match, so it spends almost no time searching for repeats (runs of equal bytes
    /// are still found). Byte planes of floats hold almost none: on the sign/exponent plane of
    /// normally distributed weights this compresses better than level 1 (2.94 vs 2.72) and ~2.7x
    /// faster (0.88 vs 0.33 GB/s on one core here). Only stable parameters are used.
    init(level: Int32, entropyOnly: Bool = false) {
        guard let context = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx: out of memory") }
        self.context = context
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        if entropyOnly {
            ZSTD_CCtx_setParameter(context, ZSTD_c_hashLog, ZSTD_cParam_getBounds(ZSTD_c_hashLog).lowerBound)
            ZSTD_CCtx_setParameter(context, ZSTD_c_minMatch, ZSTD_cParam_getBounds(ZSTD_c_minMatch).upperBound)
        }
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Compresses `source` into one frame (content size recorded) if that frame fits in `destination` (give it fewer bytes
    /// than `source` to keep only frames that save space) and returns its length; nil if it does not fit.
    func compressIfItFits(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws(ZstdFailure) -> Int? {
        let result = ZSTD_compress2(context, destination.baseAddress, destination.count, source.baseAddress, source.count)
        if ZSTD_isError(result) != 0 {
            if ZSTD_getErrorCode(result) == ZSTD_error_dstSize_tooSmall { return nil }
            throw ZstdFailure(code: result)
        }
        return result
    }
}

final class ZstdDecompressor {
    private let context: OpaquePointer

    init() {
        guard let context = ZSTD_createDCtx() else { fatalError("ZSTD_createDCtx: out of memory") }
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses one frame, which must fill `destination` exactly.
    func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws(ZstdFailure) {
        let result = ZSTD_decompressDCtx(context, destination.baseAddress, destination.count, source.baseAddress, source.count)
        if ZSTD_isError(result) != 0 { throw ZstdFailure(code: result) }
        if result != destination.count {
            throw ZstdFailure(reason: "frame holds \(result) bytes, expected \(destination.count)")
        }
    }
}
