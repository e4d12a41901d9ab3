// Byte-plane shuffle of 4-byte elements (float32): plane p of the shuffled buffer holds byte p of
// every element. The sign/exponent bytes of trained weights are alike, so zstd compresses them well
// once they sit side by side, while the mantissa planes stay noise, stored as they are
// (looksCompressible tells them apart). `split` runs before compression, `merge` after
// decompression. SIMD16 lanes make both ~10 GB/s on one core here (a byte-at-a-time loop runs at
// ~3 GB/s).
import Foundation

enum ByteShuffle {
    /// Splits `count` 4-byte elements at `source` into four planes of `count` bytes at `destination`.
    static func split(_ source: UnsafeRawPointer, into destination: UnsafeMutableRawPointer, count: Int) {
        let vectorCount = count / 16 * 16
        var i = 0
        while i < vectorCount {
            let words = source.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<UInt32>.self)
            for plane in 0..<4 {
                let bytes = SIMD16<UInt8>(truncatingIfNeeded: words &>> UInt32(8 * plane))
                destination.storeBytes(of: bytes, toByteOffset: plane * count + i, as: SIMD16<UInt8>.self)
            }
            i += 16
        }
        while i < count {
            let word = source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
            for plane in 0..<4 {
                destination.storeBytes(of: UInt8(truncatingIfNeeded: word >> (8 * plane)), toByteOffset: plane * count + i, as: UInt8.self)
            }
            i += 1
        }
    }

    /// Interleaves four planes of `count` bytes at `source` back into `count` 4-byte elements at `destination`.
    static func merge(_ source: UnsafeRawPointer, into destination: UnsafeMutableRawPointer, count: Int) {
        merge(planes: (source, source + count, source + 2 * count, source + 3 * count), into: destination, count: count)
    }

    /// Interleaves four planes of `count` bytes each, wherever they lie (a chunk's stored planes are
    /// merged straight from the read buffer), into `count` 4-byte elements at `destination`.
    static func merge(planes: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                      into destination: UnsafeMutableRawPointer, count: Int) {
        let vectorCount = count / 16 * 16
        var i = 0
        while i < vectorCount {
            var words = SIMD16<UInt32>(truncatingIfNeeded: planes.0.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self))
            words |= SIMD16<UInt32>(truncatingIfNeeded: planes.1.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)) &<< 8
            words |= SIMD16<UInt32>(truncatingIfNeeded: planes.2.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)) &<< 16
            words |= SIMD16<UInt32>(truncatingIfNeeded: planes.3.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)) &<< 24
            destination.storeBytes(of: words, toByteOffset: 4 * i, as: SIMD16<UInt32>.self)
            i += 16
        }
        while i < count {
            var word = UInt32(planes.0.load(fromByteOffset: i, as: UInt8.self))
            word |= UInt32(planes.1.load(fromByteOffset: i, as: UInt8.self)) << 8
            word |= UInt32(planes.2.load(fromByteOffset: i, as: UInt8.self)) << 16
            word |= UInt32(planes.3.load(fromByteOffset: i, as: UInt8.self)) << 24
            destination.storeBytes(of: word, toByteOffset: 4 * i, as: UInt32.self)
            i += 1
        }
    }

    /// Whether a byte plane looks worth handing to zstd: the order-0 entropy of a sample of its
    /// bytes (every byte of a small plane, ~16K spread over a large one) is at most `maxBitsPerByte`.
    /// The sign/exponent plane of trained weights has ~2.7 bits, the low mantissa planes ~8.0 (zstd
    /// cannot shrink them, and finding that out costs it ~0.2 ms per MiB: ~4x this sample). Repeats
    /// that order-0 statistics miss (the same random bytes twice) go uncompressed; runs of one value
    /// have entropy 0 and are compressed.
    static func looksCompressible(_ plane: UnsafeRawBufferPointer, maxBitsPerByte: Double = 7) -> Bool {
        let count = plane.count
        guard count > 0 else { return false }
        let stride = max(1, count / 16384)
        var histogram = [Int](repeating: 0, count: 256)
        var samples = 0
        histogram.withUnsafeMutableBufferPointer { bins in
            var i = 0
            while i < count {
                bins[Int(plane[i])] += 1
                samples += 1
                i += stride
            }
        }
        var bits = 0.0
        let total = Double(samples)
        for bin in histogram where bin > 0 {
            let p = Double(bin) / total
            bits -= p * log2(p)
        }
        return bits <= maxBitsPerByte
    }
}
