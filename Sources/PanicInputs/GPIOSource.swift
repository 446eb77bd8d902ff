import Foundation
import Logging
import PanicCore
import PanicPlatform

/// A button or contact on a GPIO line. Requests the line for both edges,
/// reads the level right after the request (a button held while the gateway
/// starts still raises its alert), and carries the kernel's edge stamps into
/// debounce. A missing or removed chip is trouble, retried until it returns.
public final class GPIOSource: InputSource {
    private let name: String
    private let request: GPIOLineRequest
    private let backend: any GPIOBackend
    private let clock: any GatewayClock
    private let logger: Logger
    private let retryInterval: Nanoseconds
    private var line: (any GPIOLineHandle)?
    private var trouble: String?
    private var retryAt: MonotonicInstant?
    /// The chip's node name (`gpiochip0`) while the line is open.
    private var openNode: String?
    /// When hotplug said the open chip was removed, until handled.
    private var removedAt: MonotonicInstant?

    public var wakeAt: MonotonicInstant? { [retryAt, removedAt].compactMap { $0 }.min() }

    public init(name: String, request: GPIOLineRequest, backend: any GPIOBackend = LibgpiodBackend(), clock: any GatewayClock,
                logger: Logger, retryInterval: Nanoseconds = .seconds(1)) {
        self.name = name
        self.request = request
        self.backend = backend
        self.clock = clock
        self.logger = logger
        self.retryInterval = retryInterval
    }

    public var descriptor: Int32 { line?.fd ?? -1 }

    public func start(emit: (SourceEvent) -> Void) { open(emit: emit) }

    public func wake(now: MonotonicInstant, emit: (SourceEvent) -> Void) {
        if removedAt != nil {
            removedAt = nil
            if line != nil { fail(.removed(chip: request.chip), emit: emit) }
            return
        }
        retryAt = nil
        if line == nil { open(emit: emit) }
    }

    /// Hotplug: a GPIO chip node went away (called on the loop thread).
    public func chipRemoved(node: String) {
        guard line != nil, openNode == node else { return }
        removedAt = clock.monotonicNow()
    }

    /// Hotplug: a GPIO chip appeared; a line waiting for its chip tries now.
    public func chipAppeared() {
        guard line == nil else { return }
        retryAt = clock.monotonicNow()
    }

    private func open(emit: (SourceEvent) -> Void) {
        // The level read after the request holds from the request on: stamp
        // it before, so edges the kernel reports after the request stay in order.
        let requestedAt = clock.monotonicNow()
        do {
            let l = try backend.request(request)
            let level = try l.value()
            line = l
            retryAt = nil
            openNode = (try? GPIOChips.resolve(request.chip)).map { ($0 as NSString).lastPathComponent }
            if let cause = trouble {
                trouble = nil
                logger.notice("GPIO line available again", metadata: ["input.name": "\(name)"])
                emit(.troubleCleared(cause))
            }
            emit(.level(asserted: level, at: requestedAt))
        } catch {
            fail(error, emit: emit)
        }
    }

    private func fail(_ error: GPIOError, emit: (SourceEvent) -> Void) {
        line?.close()
        line = nil
        openNode = nil
        retryAt = clock.monotonicNow() + retryInterval
        let cause = error.description
        guard trouble != cause else { return }
        if trouble == nil { emit(.trouble(cause)) }
        trouble = cause
        logger.error("GPIO input in trouble; retrying", metadata: ["input.name": "\(name)", "reason": "\(cause)"])
    }

    public func readReady(emit: (SourceEvent) -> Void) {
        guard let line else { return }
        do {
            for edge in try line.readEdges() { emit(.level(asserted: edge.rising, at: edge.at)) }
        } catch {
            fail(error, emit: emit)
        }
    }

    public func hangup(emit: (SourceEvent) -> Void) {
        fail(.removed(chip: request.chip), emit: emit)
    }
}
