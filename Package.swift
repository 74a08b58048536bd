// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-deferreds",
    products: [
        .library(name: "Deferreds", targets: ["Deferreds"]),
        .library(name: "Reactor", targets: ["Reactor"]),
    ],
    targets: [
        .target(name: "Deferreds"),
        .target(name: "CLinux"),
        .target(name: "Reactor", dependencies: ["Deferreds", "CLinux"]),
        .executableTarget(
            name: "deferred-chaining",
            dependencies: ["Deferreds"],
            path: "Examples/DeferredChaining"
        ),
        .executableTarget(name: "echo-server", dependencies: ["Reactor", "Deferreds"], path: "Examples/EchoServer"),
        .executableTarget(name: "countdown", dependencies: ["Reactor", "Deferreds"], path: "Examples/Countdown"),
        .executableTarget(
            name: "deferred-bench",
            dependencies: ["Deferreds"],
            path: "Benchmarks/DeferredBench"
        ),
        .testTarget(name: "DeferredsTests", dependencies: ["Deferreds"]),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "Deferreds"]),
    ]
)
