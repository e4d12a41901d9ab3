// Reader of the Hugging Face safetensors format: an 8-byte little-endian header length N, N bytes
// of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {...}},
// then the little-endian tensor data, offsets relative to its start. The whole file is read and
// the header validated up front (SafeTensorsHeader), so every accessor afterwards is a copy.
import Foundation

public struct SafeTensorsFile: Sendable {
    /// Largest header accepted, as the reference implementation does.
    public static let maxHeaderBytes: UInt64 = 100_000_000

    public let path: String
    /// Tensor names, sorted.
    public let names: [String]
    /// The "__metadata__" strings ([:] when absent).
    public let metadata: [String: String]
    private let entries: [String: SafeTensorsHeader.Entry]
    private let bytes: [UInt8]
    private let dataStart: Int

    /// Reads and validates the file at `path`; a bad header length is refused before the rest is read.
    public init(contentsOf path: String) throws(SafeTensorsError) {
        let file = try Self.reading(path) { () throws(SystemCallError) in try ReadOnlyFile(path: path) }
        let prefix = try Self.reading(path) { () throws(SystemCallError) in try file.bytes(at: 0, count: min(file.size, 8)) }
        _ = try Self.headerLength(prefix, fileBytes: file.size, path: path)
        try self.init(bytes: try Self.reading(path) { () throws(SystemCallError) in try file.bytes(at: 0, count: file.size) }, path: path)
    }

    private static func reading<T>(_ path: String, _ body: () throws(SystemCallError) -> T) throws(SafeTensorsError) -> T {
        do { return try body() } catch { throw .io(operation: error.operation, path: path, reason: error.reason) }
    }

    /// Validates a whole file already in memory; `path` names it in errors.
    init(bytes: [UInt8], path: String) throws(SafeTensorsError) {
        let dataStart = 8 + (try Self.headerLength(bytes, fileBytes: bytes.count, path: path))
        let header = try SafeTensorsHeader.parse(Data(bytes[8..<dataStart]), dataBytes: bytes.count - dataStart, path: path)
        self.path = path
        self.names = header.entries.keys.sorted()
        self.metadata = header.metadata
        self.entries = header.entries
        self.bytes = bytes
        self.dataStart = dataStart
    }

    /// The header length stored in the first 8 bytes (`prefix`) of a `fileBytes`-byte file, checked
    /// against the file size and the limit.
    private static func headerLength(_ prefix: [UInt8], fileBytes: Int, path: String) throws(SafeTensorsError) -> Int {
        guard prefix.count >= 8 else { throw .tooShort(path: path, fileBytes: fileBytes) }
        let headerBytes = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerBytes <= UInt64(fileBytes - 8) else {
            throw .headerTooLarge(path: path, headerBytes: headerBytes, fileBytes: fileBytes)
        }
        guard headerBytes <= maxHeaderBytes else { throw .headerOverLimit(path: path, headerBytes: headerBytes) }
        return Int(headerBytes)
    }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    public func info(_ name: String) -> TensorInfo? { entries[name]?.info }

    public func shape(_ name: String) -> [Int]? { entries[name]?.info.shape }

    /// The elements of an F32 tensor.
    public func floats(_ name: String) throws(SafeTensorsError) -> [Float] {
        try elements(name, dtype: .f32, as: Float.self)
    }

    /// The elements of an I64 tensor.
    public func int64s(_ name: String) throws(SafeTensorsError) -> [Int64] {
        try elements(name, dtype: .i64, as: Int64.self)
    }

    private func elements<T>(_ name: String, dtype: TensorDType, as type: T.Type) throws(SafeTensorsError) -> [T] {
        guard let entry = entries[name] else { throw .missingTensor(path: path, tensor: name) }
        guard entry.info.dtype == dtype else {
            throw .wrongDType(path: path, tensor: name, expected: dtype, actual: entry.info.dtype)
        }
        return [T](unsafeUninitializedCapacity: entry.info.count) { buffer, initialized in
            bytes.withUnsafeBytes { file in
                let source = UnsafeRawBufferPointer(rebasing: file[(dataStart + entry.begin)..<(dataStart + entry.end)])
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
            }
            initialized = entry.info.count
        }
    }
}
