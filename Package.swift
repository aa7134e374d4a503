// swift-tools-version: 6.1
import PackageDescription

/// Settings every target shares: Swift 6 language mode plus the upcoming features that keep
/// existentials explicit and imports honest.
let commonSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Baton",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "baton", targets: ["baton"]),
        .library(name: "BatonSpec", targets: ["BatonSpec"]),
        .library(name: "BatonEngine", targets: ["BatonEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // MARK: - Libraries

        /** Pipeline and profile files to a validated execution plan. Pure: no file, network or clock access. */
        .target(
            name: "BatonSpec",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: commonSettings
        ),
        /** Effects: search paths and files, the executor, the run store (SQLite or PostgreSQL), runtimes, the dashboard server (`baton serve`). */
        .target(
            name: "BatonEngine",
            dependencies: [
                "BatonSpec",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: commonSettings
        ),
        /** Argument parsing, exit codes and printing: each command maps its flags to BatonEngine calls (loading, runs, resume, catalogs) and prints. */
        .target(
            name: "BatonCommands",
            dependencies: [
                "BatonSpec",
                "BatonEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: commonSettings
        ),

        // MARK: - Executable

        .executableTarget(
            name: "baton",
            dependencies: ["BatonCommands"],
            swiftSettings: commonSettings
        ),

        // MARK: - Tests

        /** Helpers shared by every test target: marked YAML, fixtures, golden files. */
        .target(
            name: "BatonTestSupport",
            dependencies: [
                "BatonSpec", "BatonEngine", "BatonCommands",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Tests/BatonTestSupport",
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "BatonSpecTests",
            dependencies: ["BatonSpec", "BatonCommands", "BatonTestSupport"],
            exclude: ["Fixtures"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "BatonEngineTests",
            dependencies: [
                "BatonSpec", "BatonEngine", "BatonTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "BatonCommandsTests",
            dependencies: [
                "BatonSpec", "BatonEngine", "BatonCommands", "BatonTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: commonSettings
        ),
    ]
)
