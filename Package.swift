// swift-tools-version:6.0
// wavemix-swift: a data-parallel WaveMix trainer. Layering (top depends on bottom only):
//   wavemix (CLI) -> Training -> Data | Comm | Checkpoint -> WaveMix (model) -> Kernels -> C libraries
import PackageDescription


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

        .target(name: "Kernels", dependencies: ["COpenBLAS"]),
        .target(name: "WaveMix", dependencies: ["Kernels"]),
        .target(name: "Comm", dependencies: ["CMPI"]),
        .target(name: "Data", dependencies: ["Kernels", "CZlib", "CTurboJPEG"]),
        .target(name: "Checkpoint", dependencies: ["CZstd"]),
        .target(name: "Training", dependencies: ["WaveMix", "Kernels", "Comm", "Data", "Checkpoint"]),
        .executableTarget(name: "wavemix", dependencies: [
            "Training", "WaveMix", "Data", "Checkpoint", "Comm",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "WaveMixTests", dependencies: ["WaveMix", "Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Kernels"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "WaveMix", "Data", "Checkpoint"]),
        .testTarget(name: "CLITests", dependencies: ["wavemix"]),
    ]
)
