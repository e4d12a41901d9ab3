// Per-kind timing of a training step (`wavemix bench --profile`): wall time, calls, FLOPs and the
// bytes each kind of layer must at least move (its inputs, weights and outputs read or written
// once), forward and backward apart, so every optimisation is judged by numbers. The FLOPs and
// bytes come from the pass's cost table (LayerCost.swift), the GEMM shapes from Kernels' BLAS
// wrapper (GEMMRecord).
import Dispatch
import Kernels
import Randomness

public final class LayerProfile {
    public struct Entry: Sendable {
        public var seconds = 0.0
        public var calls = 0
        public var flops = 0.0
        public var bytes = 0.0
        /// How often each GEMM shape ran inside this kind of layer.
        public var gemms: [GEMMShape: Int] = [:]
    }

    public private(set) var entries: [String: Entry] = [:]
    public init() {}

    @inline(__always)
    func time<R>(_ name: String, flops: Double, floats: Double, _ body: () -> R) -> R {
        let record = GEMMRecord()
        GEMMRecord.listening = record
        defer { GEMMRecord.listening = nil }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        entries[name, default: Entry()].seconds += seconds
        entries[name, default: Entry()].calls += 1
        entries[name, default: Entry()].flops += flops
        entries[name, default: Entry()].bytes += 4 * floats
        entries[name, default: Entry()].gemms.merge(record.shapes, uniquingKeysWith: +)
        return result
    }

    public func reset() { entries = [:] }
}

extension WaveMixModel {
    /// Runs body, timed under `region`'s row with its FLOPs and floats when profiling is on.
    @inline(__always)
    func timed<R>(_ region: @autoclosure () -> TimedRegion, _ body: () -> R) -> R {
        guard let profile, let passCosts else { return body() }
        let cost = passCosts[region()]
        return profile.time(cost.label, flops: cost.flops, floats: Double(cost.floats), body)
    }
}

extension LayerProfile.Entry {
    /// Seconds the same GEMMs take alone, back to back on fresh buffers with the same thread
    /// count (best of `repeats`): what OpenBLAS reaches on these shapes without the layer around them.
    public func isolatedGEMMSeconds(repeats: Int = 3) -> Double {
        guard !gemms.isEmpty else { return 0 }
        let a = gemms.keys.map(\.sizes.a).max()!, b = gemms.keys.map(\.sizes.b).max()!, c = gemms.keys.map(\.sizes.c).max()!
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: a + b + c)
        defer { buffer.deallocate() }
        var rng = SplitMix64(key: 7)
        for i in 0..<(a + b + c) { buffer[i] = rng.nextNormal() * 0.1 }
        var total = 0.0
        for (shape, count) in gemms {
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<count { shape.run(a: buffer, b: buffer + a, c: buffer + a + b) }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            total += best
        }
        return total
    }
}
