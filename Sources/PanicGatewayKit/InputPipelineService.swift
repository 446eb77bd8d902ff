import Logging
import PanicInputs
import ServiceLifecycle

/// Runs the input loop thread and the outbox writer thread as one service.
/// On graceful shutdown the loop stops first, then the writer commits what
/// it still holds: nothing decided is left uncommitted.
struct InputPipelineService: Service {
    let loop: InputLoop
    let writer: AlertWriter
    let onReady: @Sendable () -> Void

    func run() async throws {
        writer.start()
        loop.start()
        onReady()
        try? await gracefulShutdown()
        loop.stop()
        writer.stop()
    }
}
