import PanicCore
import Testing

/// A small deterministic generator, so every failure can be replayed by seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Feeds a list of (time, pressed) edges, letting time pass between them as
/// the input loop would, and collects every decision.
func runTrace(_ edges: [(Int64, Bool)], settings: DebounceSettings, until end: Int64) -> [DebounceDecision] {
    var d = Debouncer(settings: settings)
    var out: [DebounceDecision] = []
    for (t, level) in edges {
        while let due = d.nextDeadline, due.nanoseconds < t {
            if let x = d.advance(to: due) { out.append(x) }
        }
        out += d.edge(pressed: level, at: .init(nanoseconds: t))
    }
    while let due = d.nextDeadline, due.nanoseconds <= end {
        if let x = d.advance(to: due) { out.append(x) }
    }
    return out
}

/// A bounce train: starts at `start` with `level`, toggles with gaps below
/// `maxGap`, and always ends at `level`; total span under `span`.
func bounceTrain(start: Int64, level: Bool, span: Int64, rng: inout SplitMix64) -> [(Int64, Bool)] {
    var edges = [(start, level)]
    let toggles = Int.random(in: 0...15, using: &rng) * 2
    var t = start
    var current = level
    for _ in 0..<toggles {
        let gap = Int64.random(in: 20_000...max(20_001, span / Int64(toggles + 1)), using: &rng)
        if t + gap >= start + span { break }
        t += gap
        current.toggle()
        edges.append((t, current))
    }
    if current != level { edges.append((t + 10_000, level)) }
    return edges
}

@Suite("Debounce properties")
struct DebouncePropertyTests {
    static let window: Int64 = 20_000_000

    @Test("any bounce train shorter than the window gives one press and one release, each stamped at its first edge",
          arguments: DebounceSettings.Mode.allCases)
    func oneDecisionPerTrain(mode: DebounceSettings.Mode) {
        let settings = DebounceSettings(mode: mode, window: .init(Self.window), hold: .milliseconds(50))
        for seed in 1...500 as ClosedRange<UInt64> {
            var rng = SplitMix64(state: seed)
            let pressAt = Int64.random(in: 1_000_000...50_000_000, using: &rng)
            let press = bounceTrain(start: pressAt, level: true, span: Self.window - 1_000_000, rng: &rng)
            // Held well past the window (and the hold time) before release.
            let releaseAt = press.last!.0 + Int64.random(in: 80_000_000...500_000_000, using: &rng)
            let release = bounceTrain(start: releaseAt, level: false, span: Self.window - 1_000_000, rng: &rng)
            let decisions = runTrace(press + release, settings: settings, until: releaseAt + 10 * Self.window)
            #expect(decisions.count == 2, "seed \(seed): \(decisions)")
            guard decisions.count == 2 else { continue }
            #expect(decisions[0].pressed && decisions[0].firstEdge.nanoseconds == pressAt, "seed \(seed)")
            #expect(!decisions[1].pressed && decisions[1].firstEdge.nanoseconds == releaseAt, "seed \(seed)")
            #expect(decisions[0].decidedAt >= decisions[0].firstEdge)
        }
    }

    @Test("a spike shorter than the window on an idle line is no press", arguments: [DebounceSettings.Mode.stable, .hold])
    func spikeIsNoPress(mode: DebounceSettings.Mode) {
        let settings = DebounceSettings(mode: mode, window: .init(Self.window), hold: .milliseconds(50))
        for seed in 1...500 as ClosedRange<UInt64> {
            var rng = SplitMix64(state: seed)
            let start = Int64.random(in: 1_000_000...50_000_000, using: &rng)
            // Up, possibly chattering, and back down, all inside the window.
            var spike = bounceTrain(start: start, level: true, span: Self.window / 2, rng: &rng)
            spike.append((spike.last!.0 + Int64.random(in: 10_000...(Self.window / 2 - 10_000), using: &rng), false))
            let decisions = runTrace(spike, settings: settings, until: start + 10 * Self.window)
            #expect(decisions.isEmpty, "seed \(seed): \(decisions)")
        }
    }

    @Test("immediate mode reports the press at its first edge, before the window passes")
    func immediateDecidesAtFirstEdge() {
        var d = Debouncer(settings: .init(mode: .immediate, window: .milliseconds(20)))
        let decisions = d.edge(pressed: true, at: .init(nanoseconds: 5_000))
        #expect(decisions.map(\.decidedAt.nanoseconds) == [5_000])
        #expect(decisions.map(\.pressed) == [true])
    }

    @Test("hold mode does not report a press released before the hold time")
    func holdNeedsTheFullHold() {
        let settings = DebounceSettings(mode: .hold, window: .milliseconds(20), hold: .milliseconds(500))
        let decisions = runTrace([(1_000_000, true), (300_000_000, false)], settings: settings, until: 2_000_000_000)
        #expect(decisions.isEmpty)
        let held = runTrace([(1_000_000, true), (700_000_000, false)], settings: settings, until: 2_000_000_000)
        #expect(held.map(\.pressed) == [true, false])
        #expect(held.first?.decidedAt.nanoseconds == 501_000_000)
        #expect(held.first?.firstEdge.nanoseconds == 1_000_000)
    }

    @Test("edges stamped out of order are treated as simultaneous, never as time going back")
    func outOfOrderStamps() {
        var d = Debouncer(settings: .init(mode: .stable, window: .milliseconds(20)))
        _ = d.edge(pressed: true, at: .init(nanoseconds: 10_000_000))
        _ = d.edge(pressed: true, at: .init(nanoseconds: 5_000_000))
        #expect(d.nextDeadline?.nanoseconds == 30_000_000)
    }
}
