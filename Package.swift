// swift-tools-version:6.0
// wavemix-swift: a data-parallel WaveMix trainer. Layering (top depends on bottom only):
//   wavemix (CLI) -> Training -> Data | Comm | Checkpoint -> WaveMix (model) -> Kernels -> VectorLoops, C libraries
//   leaves: Randomness (SplitMix64 streams) under Data, Kernels and VectorLoops; PositionalIO (whole
//   pread/pwrite) under Data and Checkpoint
//   wavemix (CLI) -> Plot (`wavemix plot`: summary.csv to SVG and PNG) -> Data
import PackageDescription

// Numeric code is compiled for the CPU generation it runs on: without it Swift targets baseline
// x86-64 (SSE2) and the element-wise kernels do not use AVX. `haswell` (AVX2 + FMA) runs on every
// x86-64 server CPU since 2013; set WAVEMIX_TARGET_CPU (e.g. x86-64, skylake-avx512, znver4, or
// "none" to pass no flag) to override it.
#if arch(x86_64)
let targetCPU = Context.environment["WAVEMIX_TARGET_CPU"] ?? "haswell"
#else
let targetCPU = Context.environment["WAVEMIX_TARGET_CPU"] ?? "none"
#endif
let numeric: [SwiftSetting] = targetCPU == "none" ? [] : [.unsafeFlags(["-target-cpu", targetCPU])]
// The element loops of VectorLoops are also built for AVX-512 (znver4: Zen 4/5, and Intel CPUs with the same
// extensions); Kernels runs that build only where the CPU has them (ElementLoops).
#if arch(x86_64)
let avx512: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "znver4"])]
#else
let avx512 = numeric
#endif


let package = Package(
    name: "wavemix-swift",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CCacheHints"),
        .systemLibrary(name: "CFileSystem"),

        .target(name: "Randomness"),
        .target(name: "PositionalIO"),
        .target(name: "VectorLoops", dependencies: ["Randomness"], swiftSettings: numeric),
        .target(name: "VectorLoopsAVX512", dependencies: ["Randomness"], swiftSettings: avx512),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CCacheHints", "Randomness", "VectorLoops", "VectorLoopsAVX512"],
                swiftSettings: numeric),
        .target(name: "WaveMix", dependencies: ["Kernels"], swiftSettings: numeric),
        .target(name: "Comm", dependencies: ["CMPI"]),
        .target(name: "Data", dependencies: ["Randomness", "PositionalIO", "CZlib", "CTurboJPEG", "CPNG"], swiftSettings: numeric),
        .target(name: "Checkpoint", dependencies: ["CZstd", "CFileSystem", "PositionalIO"]),
        .target(name: "Training", dependencies: ["WaveMix", "Kernels", "Comm", "Data", "Checkpoint"]),
        .target(name: "Plot", dependencies: ["Data"]),
        .executableTarget(name: "wavemix", dependencies: [
            "Training", "Plot", "WaveMix", "Kernels", "Data", "Checkpoint", "Comm",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Helpers for the tests that run whole programs (the binary, mpirun, scripts).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Randomness", "VectorLoops", "VectorLoopsAVX512", "TestSupport"]),
        .testTarget(name: "WaveMixTests", dependencies: ["WaveMix", "Checkpoint"], exclude: ["Fixtures"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Kernels", "Randomness", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "WaveMix", "Data", "Checkpoint", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PlotTests", dependencies: ["Plot", "Data", "TestSupport"]),
        .testTarget(name: "CommTests", dependencies: ["Comm", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["wavemix", "TestSupport", "Checkpoint", "Training", "Kernels"]),
    ]
)
