// Per-kind timing of a training step (`wavemix bench --profile`): wall time, calls and FLOPs of each
// kind of layer, forward and backward apart, so every optimisation is judged by numbers.
import Dispatch

public final class LayerProfile {
    public struct Entry: Sendable {
        public var seconds = 0.0
        public var calls = 0
        public var flops = 0.0
    }

    public private(set) var entries: [String: Entry] = [:]
    public init() {}

    @inline(__always)
    func time<R>(_ name: String, flops: Double = 0, _ body: () -> R) -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        entries[name, default: Entry()].seconds += seconds
        entries[name, default: Entry()].calls += 1
        entries[name, default: Entry()].flops += flops
        return result
    }

    public func reset() { entries = [:] }
}

extension WaveMixModel {
    /// Runs body, timed under `name` when profiling is on.
    @inline(__always)
    func timed<R>(_ name: String, flops: @autoclosure () -> Double = 0, _ body: () -> R) -> R {
        guard let profile else { return body() }
        return profile.time(name, flops: flops(), body)
    }
}
