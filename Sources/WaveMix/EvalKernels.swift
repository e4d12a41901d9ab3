// Transformed weights that eval forward passes reuse while the parameters they came from are
// unchanged. An evaluation runs every batch through the same weights, and rebuilding a transposed
// convolution's class kernels costs (b) ~1.5 ms of a ~125 ms layer per batch. Each entry keeps a
// copy of the weight it was built from and is rebuilt whenever the parameters differ from it, so
// no caller has to say when they changed (an optimizer step, a checkpoint load, a broadcast).
import Glibc
import Kernels

final class EvalKernels {
    private struct Entry {
        let source: UnsafeMutablePointer<Float>, sourceCount: Int
        let kernels: UnsafeMutablePointer<Float>, kernelCount: Int
    }
    /// Only entries whose kernels have been built from their source.
    private var entries: [Int: Entry] = [:]

    /// The kernels built from `weight` (`count` floats, parameter offset `key`) by `build`, which
    /// writes `kernelCount` floats: kept from an earlier call while the weight's bits are the same.
    func kernels(key: Int, weight: UnsafePointer<Float>, count: Int, kernelCount: Int,
                 build: (UnsafeMutablePointer<Float>) -> Void) -> UnsafePointer<Float> {
        if let entry = entries[key] {
            precondition(entry.sourceCount == count && entry.kernelCount == kernelCount, "EvalKernels: layer \(key) changed size")
            if memcmp(entry.source, weight, count * MemoryLayout<Float>.stride) == 0 { return UnsafePointer(entry.kernels) }
        }
        let entry = entries[key] ?? Entry(source: .allocate(capacity: count), sourceCount: count,
                                          kernels: allocateHugePageBuffer(of: Float.self, count: kernelCount),
                                          kernelCount: kernelCount)
        entry.source.update(from: weight, count: count)
        build(entry.kernels)
        entries[key] = entry
        return UnsafePointer(entry.kernels)
    }

    deinit {
        for entry in entries.values {
            entry.source.deallocate()
            releaseHugePageBuffer(entry.kernels, count: entry.kernelCount)
        }
    }
}
