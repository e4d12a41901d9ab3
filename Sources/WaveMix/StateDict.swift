// The model as a PyTorch state dict: every parameter and buffer under its official name and shape
// (num_batches_tracked as Int64 scalars), and loading one back with strict checking.

public enum StateValues: Sendable, Equatable {
    case float32([Float])
    case int64([Int64])
}

public struct StateTensor: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let values: StateValues
    public init(name: String, shape: [Int], values: StateValues) {
        self.name = name; self.shape = shape; self.values = values
    }
}

public struct StateDictError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}

extension WaveMixModel {
    /// Parameters, then running statistics, then counters.
    public func stateDict() -> [StateTensor] {
        let params = parameterTable.entries.map {
            StateTensor(name: $0.name, shape: $0.shape, values: .float32(Array(parameters[$0.offset..<($0.offset + $0.count)])))
        }
        let stats = bufferTable.entries.map {
            StateTensor(name: $0.name, shape: $0.shape, values: .float32(Array(buffers[$0.offset..<($0.offset + $0.count)])))
        }
        let counters = zip(counterNames, batchCounters).map { StateTensor(name: $0, shape: [], values: .int64([$1])) }
        return params + stats + counters
    }

    /// Loads a full state dict: every name must be present with its official shape, nothing extra.
    /// Nothing is modified unless the whole dict is valid.
    public func loadStateDict(_ tensors: [StateTensor]) throws(StateDictError) {
        var byName: [String: StateTensor] = [:]
        for t in tensors { byName[t.name] = t }
        let expected = parameterTable.entries.map { ($0.name, $0.shape) } + bufferTable.entries.map { ($0.name, $0.shape) }
            + counterNames.map { ($0, [Int]()) }
        let expectedNames = Set(expected.map(\.0))
        let missing = expected.map(\.0).filter { byName[$0] == nil }
        let unexpected = byName.keys.filter { !expectedNames.contains($0) }.sorted()
        if !missing.isEmpty || !unexpected.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.count) tensors (\(summary(missing)))") }
            if !unexpected.isEmpty { parts.append("\(unexpected.count) unexpected tensors (\(summary(unexpected)))") }
            throw StateDictError(message: "state dict does not match this model: " + parts.joined(separator: "; "))
        }
        for (name, shape) in expected {
            let t = byName[name]!
            // PyTorch stores num_batches_tracked as a 0-d tensor; accept [1] too (some exporters).
            let isCounter = shape.isEmpty && counterNames.contains(name)
            guard t.shape == shape || (isCounter && t.shape == [1]) else {
                throw StateDictError(message: "\(name): shape \(t.shape) does not match the model's \(shape)")
            }
            switch (t.values, isCounter) {
            case (.float32(let v), false) where v.count == shape.reduce(1, *): break
            case (.int64(let v), true) where v.count == 1: break
            default:
                throw StateDictError(message: "\(name): wrong element type or count (expected \(isCounter ? "one int64" : "float32 values"))")
            }
        }
        for e in parameterTable.entries {
            guard case .float32(let v) = byName[e.name]!.values else { continue }
            v.withUnsafeBufferPointer { (parameters.baseAddress! + e.offset).update(from: $0.baseAddress!, count: e.count) }
        }
        for e in bufferTable.entries {
            guard case .float32(let v) = byName[e.name]!.values else { continue }
            v.withUnsafeBufferPointer { (buffers.baseAddress! + e.offset).update(from: $0.baseAddress!, count: e.count) }
        }
        for (i, name) in counterNames.enumerated() {
            if case .int64(let v) = byName[name]!.values { batchCounters[i] = v[0] }
        }
    }
}

private func summary(_ names: [String]) -> String {
    names.count <= 3 ? names.joined(separator: ", ") : names.prefix(3).joined(separator: ", ") + ", …"
}
