// swift-tools-version: 6.0
//
// b4b: the Bucks for Buckets (B4B) active defense for embedding APIs.
//
// Layers, each importing only the ones below it:
//
//   b4b (command line), b4b-bench (benchmark)
//     └─ Evaluation   .npy I/O and the paper's measurements: probes, remapping, coverage curves, calibration
//          └─ Defense      coverage (LSH + occupancy), cost, noise, per-user transforms, the protect façade
//               └─ NumericKernels  Matrix, BLAS/LAPACK wrappers, random generator, keyed seeds
//                    ├─ CBLASShim    system library: OpenBLAS's CBLAS + LAPACKE (no stable API)
//                    ├─ CNoiseKernels  AVX2 Gaussian noise kernel and its AVX-512 build, chosen at run time (no stable API)
//                    └─ CProjectionKernels  AVX2 + FMA one-pass projection for hashing, an AVX-512 build of it (same results, bit for bit), half-precision and 16-bit integer (AVX-512 VNNI) screening of a lone row; chosen at run time (no stable API)
//   Plots (SVG line charts) stands apart and is used by the reports; CommandFiles (checked,
//     staged writing of a command's result files) serves both executables.
//   Gateway (HTTP embeddings gateway: OpenAI wire format, API keys, durable occupancy in
//     SQLite or PostgreSQL, metrics) sits on Defense and is served by `b4b serve`.
import PackageDescription

let package = Package(
    name: "b4b",
    products: [
        .library(name: "NumericKernels", targets: ["NumericKernels"]),
        .library(name: "Defense", targets: ["Defense"]),
        .library(name: "Plots", targets: ["Plots"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "Gateway", targets: ["Gateway"]),
        .executable(name: "b4b", targets: ["b4b"]),
        .executable(name: "b4b-bench", targets: ["b4b-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Defense: the account tables' ordered dictionary (compact per-account footprint).
        // Gateway: HTTP server and upstream client on SwiftNIO, logging, state stores.
        // (Hummingbird and async-http-client cannot be used here: through swift-algorithms they
        // bring swift-numerics, whose `Numerics` target clashes with ours.)
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // MARK: C boundary
        .systemLibrary(
            name: "CBLASShim",
            path: "CBLASShim",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // AVX2 and AVX-512 versions of RandomGenerator's Float Gaussian fills, bit-identical to the
        // Swift code; enabled per function (no build flags), used only when the CPU has them.
        .target(name: "CNoiseKernels"),
        // The hashing projection (a dozen dot products and the row's sum of squares) in one
        // pass per row; enabled per function, used only when the CPU has AVX2 and FMA (its
        // AVX-512 build when the CPU has AVX-512 F and DQ).
        .target(name: "CProjectionKernels"),

        // MARK: Engine
        .target(
            name: "NumericKernels",
            dependencies: [
                "CBLASShim",
                "CNoiseKernels",
                "CProjectionKernels",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Defense",
            dependencies: ["NumericKernels"]
        ),

        // MARK: Evaluation and reports
        .target(name: "Plots"),
        .target(name: "CommandFiles"),
        .target(
            name: "Evaluation",
            dependencies: ["Defense", "NumericKernels", "Plots"]
        ),

        // MARK: Serving
        .target(
            name: "Gateway",
            dependencies: [
                "Defense",
                "NumericKernels",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // MARK: Command line
        .executableTarget(
            name: "b4b",
            dependencies: [
                "CommandFiles",
                "Defense",
                "Evaluation",
                "Gateway",
                "NumericKernels",
                "Plots",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Benchmarks
        .executableTarget(
            name: "b4b-bench",
            dependencies: [
                "CommandFiles",
                "Defense",
                "NumericKernels",
                "Plots",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/b4b-bench"
        ),

        // MARK: Tests
        .target(name: "TestSupport", dependencies: ["NumericKernels"], path: "Tests/TestSupport"),
        .testTarget(name: "NumericKernelsTests", dependencies: ["NumericKernels", "TestSupport", .product(name: "Crypto", package: "swift-crypto")], exclude: ["Fixtures"]),
        .testTarget(
            name: "EvaluationTests",
            dependencies: ["Evaluation", "NumericKernels", "TestSupport"],
            exclude: ["Fixtures"]
        ),
        // Runs the built `b4b` executable end to end (`swift build --build-tests` builds it).
        .testTarget(
            name: "CommandLineTests",
            dependencies: ["Evaluation", "NumericKernels", "TestSupport"]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway",
                "Defense",
                "NumericKernels",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "DefenseTests",
            dependencies: ["Defense", "NumericKernels", "TestSupport"],
            exclude: ["Fixtures"]
        ),
    ]
)
