import Foundation
import PanicPlatform

/// Runs `body`, which blocks (it waits for another thread, opens devices,
/// commits to disk), on a thread of its own and awaits its result, so no
/// thread of the cooperative pool is held while it waits. For start-up,
/// shutdown and reload steps, not for anything per event.
func onOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
        let t = Thread { nameCurrentThread(name); c.resume(returning: body()) }
        t.name = name
        t.start()
    }
}
