// State dicts on disk as safetensors (the format PyTorch users exchange weights in): F32 tensors
// and I64 counters, official names.
import Checkpoint
import WaveMix

public enum StateDictFiles {
    /// Every tensor of a safetensors file as a state dict; only F32 and I64 tensors are accepted.
    public static func read(_ path: String) throws -> [StateTensor] {
        let file = try SafeTensorsFile(contentsOf: path)
        return try file.names.map { name throws -> StateTensor in
            let info = file.info(name)!
            switch info.dtype {
            case .f32: return StateTensor(name: name, shape: info.shape, values: .float32(try file.floats(name)))
            case .i64: return StateTensor(name: name, shape: info.shape, values: .int64(try file.int64s(name)))
            default:
                throw InputError("\(path): tensor '\(name)' is \(info.dtype.rawValue); only F32 and I64 state dicts are supported")
            }
        }
    }

    public static func write(_ tensors: [StateTensor], to path: String, metadata: [String: String] = [:]) throws {
        var writer = SafeTensorsWriter(metadata: metadata)
        for t in tensors {
            switch t.values {
            case .float32(let v): writer.add(t.name, floats: v, shape: t.shape)
            case .int64(let v): writer.add(t.name, int64s: v, shape: t.shape)
            }
        }
        try writer.write(to: path)
    }
}
