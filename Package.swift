// swift-tools-version: 6.0
//
// b4b: the Bucks for Buckets (B4B) active defense for embedding APIs.
//
// Layers, each importing only the ones below it:
//
//   b4b (command line), b4b-bench (benchmark)
//     └─ Evaluation   .npy I/O and the paper's measurements: probes, remapping, coverage curves, calibration
//          └─ Defense      coverage (LSH + occupancy), cost, noise, per-user transforms, the protect façade
//               └─ Numerics     Matrix, BLAS/LAPACK wrappers, random generator, keyed seeds
//                    └─ CBLASShim    system library: OpenBLAS's CBLAS + LAPACKE (no stable API)
//   Plots (SVG line charts) stands apart and is used by the reports.
import PackageDescription

let package = Package(
    name: "b4b",
    products: [
        .library(name: "Numerics", targets: ["Numerics"]),
        .library(name: "Defense", targets: ["Defense"]),
        .library(name: "Plots", targets: ["Plots"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .executable(name: "b4b", targets: ["b4b"]),
        .executable(name: "b4b-bench", targets: ["b4b-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: C boundary
        .systemLibrary(
            name: "CBLASShim",
            path: "CBLASShim",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),

        // MARK: Engine
        .target(
            name: "Numerics",
            dependencies: [
                "CBLASShim",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Defense",
            dependencies: ["Numerics"]
        ),

        // MARK: Evaluation and reports
        .target(name: "Plots"),
        .target(
            name: "Evaluation",
            dependencies: ["Defense", "Numerics", "Plots"]
        ),

        // MARK: Command line
        .executableTarget(
            name: "b4b",
            dependencies: [
                "Defense",
                "Evaluation",
                "Numerics",
                "Plots",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: Benchmarks
        .executableTarget(
            name: "b4b-bench",
            dependencies: [
                "Defense",
                "Numerics",
                "Plots",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/b4b-bench"
        ),

        // MARK: Tests
        .target(name: "TestSupport", dependencies: ["Numerics"], path: "Tests/TestSupport"),
        .testTarget(name: "NumericsTests", dependencies: ["Numerics", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "EvaluationTests",
            dependencies: ["Evaluation", "Numerics", "TestSupport"],
            exclude: ["Fixtures"]
        ),
        // Runs the built `b4b` executable end to end (`swift build --build-tests` builds it).
        .testTarget(
            name: "CommandLineTests",
            dependencies: ["Evaluation", "Numerics"]
        ),
        .testTarget(
            name: "DefenseTests",
            dependencies: ["Defense", "Numerics", "TestSupport"],
            exclude: ["Fixtures"]
        ),
    ]
)
