import PanicCore
import ServiceLifecycle

/// Opens once, when the inputs are open; whoever waits on it (before or
/// after) then goes on. Start-up order: on a small box with one core, the
/// inputs open before delivery, pruning and the control socket begin their
/// own start-up work, so a press at power-on is read as early as it can be.
final class InputsOpen: Sendable {
    private let state = Locked<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.mutate { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// Returns once open (or at once when the task is cancelled: shutdown).
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now: Bool = state.mutate { s in
                    if s.open || Task.isCancelled { return true }
                    s.waiters.append(c)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            self.open()
        }
    }

    var isOpen: Bool { state.value.open }
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
