/// A point on CLOCK_MONOTONIC, in nanoseconds since boot. Arithmetic saturates.
///
/// Every edge carries one of these from its source (for GPIO, the kernel's
/// own stamp), so debouncing never reads a clock of its own.
public struct MonotonicInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }

    public static func + (a: Self, d: Nanoseconds) -> Self { .init(nanoseconds: a.nanoseconds.saturatingAdd(d.value)) }

    public static func - (a: Self, b: Self) -> Nanoseconds { .init(a.nanoseconds.saturatingSubtract(b.nanoseconds)) }

    public var description: String { "mono:\(nanoseconds)" }
}

/// A span of time in nanoseconds; a plain value type so pure code can do
/// arithmetic on it without Foundation or a clock.
public struct Nanoseconds: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var value: Int64

    public init(_ value: Int64) { self.value = value }

    public static func milliseconds(_ ms: Int64) -> Self { .init(ms.saturatingMultiply(1_000_000)) }
    public static func microseconds(_ us: Int64) -> Self { .init(us.saturatingMultiply(1_000)) }
    public static func seconds(_ s: Int64) -> Self { .init(s.saturatingMultiply(1_000_000_000)) }

    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }
    public static func + (a: Self, b: Self) -> Self { .init(a.value.saturatingAdd(b.value)) }

    public var milliseconds: Double { Double(value) / 1_000_000 }
    public var seconds: Double { Double(value) / 1_000_000_000 }

    public var description: String { String(format: "%.3f ms", milliseconds) }
}

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
