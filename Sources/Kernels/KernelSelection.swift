// Which kernels this process computes with, decided in one place for the binary and every test:
// OpenBLAS's kernel set (its "core type") and the build of the project's own element loops.
//
// Debian's OpenBLAS 0.3.21 does not know CPUs newer than itself: it gives Zen 5 its AVX2 (Haswell)
// kernels and Sapphire/Emerald Rapids Xeons its SSE3 (Prescott) ones. The choice is therefore made
// here from the CPU's own feature flags, and OpenBLAS is told to switch before the first GEMM:
// AVX-512 (F, BW, VL, DQ, CD) -> SkylakeX, else AVX2 + FMA -> Haswell, else AVX -> Sandybridge.
// OPENBLAS_CORETYPE in the environment, which OpenBLAS reads as it loads, is the user's override
// and is left as it is.
import COpenBLAS
import Foundation

/// The CPU as /proc/cpuinfo describes its first core.
public struct CPUFeatures: Sendable {
    public let model: String
    public let flags: Set<String>

    public static let current: CPUFeatures = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
            return CPUFeatures(model: "unknown", flags: [])
        }
        func value(_ key: String) -> String? {
            guard let line = info.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
                  let colon = line.firstIndex(of: ":") else { return nil }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return CPUFeatures(model: value("model name") ?? "unknown",
                           flags: Set((value("flags") ?? "").split(separator: " ").map(String.init)))
    }()

    public func has(_ names: [String]) -> Bool { names.allSatisfy(flags.contains) }
}

/// What `KernelSelection.current` decided, as config.json, `wavemix bench` and the first log
/// line report it.
public struct KernelSelection: Sendable, Codable, Equatable {
    /// The CPU's model name.
    public let cpu: String
    /// OpenBLAS's kernel set in use (openblas_get_corename()).
    public let blasCore: String
    /// Why that set: chosen for the CPU's features, or set by OPENBLAS_CORETYPE.
    public let blasCoreReason: String
    /// The build of the project's element loops: "AVX-512" or "AVX2".
    public let elementLoops: String

    enum CodingKeys: String, CodingKey {
        case cpu, blasCore = "blas_core", blasCoreReason = "blas_core_reason", elementLoops = "element_loops"
    }

    public var description: String {
        "CPU \(cpu); OpenBLAS \(blasCore) kernels (\(blasCoreReason)); element loops \(elementLoops)"
    }

    /// Decided once, on first use: by the program at start and by `gemm` before its first call,
    /// so no OpenBLAS call ever runs on the kernels OpenBLAS guessed. OpenBLAS itself also stays on
    /// the calling thread from then on (see BLAS.swift).
    public static let current: KernelSelection = {
        let cpu = CPUFeatures.current
        let loaded = BLAS.coreName
        var reason: String
        if let requested = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !requested.isEmpty {
            reason = "OPENBLAS_CORETYPE=\(requested)"
        } else if let (wanted, _, features) = preferred.first(where: { cpu.has($0.flags) }) {
            reason = "for this CPU's \(features)"
            if wanted.lowercased() != loaded.lowercased() {
                // OpenBLAS reads the variable only while it chooses: set it for that moment, so
                // that child processes make their own choice.
                setenv("OPENBLAS_CORETYPE", wanted, 1)
                let switched = wavemix_openblas_reselect() != 0
                unsetenv("OPENBLAS_CORETYPE")
                reason += switched ? "; OpenBLAS had chosen \(loaded)" : "; this OpenBLAS cannot change from \(loaded)"
            }
        } else {
            reason = "OpenBLAS's own choice"
        }
        openblas_set_num_threads(1)
        return KernelSelection(cpu: cpu.model, blasCore: BLAS.coreName, blasCoreReason: reason,
                               elementLoops: ElementLoops.avx512 ? "AVX-512" : "AVX2")
    }()

    /// OpenBLAS kernel sets this CPU can execute, with the features each needs: what a user may
    /// set OPENBLAS_CORETYPE to, and what the kernel-set tests run the determinism checks under.
    public static func blasCoresRunnable(on cpu: CPUFeatures = .current) -> [String] {
        #if arch(x86_64)
        let sets: [(String, [String])] = [
            ("SkylakeX", avx512), ("Cooperlake", avx512 + ["avx512_bf16"]), ("Haswell", avx2), ("Zen", avx2),
            ("Sandybridge", ["avx"]), ("Nehalem", ["sse4_2"]), ("Prescott", ["pni"]),
        ]
        return sets.filter { cpu.has($0.1) }.map(\.0)
        #else
        return []
        #endif
    }

    /// The OpenBLAS kernel set for a CPU with these features; nil leaves OpenBLAS's own choice.
    static func blasCore(for cpu: CPUFeatures) -> String? { preferred.first { cpu.has($0.flags) }?.core }

    static let avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"], avx2 = ["avx2", "fma"]

    /// The kernel sets the program chooses, widest first, with the features each needs and their name.
    static var preferred: [(core: String, flags: [String], features: String)] {
        #if arch(x86_64)
        [("SkylakeX", avx512, "AVX-512"), ("Haswell", avx2, "AVX2 and FMA"), ("Sandybridge", ["avx"], "AVX")]
        #else
        []
        #endif
    }
}
