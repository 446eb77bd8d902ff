import PanicCore
import ServiceLifecycle

/// Opens once, when the inputs are open; whoever waits on it (before or
/// after) then goes on. Start-up order: on a small box with one core, the
/// inputs open before delivery, pruning and the control socket begin their
/// own start-up work, so a press at power-on is read as early as it can be.
final class InputsOpen: Sendable {
    private struct State {
        var open = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Locked(State())

    func open() {
        let waiters = state.mutate { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    /// Returns once open, or when the waiting task is cancelled (shutdown):
    /// that waiter alone goes, the gate stays shut for the others.
    func wait() async {
        let id = state.mutate { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now: Bool = state.mutate { s in
                    if s.open || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let c = self.state.mutate { $0.waiters.removeValue(forKey: id) }
            c?.resume()
        }
    }
}

/// Runs `service` once the inputs are open; a shutdown before that ends it
/// without starting it.
struct AfterInputsOpen: Service {
    let inputs: InputsOpen
    let service: any Service

    func run() async throws {
        await cancelWhenGracefulShutdown { await inputs.wait() }
        if Task.isCancelled || Task.isShuttingDownGracefully { return }
        try await service.run()
    }
}
