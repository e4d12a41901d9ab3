// XXH64 (xxHash, 64-bit, seed 0) in Swift: the checksum of the checkpoint header and of every stored
// and raw chunk. Bit-identical to the reference implementation (the tests check published vectors
// and zstd's frame checksum, which is the low 32 bits of XXH64). About 14 GB/s on one core here
// (4 MiB in cache).

enum XXH64 {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        hash(bytes, copyingTo: nil)
    }

    /// The hash of `bytes`, which are also copied to `destination` (when given) in the same pass:
    /// the writer stages stored chunks for direct I/O this way, reading them once instead of twice.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer, copyingTo destination: UnsafeMutableRawPointer?) -> UInt64 {
        let count = bytes.count
        guard let base = bytes.baseAddress, count > 0 else { return avalanche(prime5) }
        var offset = 0
        var h: UInt64
        if count >= 32 {
            var v1 = prime1 &+ prime2, v2 = prime2, v3: UInt64 = 0, v4 = 0 &- prime1
            while offset + 32 <= count {
                let lane1 = base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                let lane2 = base.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
                let lane3 = base.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)
                let lane4 = base.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self)
                if let destination {
                    destination.storeBytes(of: lane1, toByteOffset: offset, as: UInt64.self)
                    destination.storeBytes(of: lane2, toByteOffset: offset + 8, as: UInt64.self)
                    destination.storeBytes(of: lane3, toByteOffset: offset + 16, as: UInt64.self)
                    destination.storeBytes(of: lane4, toByteOffset: offset + 24, as: UInt64.self)
                }
                v1 = round(v1, lane1)
                v2 = round(v2, lane2)
                v3 = round(v3, lane3)
                v4 = round(v4, lane4)
                offset += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(h, v1)
            h = merge(h, v2)
            h = merge(h, v3)
            h = merge(h, v4)
        } else {
            h = prime5
        }
        if let destination, offset < count { (destination + offset).copyMemory(from: base + offset, byteCount: count - offset) }
        h &+= UInt64(count)
        while offset + 8 <= count {
            h ^= round(0, base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            h = rotl(h, 27) &* prime1 &+ prime4
            offset += 8
        }
        if offset + 4 <= count {
            h ^= UInt64(base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) &* prime1
            h = rotl(h, 23) &* prime2 &+ prime3
            offset += 4
        }
        while offset < count {
            h ^= UInt64(base.load(fromByteOffset: offset, as: UInt8.self)) &* prime5
            h = rotl(h, 11) &* prime1
            offset += 1
        }
        return avalanche(h)
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    @inline(__always)
    private static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        rotl(accumulator &+ input &* prime2, 31) &* prime1
    }

    @inline(__always)
    private static func merge(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ round(0, lane)) &* prime1 &+ prime4
    }

    @inline(__always)
    private static func avalanche(_ value: UInt64) -> UInt64 {
        var h = value
        h ^= h >> 33
        h &*= prime2
        h ^= h >> 29
        h &*= prime3
        h ^= h >> 32
        return h
    }
}
