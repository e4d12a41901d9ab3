// One place that sets how many threads the numeric code uses: one pool (`Parallel`) splits both
// the GEMMs and the element-wise kernels; OpenBLAS stays on the calling thread (see BLAS.swift),
// on the kernel set KernelSelection chose for this CPU.
// Default: the cores of this host divided among the ranks on it.
import Foundation
import Kernels

public enum ComputeThreads {
    /// Threads per process when none are asked for: `WAVEMIX_THREADS` (set by scripts/wavemix-mpirun),
    /// else the available cores divided by the ranks on this host.
    public static func defaultCount(ranksOnHost: Int = 1) -> Int {
        if let text = ProcessInfo.processInfo.environment["WAVEMIX_THREADS"], let n = Int(text), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, ranksOnHost))
    }

    public static func configure(_ threads: Int) {
        Parallel.threads = max(1, threads)
        _ = KernelSelection.current
    }
}
