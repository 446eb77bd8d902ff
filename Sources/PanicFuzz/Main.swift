// panic-fuzz: libFuzzer harnesses for the parsers that read untrusted bytes.
//
// One executable, several harnesses; the harness is chosen by the environment
// variable PANIC_FUZZ_TARGET (or a first argument `--target=NAME`, removed
// before libFuzzer sees the arguments). Built for fuzzing by scripts/fuzz.sh:
//
//   swift build --scratch-path .build-fuzz -c debug --product panic-fuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
//   PANIC_FUZZ_TARGET=dc09-frame .build-fuzz/debug/panic-fuzz -max_total_time=60 corpus/
//
// SwiftPM links every executable with `--defsym main=<module>_main`, so the
// program keeps its own `@main` in both builds; under FUZZING that main hands
// control to libFuzzer's driver (LLVMFuzzerRunDriver) instead of using
// libFuzzer's own `main`. A plain `swift build` makes a program that replays
// files through a harness without libFuzzer (`panic-fuzz --target=X FILE|DIR...`).
#if canImport(Glibc)
import Glibc
#endif

/// One harness: its name (the value of PANIC_FUZZ_TARGET) and its entry.
struct Harness: Sendable {
    let name: String
    let summary: String
    let run: @Sendable ([UInt8]) -> Void
}

enum Harnesses {
    static let all: [Harness] = [
        Harness(name: "line-protocol", summary: "LineProtocolDriver and LineFramer fed arbitrary bytes", run: LineProtocolHarness.run),
        Harness(name: "modbus", summary: "ModbusDriver polls, fed arbitrary reply bytes and time", run: ModbusHarness.run),
        Harness(name: "dc09-frame", summary: "DC09Frame.decode (plaintext, and with a key), encode round trip", run: DC09FrameHarness.run),
        Harness(name: "dc09-encrypted", summary: "DC09Frame.decode of frames whose encrypted part is the input", run: DC09EncryptedHarness.run),
        Harness(name: "dc09-reply", summary: "DC09Reply.scan and DC09Reply.parse over a reply stream", run: DC09ReplyHarness.run),
        Harness(name: "pipe-edge", summary: "PipeEdgeSource lines from a pipe, then the debouncer", run: PipeEdgeHarness.run),
        Harness(name: "signature", summary: "SignatureVerifier.verify with fuzzed Signature-Input, Signature, Content-Digest", run: SignatureHarness.run),
        Harness(name: "signed-body", summary: "validly signed messages whose body is the input, verified and decoded", run: SignedBodyHarness.run),
        Harness(name: "wire-json", summary: "Alert and Heartbeat JSON decoding, wireProblem, encode round trip", run: WireJSONHarness.run),
        Harness(name: "gateway-config", summary: "GatewayConfig.parse of TOML text", run: ConfigHarness.gateway),
        Harness(name: "receiver-config", summary: "ReceiverConfig.parse of TOML text", run: ConfigHarness.receiver),
        Harness(name: "intake", summary: "receiver Intake (verify, decode, store) on a temporary SQLite file", run: IntakeHarness.run),
        Harness(name: "batch-answer", summary: "the receiver's answer to a batch, as the gateway's HTTPS uplink reads it", run: BatchAnswerHarness.run),
        Harness(name: "ack-answer", summary: "the receiver's acknowledgement answer, as the gateway's lamps read it", run: AcknowledgementHarness.run),
        Harness(name: "control", summary: "control-socket request lines: ControlRequest.decode and ControlArguments", run: ControlHarness.run),
    ]

    static func named(_ name: String) -> Harness? { all.first { $0.name == name } }
}

nonisolated(unsafe) var selectedHarness: Harness?

func printError(_ text: String) {
    var text = text
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func panicFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    selectedHarness!.run(bytes)
    return 0
}

#if FUZZING
/// libFuzzer's driver, in libclang_rt.fuzzer (LLVM 13 and later).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif

@main
struct PanicFuzzMain {
    static func main() {
        var args = CommandLine.arguments
        var target = getenv("PANIC_FUZZ_TARGET").map { String(cString: $0) }
        if args.count > 1, args[1].hasPrefix("--target=") {
            target = String(args[1].dropFirst("--target=".count))
            args.remove(at: 1)
            // libFuzzer's -fork, -jobs and -merge re-run this program: keep the choice.
            setenv("PANIC_FUZZ_TARGET", target!, 1)
        }
        if args.count > 1, args[1] == "--list" {
            for h in Harnesses.all { print("\(h.name)\t\(h.summary)") }
            exit(0)
        }
        if args.count > 2, args[1] == "--write-seeds" {
            Seeds.write(to: args[2])
            exit(0)
        }
        guard let name = target, let harness = Harnesses.named(name) else {
            let names = Harnesses.all.map(\.name).joined(separator: ", ")
            printError("panic-fuzz: set PANIC_FUZZ_TARGET (or pass --target=NAME first) to one of: \(names)\n")
            #if !FUZZING
            printError("this is a plain build: build with make fuzz for libFuzzer; here it only replays files\n")
            #endif
            exit(2)
        }
        selectedHarness = harness
        #if FUZZING
        // Hand libFuzzer the arguments without our own.
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        var argc = CInt(args.count)
        let status = cArgs.withUnsafeMutableBufferPointer { buf -> CInt in
            var argv = buf.baseAddress!
            return LLVMFuzzerRunDriver(&argc, &argv, panicFuzzTestOneInput)
        }
        exit(status)
        #else
        // Plain build: no libFuzzer. Replay each file (or each file of each directory).
        let inputs = args.dropFirst().flatMap(Replay.files)
        if inputs.isEmpty {
            print("build with make fuzz (this plain build only replays: panic-fuzz --target=\(name) FILE|DIR...)")
            exit(0)
        }
        for path in inputs {
            guard let bytes = Replay.read(path) else { printError("cannot read \(path)\n"); exit(1) }
            print("\(name): \(path) (\(bytes.count) bytes)")
            harness.run(bytes)
        }
        print("\(name): \(inputs.count) input(s) ran without a crash")
        #endif
    }
}
