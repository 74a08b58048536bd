// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-deferreds",
    products: [
        .library(name: "Deferreds", targets: ["Deferreds"]),
        .library(name: "Reactor", targets: ["Reactor"]),
        .library(name: "WebAgent", targets: ["WebAgent"]),
        .library(name: "WebServer", targets: ["WebServer"]),
    ],
    targets: [
        .target(name: "Deferreds"),
        .target(name: "CLinux"),
        .target(name: "Reactor", dependencies: ["Deferreds", "CLinux"]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "WebAgent", dependencies: ["Reactor", "Deferreds", "CCurl"]),
        .target(name: "WebServer", dependencies: ["Reactor", "Deferreds"]),
        .executableTarget(
            name: "deferred-chaining",
            dependencies: ["Deferreds"],
            path: "Examples/DeferredChaining"
        ),
        .executableTarget(name: "echo-server", dependencies: ["Reactor", "Deferreds"], path: "Examples/EchoServer"),
        .executableTarget(name: "countdown", dependencies: ["Reactor", "Deferreds"], path: "Examples/Countdown"),
        .executableTarget(name: "reactor-bench", dependencies: ["Reactor", "Deferreds"], path: "Benchmarks/ReactorBench"),
        .executableTarget(
            name: "deferred-bench",
            dependencies: ["Deferreds"],
            path: "Benchmarks/DeferredBench"
        ),
        .testTarget(name: "DeferredsTests", dependencies: ["Deferreds"]),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "Deferreds"]),
        .testTarget(name: "WebAgentTests", dependencies: ["WebAgent", "Reactor", "Deferreds"]),
        .testTarget(name: "WebServerTests", dependencies: ["WebServer", "Reactor", "Deferreds"]),
    ]
)
