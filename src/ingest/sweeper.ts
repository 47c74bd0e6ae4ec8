// Recovers announcements a crash or an outage interrupted: every outbox entry older than
// `staleAfterMs` is announced again (or removed, when its batch was never written because
// the flush died first and its publisher never got an acknowledgement). It also removes
// buffered batches that every destination released but none deleted.
import { errorMessage, log } from '../log.js';
import type { EventStore } from '../store/events.js';
import type { Dispatcher } from './dispatcher.js';

export interface SweeperOptions {
  intervalMs: number;
  staleAfterMs: number;
  /** Batches older than this are past every destination's retry window: removed (hourly). */
  batchRetentionMs: number;
}

const batchCleanupIntervalMs = 3600_000;

export function startSweeper(events: EventStore, dispatcher: Dispatcher, options: SweeperOptions): () => void {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      const stale = await events.staleOutbox(new Date(Date.now() - options.staleAfterMs), 1_000);
      for (const entry of stale) {
        if (dispatcher.isOutstanding(entry._id)) continue;
        if (await events.batchExists(entry._id)) {
          log.info('re-announcing an interrupted batch', { batchId: entry._id, events: entry.count });
          dispatcher.announce(entry);
        } else {
          await events.removeOutbox(entry._id);
        }
      }
      await events.removeReleasedBatches();
    } catch (error) {
      log.warn('outbox sweep failed; will try again', { error: errorMessage(error) });
    } finally {
      running = false;
    }
  };
  // Batches a destination dropped (window spent, flush deadline) are never released: they go
  // once no destination could still want them.
  const cleanup = async () => {
    try {
      const removed = await events.removeBatchesBefore(new Date(Date.now() - options.batchRetentionMs));
      if (removed > 0) log.info('removed expired buffered batches', { removed });
    } catch (error) {
      log.warn('batch clean-up failed; will try again', { error: errorMessage(error) });
    }
  };
  const timer = setInterval(() => void sweep(), options.intervalMs);
  const cleanupTimer = setInterval(() => void cleanup(), batchCleanupIntervalMs);
  void sweep();
  return () => {
    clearInterval(timer);
    clearInterval(cleanupTimer);
  };
}
