import Logging
import PanicCore
import PanicOutbox
import ServiceLifecycle

/// Keeps the outbox's file bounded over years: every `interval` it prunes
/// delivered alerts past their retention, in small batches with a pause
/// between them, so the writer that commits new alerts is never held up for
/// more than one short transaction. Undelivered alerts are never pruned.
public struct OutboxPruningService: Service {
    let outbox: Outbox
    let retention: OutboxRetention
    let clock: any GatewayClock
    let logger: Logger
    let interval: Duration
    let batch: Int

    public init(outbox: Outbox, retention: OutboxRetention, clock: any GatewayClock, logger: Logger,
                interval: Duration = .seconds(60), batch: Int = 1_000) {
        self.outbox = outbox
        self.retention = retention
        self.clock = clock
        self.logger = logger
        self.interval = interval
        self.batch = batch
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            pruneNow()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Prunes until nothing more is due; returns how many alerts went.
    @discardableResult
    public func pruneNow() -> Int {
        var total = 0
        do {
            while true {
                let n = try outbox.pruneStep(retention, now: clock.wallNow(), batch: batch)
                total += n
                if n < batch || Task.isShuttingDownGracefully { break }
            }
        } catch {
            logger.error("outbox pruning failed; retried at the next interval", metadata: ["error": "\(error)"])
        }
        if total > 0 {
            let size = outbox.fileSizes()
            logger.info("outbox pruned", metadata: ["alerts": "\(total)", "file.bytes": "\(size.database)", "wal.bytes": "\(size.wal)"])
        }
        return total
    }
}
