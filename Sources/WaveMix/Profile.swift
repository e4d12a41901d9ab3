// Per-kind timing of a training step (`wavemix bench --profile`): wall time, calls, FLOPs and the
// bytes each kind of layer must at least move (its inputs, weights and outputs read or written
// once), forward and backward apart, so every optimisation is judged by numbers.
import Dispatch

public final class LayerProfile {
    public struct Entry: Sendable {
        public var seconds = 0.0
        public var calls = 0
        public var flops = 0.0
        public var bytes = 0.0
    }

    public private(set) var entries: [String: Entry] = [:]
    public init() {}

    @inline(__always)
    func time<R>(_ name: String, flops: Double = 0, floats: Double = 0, _ body: () -> R) -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        entries[name, default: Entry()].seconds += seconds
        entries[name, default: Entry()].calls += 1
        entries[name, default: Entry()].flops += flops
        entries[name, default: Entry()].bytes += 4 * floats
        return result
    }

    public func reset() { entries = [:] }
}

extension WaveMixModel {
    /// Runs body, timed under `name` when profiling is on; `floats` counts the values it must read
    /// or write at least once.
    @inline(__always)
    func timed<R>(_ name: String, flops: @autoclosure () -> Double = 0, floats: @autoclosure () -> Int = 0, _ body: () -> R) -> R {
        guard let profile else { return body() }
        return profile.time(name, flops: flops(), floats: Double(floats()), body)
    }
}
