// OpenBLAS 0.3.21 does not know Zen 5 and picks its AVX2 (Haswell) kernels; its AVX-512 (SkylakeX)
// kernels run sgemm 1.5-1.9x faster there (TOOLCHAIN.md). OpenBLAS reads OPENBLAS_CORETYPE when the
// library loads, before main, so the process re-executes itself once with it set. Only where the
// CPU has avx512f (elsewhere they would SIGILL), and never when the variable is already set, which
// is also how a user opts out (OPENBLAS_CORETYPE=Haswell).
import Foundation

enum OpenBLASKernels {
    static func selectBeforeStart() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, cpuHasAVX512F() else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        let args = CommandLine.unsafeArgv
        execv("/proc/self/exe", args)
        // exec failed (no /proc?): carry on with the kernels OpenBLAS already chose.
    }

    static func cpuHasAVX512F() -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return info.split(separator: "\n").contains { $0.hasPrefix("flags") && $0.split(separator: " ").contains("avx512f") }
    }
}
