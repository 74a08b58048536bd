// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-deferreds",
    products: [
        .library(name: "Deferreds", targets: ["Deferreds"]),
        .library(name: "Reactor", targets: ["Reactor"]),
        .library(name: "ReactorTesting", targets: ["ReactorTesting"]),
        .library(name: "WebAgent", targets: ["WebAgent"]),
        .library(name: "WebServer", targets: ["WebServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(name: "Deferreds"),
        .target(name: "CLinux"),
        // c-ares (name resolution on the reactor) is linked: see Sources/CAres/include/CAres.h.
        .target(name: "CAres", linkerSettings: [.linkedLibrary("cares")]),
        .target(name: "Reactor", dependencies: ["Deferreds", "CLinux", "CAres"]),
        // Test doubles for the reactor (MemoryReactor, StringTransport), for this package's tests and users' own.
        .target(name: "ReactorTesting", dependencies: ["Reactor", "Deferreds"]),
        // libcurl (https only) is loaded on first use, not linked: see Sources/CCurl/include/CCurl.h.
        .target(name: "CCurl"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // OpenSSL (https over the agent's own HTTP/1.1 client) is linked: see Sources/COpenSSL/include/COpenSSL.h.
        .target(name: "COpenSSL", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .target(name: "WebAgent", dependencies: ["Reactor", "Deferreds", "CCurl", "CZlib", "COpenSSL"]),
        .target(name: "WebServer", dependencies: ["Reactor", "Deferreds"]),
        .target(name: "URLList", dependencies: ["Reactor"]),
        .executableTarget(
            name: "deferred-chaining",
            dependencies: ["Deferreds"],
            path: "Examples/DeferredChaining"
        ),
        .executableTarget(name: "echo-server", dependencies: ["Reactor", "Deferreds"], path: "Examples/EchoServer"),
        .executableTarget(name: "countdown", dependencies: ["Reactor", "Deferreds"], path: "Examples/Countdown"),
        .executableTarget(
            name: "timeout-and-retry", dependencies: ["Deferreds", "Reactor", "WebAgent", "WebServer"],
            path: "Examples/TimeoutAndRetry"
        ),
        .executableTarget(name: "reactor-bench", dependencies: ["Reactor", "Deferreds"], path: "Benchmarks/ReactorBench"),
        .executableTarget(
            name: "deferred-bench",
            dependencies: ["Deferreds"],
            path: "Benchmarks/DeferredBench"
        ),
        .executableTarget(
            name: "getpage",
            dependencies: [
                "Deferreds", "Reactor", "WebAgent", "WebServer", "URLList",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "blog-example",
            dependencies: ["Deferreds", "Reactor", "WebAgent", "WebServer"],
            path: "Examples/BlogExample"
        ),
        .executableTarget(
            name: "blog-async",
            dependencies: ["Deferreds", "Reactor", "WebAgent", "WebServer"],
            path: "Examples/BlogAsync"
        ),
        // The DocC tutorial's programs: the last listing of each chapter (Sources/Deferreds/Deferreds.docc/
        // Resources/code, symlinked here), so the tutorial cannot drift from the API. The listings before
        // them are type-checked by `make docs`; chapter 6 ends in blog-async itself.
        .executableTarget(name: "tutorial-chapter1", dependencies: ["Deferreds"], path: "Examples/Tutorial/Chapter1"),
        .executableTarget(name: "tutorial-chapter2", dependencies: ["Deferreds"], path: "Examples/Tutorial/Chapter2"),
        .executableTarget(name: "tutorial-chapter3", dependencies: ["Deferreds"], path: "Examples/Tutorial/Chapter3"),
        .executableTarget(
            name: "tutorial-chapter4", dependencies: ["Deferreds", "Reactor", "WebAgent", "WebServer"],
            path: "Examples/Tutorial/Chapter4"
        ),
        .executableTarget(
            name: "tutorial-chapter5", dependencies: ["Deferreds", "Reactor", "WebAgent", "WebServer"],
            path: "Examples/Tutorial/Chapter5"
        ),
        .executableTarget(name: "async-bench", dependencies: ["Deferreds", "Reactor"], path: "Benchmarks/AsyncBench"),
        .target(name: "TestSupport", dependencies: ["Deferreds", "Reactor"], path: "Tests/TestSupport"),
        .testTarget(name: "DeferredsTests", dependencies: ["Deferreds", "TestSupport"]),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "Deferreds", "TestSupport"]),
        .testTarget(
            name: "WebAgentTests",
            dependencies: ["WebAgent", "WebServer", "Reactor", "ReactorTesting", "Deferreds", "TestSupport"]
        ),
        .testTarget(name: "WebServerTests", dependencies: ["WebServer", "Reactor", "Deferreds", "TestSupport"]),
        .testTarget(name: "GetpageTests", dependencies: ["WebServer", "Reactor", "Deferreds", "TestSupport"]),
        .testTarget(name: "URLListTests", dependencies: ["URLList", "Reactor"]),
        .testTarget(
            name: "ReactorTestingTests",
            dependencies: ["ReactorTesting", "Reactor", "Deferreds", "WebAgent", "WebServer"]
        ),
    ]
)

// Fuzz targets (`make fuzz`, see Fuzz/README.md): only in the manifest when SWIFT_DEFERREDS_FUZZ=1,
// so `swift build`, `swift test` and CI never build them. `Fuzz/run` builds them with
// libFuzzer and ASan in its own scratch path.
if Context.environment["SWIFT_DEFERREDS_FUZZ"] == "1" {
    package.targets += [
        .target(name: "FuzzSupport", path: "Fuzz/Support"),
        .executableTarget(
            name: "fuzz-http-request-parser", dependencies: ["FuzzSupport", "WebServer"],
            path: "Fuzz/Targets/HTTPRequestParser"),
        .executableTarget(
            name: "fuzz-http-response-parser", dependencies: ["FuzzSupport", "WebAgent"],
            path: "Fuzz/Targets/HTTPResponseParser"),
        .executableTarget(
            name: "fuzz-headers", dependencies: ["FuzzSupport", "WebAgent"], path: "Fuzz/Targets/Headers"),
        .executableTarget(
            name: "fuzz-uri", dependencies: ["FuzzSupport", "WebAgent", "URLList"], path: "Fuzz/Targets/URI"),
        .executableTarget(
            name: "fuzz-url-list", dependencies: ["FuzzSupport", "URLList"], path: "Fuzz/Targets/URLList"),
        .executableTarget(
            name: "fuzz-content-decoder", dependencies: ["FuzzSupport", "WebAgent", "Deferreds", "Reactor"],
            path: "Fuzz/Targets/ContentDecoder"),
        .executableTarget(
            name: "fuzz-tls", dependencies: ["FuzzSupport", "WebAgent", "ReactorTesting", "Deferreds", "Reactor"],
            path: "Fuzz/Targets/TLS"),
        .executableTarget(
            name: "fuzz-http11-client",
            dependencies: ["FuzzSupport", "WebAgent", "Deferreds", "Reactor", "ReactorTesting"],
            path: "Fuzz/Targets/HTTP11Client"),
    ]
}
