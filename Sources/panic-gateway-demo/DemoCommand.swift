import ArgumentParser
import Foundation
import PanicDemo

/// `panic-gateway demo` runs this: a receiver and a gateway on loopback.
@main
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panic-gateway demo",
        abstract: "Run a receiver and a gateway on loopback, press simulated buttons, take the receiver offline, and show every alert arrive.")

    @Flag(help: "End with one JSON object of the figures (pressed, verified, delivered_after_outage, lost, …).")
    var json = false

    @Option(help: "Seconds the receiver stays offline.")
    var outage: Double = 3

    func run() async throws {
        var options = PanicDemo.Demo.Options()
        options.outageSeconds = outage
        let result = try await PanicDemo.Demo.run(options)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
        if result.lost > 0 || result.verified < result.accepted { throw ExitCode.failure }
    }
}

