// A cache of transformed weights that eval forward passes reuse while the parameters they came
// from are unchanged: the transposed convolutions' class kernels. An evaluation runs every batch
// through the same weights, and rebuilding a transposed convolution's class kernels costs (b)
// ~1.5 ms of a ~125 ms layer per batch. Each entry keeps a copy of the weight it was built from and
// is rebuilt whenever the parameters differ from it, so no caller has to say when they changed (an
// optimizer step, a checkpoint load, a broadcast).
import Glibc
import Kernels

final class TransformedWeightCache {
    private struct Entry {
        let source: UnsafeMutablePointer<Float>, sourceCount: Int
        let transformed: UnsafeMutablePointer<Float>, transformedCount: Int
    }
    /// Only entries whose transform has been built from their source.
    private var entries: [Int: Entry] = [:]

    /// The transform built from `weight` (`count` floats, parameter offset `key`) by `build`, which
    /// writes `transformedCount` floats: kept from an earlier call while the weight's bits are the same.
    func transformed(key: Int, weight: UnsafePointer<Float>, count: Int, transformedCount: Int,
                     build: (UnsafeMutablePointer<Float>) -> Void) -> UnsafePointer<Float> {
        if let entry = entries[key] {
            precondition(entry.sourceCount == count && entry.transformedCount == transformedCount,
                         "TransformedWeightCache: layer \(key) changed size")
            if memcmp(entry.source, weight, count * MemoryLayout<Float>.stride) == 0 { return UnsafePointer(entry.transformed) }
        }
        let entry = entries[key] ?? Entry(source: .allocate(capacity: count), sourceCount: count,
                                          transformed: allocateHugePageBuffer(of: Float.self, count: transformedCount),
                                          transformedCount: transformedCount)
        entry.source.update(from: weight, count: count)
        build(entry.transformed)
        entries[key] = entry
        return UnsafePointer(entry.transformed)
    }

    deinit {
        for entry in entries.values {
            entry.source.deallocate()
            releaseHugePageBuffer(entry.transformed, count: entry.transformedCount)
        }
    }
}
