// swift-tools-version: 6.1
// The libFuzzer target for the spec layer, kept in its own package because it must be built with
// `-sanitize=fuzzer -parse-as-library` (libFuzzer supplies `main`). Run it with scripts/fuzz.sh.
import PackageDescription

let package = Package(
    name: "BatonFuzz",
    dependencies: [.package(name: "Baton", path: "..")],
    targets: [
        .executableTarget(
            name: "BatonFuzz",
            dependencies: [.product(name: "BatonSpec", package: "Baton")]
        )
    ]
)
