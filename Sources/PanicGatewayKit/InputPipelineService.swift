import Logging
import PanicInputs
import ServiceLifecycle

/// Runs the input loop thread and the outbox writer thread as one service.
/// On graceful shutdown the loop stops first, then the writer commits what
/// it still holds: nothing decided is left uncommitted. Starting and stopping
/// wait for those threads, so they run on a thread of their own.
struct InputPipelineService: Service {
    let loop: InputLoop
    let writer: AlertWriter
    let onReady: @Sendable () -> Void

    func run() async throws {
        let loop = self.loop, writer = self.writer, onReady = self.onReady
        // Ready is said from the starting thread the moment the inputs are
        // open, not once the cooperative pool gets round to resuming us
        // (the other services start meanwhile and may keep it busy).
        await onOwnThread("pipeline-start") {
            writer.start()
            loop.start()
            onReady()
        }
        try? await gracefulShutdown()
        await onOwnThread("pipeline-stop") {
            loop.stop()
            writer.stop()
        }
    }
}
