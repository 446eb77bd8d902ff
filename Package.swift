// swift-tools-version:6.0
// panic-gateway: reads panic buttons, keeps every alert durable, delivers it signed.
import PackageDescription

let package = Package(
    name: "panic-gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "panic-gateway", targets: ["panic-gateway"]),
        .executable(name: "panicctl", targets: ["panicctl"]),
        .executable(name: "panic-receiver", targets: ["panic-receiver"]),
        .executable(name: "panic-bench", targets: ["panic-bench"]),
        .executable(name: "panic-gateway-demo", targets: ["panic-gateway-demo"]),
        .executable(name: "dc09-send", targets: ["dc09-send"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
    ],
    targets: [
        // The only C in the project: epoll, timerfd, eventfd, adjtimex, ioctls.
        .target(name: "CPanicSys", path: "Sources/CPanicSys"),
        // libgpiod 1.6 (Debian 12) or 2.x (Debian 13) behind one shim.
        .systemLibrary(name: "CGpiod", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
        // libudev: serial device identity and hotplug.
        .systemLibrary(name: "CUdev", pkgConfig: "libudev", providers: [.apt(["libudev-dev"])]),
        // Swift face of the C shim; the only module that imports CPanicSys.
        .target(name: "PanicPlatform", dependencies: ["CPanicSys", "CGpiod", "CUdev", "PanicCore"]),
        // Pure decisions and data: edges, debounce, alerts, retry. No I/O.
        .target(name: "PanicCore"),
        // TOML configuration with located, explicit errors.
        .target(name: "PanicConfig", dependencies: ["PanicCore"]),
        // RFC 9421 signatures and RFC 9530 digests, shared by gateway and receiver.
        .target(name: "PanicSigning", dependencies: [
            "PanicCore",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The durable outbox (SQLite via GRDB).
        .target(name: "PanicOutbox", dependencies: [
            "PanicCore",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // The input loop thread and input sources.
        .target(name: "PanicInputs", dependencies: [
            "PanicCore", "PanicPlatform",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // One delivery engine for every destination: the pure DeliveryState,
        // the channel protocol, and the service that drives a channel.
        .target(name: "PanicDelivery", dependencies: [
            "PanicCore", "PanicOutbox",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The signed-HTTPS channel (RFC 9421 POSTs to the central receiver).
        .target(name: "PanicUplink", dependencies: [
            "PanicCore", "PanicConfig", "PanicOutbox", "PanicSigning", "PanicDelivery",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The SIA DC-09 channel: codec, encryption, frames over TCP or UDP.
        .target(name: "PanicDC09", dependencies: [
            "PanicCore", "PanicConfig", "PanicOutbox", "PanicDelivery",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The reference central receiver as a library.
        .target(name: "PanicReceiverKit", dependencies: [
            "PanicCore", "PanicConfig", "PanicSigning",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The operator console: accounts, sessions, the alarm queue, live
        // updates; served by the receiver under /console.
        .target(name: "PanicConsole", dependencies: [
            "PanicCore", "PanicConfig", "PanicReceiverKit", "PanicSigning",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Throw-away certificates for the demo, benchmarks and tests.
        .target(name: "PanicDevCerts", dependencies: [
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // A private PostgreSQL cluster (initdb, pg_ctl) for benchmarks and tests.
        .target(name: "PanicDevPostgres"),
        // The daemon: wires inputs, outbox and uplinks into services.
        .target(name: "PanicGatewayKit", dependencies: [
            "PanicCore", "PanicConfig", "PanicPlatform", "PanicSigning", "PanicOutbox",
            "PanicInputs", "PanicDelivery", "PanicUplink", "PanicDC09",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // `panic-gateway demo`: gateway and receiver together on loopback.
        .target(name: "PanicDemo", dependencies: [
            "PanicGatewayKit", "PanicReceiverKit", "PanicDevCerts", "PanicInputs",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "panic-gateway", dependencies: [
            "PanicGatewayKit", "PanicConfig", "PanicSigning",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The demo, exec'd by `panic-gateway demo`: keeps the receiver out of the daemon.
        .executableTarget(name: "panic-gateway-demo", dependencies: [
            "PanicDemo",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Sends alert kinds through a DC-09 destination: the test peer's driver.
        .executableTarget(name: "dc09-send", dependencies: [
            "PanicDC09", "PanicDelivery", "PanicConfig", "PanicOutbox", "PanicCore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "panicctl", dependencies: [
            "PanicConfig", "PanicSigning", "PanicOutbox", "PanicPlatform",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "panic-receiver", dependencies: [
            "PanicReceiverKit", "PanicConsole", "PanicSigning",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "panic-bench", dependencies: [
            "PanicGatewayKit", "PanicReceiverKit", "PanicDevCerts", "PanicDemo", "PanicDevPostgres",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        // libFuzzer harnesses, run by scripts/fuzz.sh (make fuzz). A plain build
        // makes a program that only replays files through a harness.
        .executableTarget(name: "panic-fuzz", dependencies: [
            "PanicCore", "PanicConfig", "PanicSigning", "PanicDC09", "PanicInputs", "PanicReceiverKit",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ], path: "Sources/PanicFuzz"),
        .testTarget(name: "PanicCoreTests", dependencies: ["PanicCore"], resources: [.copy("Traces"), .copy("Sessions")]),
        .testTarget(name: "PanicConfigTests", dependencies: ["PanicConfig"], resources: [.copy("BadConfigs")]),
        .testTarget(name: "PanicOutboxTests", dependencies: ["PanicOutbox", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "PanicSigningTests", dependencies: ["PanicSigning"]),
        .testTarget(name: "PanicInputsTests", dependencies: ["PanicInputs", "PanicPlatform"]),
        .testTarget(name: "PanicDeliveryTests", dependencies: ["PanicDelivery", "PanicOutbox", "PanicCore"]),
        .testTarget(name: "PanicDC09Tests", dependencies: ["PanicDC09", "PanicDelivery", "PanicConfig", "PanicOutbox"]),
        .testTarget(name: "PanicEndToEndTests", dependencies: [
            "PanicGatewayKit", "PanicReceiverKit", "PanicConsole", "PanicDevCerts", "PanicDemo", "PanicDevPostgres",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ]
)
