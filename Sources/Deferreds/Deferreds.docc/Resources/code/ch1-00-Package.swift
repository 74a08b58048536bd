// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Downloader",
    dependencies: [
        .package(path: "../swift-deferreds"),
    ],
    targets: [
        .executableTarget(
            name: "Downloader",
            dependencies: [
                .product(name: "Deferreds", package: "swift-deferreds"),
            ]
        ),
    ]
)
