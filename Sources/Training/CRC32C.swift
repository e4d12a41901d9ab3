// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecord framing in
// TensorBoard event files, and TensorFlow's masked form of it. Byte-at-a-time through a table:
// the records are a few hundred bytes.

enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { byte in
        var crc = UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }

    /// TFRecord stores CRCs rotated and offset, because a CRC over data that holds its own CRCs is
    /// weak (TensorFlow's crc32c::Mask).
    static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
