// CRC-32 (the zlib/PNG polynomial) through zlib's crc32(), for packed records and file lists.

import CZlib

enum CRC32 {
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(truncatingIfNeeded: update(0, bytes))
    }

    /// Continues `crc` (0 to start) over `bytes` (zlib takes at most 4 GiB a call).
    static func update(_ crc: UInt, _ bytes: UnsafeRawBufferPointer) -> UInt {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return crc }
        var crc = crc
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 << 30)
            crc = crc32(crc, base + offset, uInt(n))
            offset += n
        }
        return crc
    }
}
