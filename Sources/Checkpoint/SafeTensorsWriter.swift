// Writer of the safetensors format, loadable by safetensors.torch.load_file. Like the reference
// implementation it pads the JSON header with spaces so the data starts at a multiple of 8, and
// orders tensors by descending element size, then name, with no gaps between them (the reference
// reader refuses gaps), so every tensor starts at a multiple of its own element size. The file is
// replaced atomically (TemporaryFile).
import Foundation

public struct SafeTensorsWriter {
    static let metadataKey = "__metadata__"

    private struct Tensor {
        let name: String
        let shape: [Int]
        let payload: ElementPayload

        var dtype: TensorDType {
            switch payload {
            case .floats, .borrowedFloats: return .f32
            case .int64s: return .i64
            case .bytes: return .u8
            }
        }
    }

    public var metadata: [String: String]
    private var tensors: [Tensor] = []

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds an F32 tensor; `shape` must multiply to `floats.count` ([] for a scalar), checked by write(to:).
    public mutating func add(_ name: String, floats: [Float], shape: [Int]) {
        tensors.append(Tensor(name: name, shape: shape, payload: .floats(floats)))
    }

    /// Adds an F32 tensor, copying the elements.
    public mutating func add(_ name: String, floats: UnsafeBufferPointer<Float>, shape: [Int]) {
        add(name, floats: Array(floats), shape: shape)
    }

    /// Adds an I64 tensor.
    public mutating func add(_ name: String, int64s: [Int64], shape: [Int]) {
        tensors.append(Tensor(name: name, shape: shape, payload: .int64s(int64s)))
    }

    /// Writes the file atomically; refuses duplicate names and shapes that do not match the element count.
    public func write(to path: String) throws(SafeTensorsError) {
        let ordered = tensors.sorted { ($1.dtype.byteSize, $0.name) < ($0.dtype.byteSize, $1.name) }
        var seen = Set<String>()
        for tensor in ordered {
            guard tensor.name != Self.metadataKey else {
                throw .invalidHeader(path: path, reason: "'\(Self.metadataKey)' cannot name a tensor")
            }
            guard seen.insert(tensor.name).inserted else { throw .duplicateTensor(path: path, tensor: tensor.name) }
            guard elementCount(of: tensor.shape) == tensor.payload.count else {
                throw .shapeMismatch(path: path, tensor: tensor.name, shape: tensor.shape, count: tensor.payload.count)
            }
        }
        let header = try headerBytes(ordered, path: path)
        do throws(SystemCallError) {
            let file = try TemporaryFile(finalPath: path)
            try file.write(header, at: 0)
            var offset = header.count
            for tensor in ordered {
                try tensor.payload.withRawBytes { (bytes) throws(SystemCallError) in try file.write(bytes, at: offset) }
                offset += tensor.payload.count * tensor.dtype.byteSize
            }
            try file.commit()
        } catch {
            if error.operation == "create" && error.meansNotWritable {
                throw .notWritable(directory: directoryOf(path), reason: error.reason)
            }
            throw .io(operation: error.operation, path: path, reason: error.reason)
        }
    }

    /// The 8-byte length followed by the JSON header, padded with spaces to a multiple of 8.
    private func headerBytes(_ ordered: [Tensor], path: String) throws(SafeTensorsError) -> [UInt8] {
        var entries: [String: SafeTensorsEntry] = [:]
        var offset = 0
        for tensor in ordered {
            let end = offset + tensor.payload.count * tensor.dtype.byteSize
            entries[tensor.name] = SafeTensorsEntry(dtype: tensor.dtype.rawValue, shape: tensor.shape, dataOffsets: [offset, end])
            offset = end
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var json: [UInt8]
        do {
            json = Array(try encoder.encode(HeaderOut(entries: entries, metadata: metadata)))
        } catch {
            throw .invalidHeader(path: path, reason: "cannot encode: \(error)")
        }
        json += [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
        return withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json
    }
}

private struct HeaderOut: Encodable {
    let entries: [String: SafeTensorsEntry]
    let metadata: [String: String]

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        if !metadata.isEmpty {
            try container.encode(metadata, forKey: AnyCodingKey(stringValue: SafeTensorsWriter.metadataKey))
        }
        for (name, entry) in entries {
            try container.encode(entry, forKey: AnyCodingKey(stringValue: name))
        }
    }
}
