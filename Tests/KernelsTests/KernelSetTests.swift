// Results do not depend on the thread count on any OpenBLAS kernel set the program can run, not
// only the one KernelSelection picks for this CPU: the split checks run again in a child process
// of this test binary per kernel set, with OPENBLAS_CORETYPE set (the user's override, which
// KernelSelection leaves as it is). A kernel set whose rounding depends on where a product is cut
// fails here, not in a user's run.
@testable import Kernels
import Foundation
import TestSupport
import XCTest

final class KernelSetTests: XCTestCase {
    /// The determinism checks: every split of a GEMM or a convolution against one call.
    static let splitChecks = [
        "KernelsTests.KernelSetTests/testRunsTheRequestedKernelSet",
        "KernelsTests.GEMMTests",
        "KernelsTests.Conv2dTests/testConv2dForwardSplitIsBitwise",
        "KernelsTests.Conv2dTests/testConv2dStridedSplitIsBitwise",
        "KernelsTests.Conv2dTests/testConv2dWinogradSplitIsBitwise",
        "KernelsTests.ConvTransposeTests/testConvTransposeForwardSplitIsBitwise",
        "KernelsTests.ConvTransposeTests/testConvTransposeBackwardSplitIsBitwise",
        "KernelsTests.DenseTests/testTallDenseInSmallProducts",
        "KernelsTests.NormalizationTests/testSumsDoNotDependOnThreads",
    ]

    func testSplitsAreBitwiseOnEveryKernelSet() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["WAVEMIX_EXPECT_BLAS_CORE"] != nil, "inside a kernel-set child")
        let cores = KernelSelection.blasCoresRunnable()
        try XCTSkipIf(cores.isEmpty, "no OpenBLAS kernel sets to choose between on this architecture")
        for core in cores {
            let result = try Programs.run(Programs.testBinary, [Self.splitChecks.joined(separator: ",")],
                                          environment: Programs.environment(["OPENBLAS_CORETYPE": core, "WAVEMIX_EXPECT_BLAS_CORE": core]),
                                          deadline: 300)
            let summary = result.output.split(separator: "\n").last { $0.contains("Executed") } ?? "no summary"
            XCTAssertEqual(result.status, 0, "\(core) kernels:\n\(Self.failures(result.output))")
            XCTAssertTrue(result.output.contains("kernel set \(core) in use"), "\(core): the child did not run on it\n\(summary)")
            print("\(core) kernels: \(summary)")
        }
    }

    /// In a child: the kernel set it was started for is the one OpenBLAS runs.
    func testRunsTheRequestedKernelSet() throws {
        guard let expected = ProcessInfo.processInfo.environment["WAVEMIX_EXPECT_BLAS_CORE"] else {
            throw XCTSkip("run in the children of testSplitsAreBitwiseOnEveryKernelSet")
        }
        XCTAssertEqual(KernelSelection.current.blasCore.lowercased(), expected.lowercased())
        XCTAssertTrue(KernelSelection.current.blasCoreReason.hasPrefix("OPENBLAS_CORETYPE"))
        print("kernel set \(KernelSelection.current.blasCore) in use")
    }

    func testChoosesTheWidestKernelsTheCPUHas() {
        let avx512 = CPUFeatures(model: "test", flags: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx2", "fma", "avx"])
        XCTAssertEqual(KernelSelection.blasCore(for: avx512), "SkylakeX")
        XCTAssertEqual(KernelSelection.blasCore(for: CPUFeatures(model: "test", flags: ["avx512f", "avx2", "fma", "avx"])), "Haswell")
        XCTAssertEqual(KernelSelection.blasCore(for: CPUFeatures(model: "test", flags: ["avx"])), "Sandybridge")
        XCTAssertNil(KernelSelection.blasCore(for: CPUFeatures(model: "test", flags: ["sse2"])))
    }

    func testThisProcessRunsTheChosenKernels() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil, "OPENBLAS_CORETYPE is set")
        guard let wanted = KernelSelection.blasCore(for: .current) else { return }
        XCTAssertEqual(KernelSelection.current.blasCore.lowercased(), wanted.lowercased(), KernelSelection.current.description)
        XCTAssertEqual(BLAS.coreName, KernelSelection.current.blasCore)
    }

    /// The failing assertions of a child's output, without the arrays they print.
    static func failures(_ output: String) -> String {
        output.split(separator: "\n").filter { $0.contains("error:") || $0.contains("Executed") }
            .map { $0.count > 300 ? $0.prefix(150) + " ... " + $0.suffix(120) : Substring($0) }.joined(separator: "\n")
    }
}
