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

    public init(contentsOf path: String) throws(SafeTensorsError) {
        let bytes: [UInt8]
        do {
            let file = try ReadOnlyFile(path: path)
            bytes = try file.bytes(at: 0, count: file.size)
        } catch {
            throw .io(operation: error.operation, path: path, reason: error.reason)
        }
        guard bytes.count >= 8 else { throw .tooShort(path: path, fileBytes: bytes.count) }
        let headerBytes = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerBytes <= UInt64(bytes.count - 8) else {
            throw .headerTooLarge(path: path, headerBytes: headerBytes, fileBytes: bytes.count)
        }
        guard headerBytes <= Self.maxHeaderBytes else { throw .headerOverLimit(path: path, headerBytes: headerBytes) }
        let dataStart = 8 + Int(headerBytes)
        let header = try SafeTensorsHeader.parse(Data(bytes[8..<dataStart]), dataBytes: bytes.count - dataStart, path: path)
        self.path = path
        self.names = header.entries.keys.sorted()
        self.metadata = header.metadata
        self.entries = header.entries
        self.bytes = bytes
        self.dataStart = dataStart
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
