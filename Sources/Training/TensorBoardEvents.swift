// TensorBoard's Event protocol buffers, encoded by hand (fields of tensorboard/compat/proto/event.proto
// and summary.proto), and their TFRecord framing. The bytes are the protobuf library's: fields in
// number order, a zero wall time or step left out (proto3 defaults), the oneof members file_version,
// summary and simple_value always written.
//   Event { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5; }
//           SourceMetadata source_metadata = 10; }
//   SourceMetadata { string writer = 1; }   Summary { repeated Value value = 1; }
//   Summary.Value { string tag = 1; oneof value { float simple_value = 2; } }

enum TensorBoardEvents {
    /// The first event of a file: the format version and the program that wrote it.
    static func fileVersion(wallTime: Double, writer: String) -> [UInt8] {
        var source = ProtobufMessage()
        source.string(1, writer)
        var event = ProtobufMessage()
        event.double(1, wallTime)
        event.lengthDelimited(3, Array("brain.Event:2".utf8))
        event.lengthDelimited(10, source.bytes)
        return event.bytes
    }

    /// One event holding a scalar summary value per tag, stored as float32.
    static func scalars(_ values: [(tag: String, value: Float)], step: Int, wallTime: Double) -> [UInt8] {
        var summary = ProtobufMessage()
        for (tag, value) in values {
            var entry = ProtobufMessage()
            entry.string(1, tag)
            entry.float(2, value)
            summary.lengthDelimited(1, entry.bytes)
        }
        var event = ProtobufMessage()
        event.double(1, wallTime)
        if step != 0 { event.varint(2, UInt64(bitPattern: Int64(step))) }
        event.lengthDelimited(5, summary.bytes)
        return event.bytes
    }

    /// A TFRecord: little-endian UInt64 length, masked CRC-32C of those 8 bytes, the payload,
    /// masked CRC-32C of the payload.
    static func record(_ payload: [UInt8]) -> [UInt8] {
        let length = littleEndian(UInt64(payload.count))
        let lengthCRC = length.withUnsafeBytes { CRC32C.masked(CRC32C.checksum($0)) }
        let payloadCRC = payload.withUnsafeBytes { CRC32C.masked(CRC32C.checksum($0)) }
        return length + littleEndian(lengthCRC) + payload + littleEndian(payloadCRC)
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}

/// The protobuf wire format for the field kinds events use. Proto3 leaves out a field at its
/// default (all-zero bits, so -0.0 is written), except oneof members, which are always written.
private struct ProtobufMessage {
    private(set) var bytes: [UInt8] = []

    /// A double field with implicit presence.
    mutating func double(_ field: Int, _ value: Double) {
        guard value.bitPattern != 0 else { return }
        key(field, wireType: 1)
        append(value.bitPattern.littleEndian)
    }

    /// A float oneof member.
    mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        append(value.bitPattern.littleEndian)
    }

    /// A string field with implicit presence.
    mutating func string(_ field: Int, _ value: String) {
        guard !value.isEmpty else { return }
        lengthDelimited(field, Array(value.utf8))
    }

    /// A length-delimited field (a string or an embedded message) that is always written.
    mutating func lengthDelimited(_ field: Int, _ value: [UInt8]) {
        key(field, wireType: 2)
        appendVarint(UInt64(value.count))
        bytes += value
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        key(field, wireType: 0)
        appendVarint(value)
    }

    private mutating func key(_ field: Int, wireType: UInt64) {
        appendVarint(UInt64(field) << 3 | wireType)
    }

    private mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private mutating func append<T: FixedWidthInteger>(_ littleEndian: T) {
        withUnsafeBytes(of: littleEndian) { bytes += $0 }
    }
}
