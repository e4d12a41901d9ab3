// The elements a writer was given for one tensor or section, kept until it writes them: owned
// arrays (no copy: arrays are copy-on-write) or floats borrowed from the caller.

enum ElementPayload {
    case floats([Float])
    /// Must stay valid and unchanged until the write returns.
    case borrowedFloats(UnsafeBufferPointer<Float>)
    case int64s([Int64])
    case bytes([UInt8])

    var count: Int {
        switch self {
        case .floats(let values): return values.count
        case .borrowedFloats(let values): return values.count
        case .int64s(let values): return values.count
        case .bytes(let values): return values.count
        }
    }

    /// Calls `body` with the elements' bytes, valid for the duration of the call.
    func withRawBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        switch self {
        case .floats(let values): return try values.withRawBytes(body)
        case .borrowedFloats(let values): return try body(UnsafeRawBufferPointer(values))
        case .int64s(let values): return try values.withRawBytes(body)
        case .bytes(let values): return try values.withRawBytes(body)
        }
    }
}

extension Array {
    /// withUnsafeBytes with a typed error (Array.withUnsafeBytes rethrows only `any Error`).
    func withRawBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeBufferPointer { (elements) throws(E) -> R in try body(UnsafeRawBufferPointer(elements)) }
    }
}
