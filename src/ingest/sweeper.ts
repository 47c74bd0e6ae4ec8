// Recovers announcements a crash or an outage interrupted: every outbox entry older than
// `staleAfterMs` is announced again (or removed, when its batch was never written because
// the flush died first and its publisher never got an acknowledgement).
import { errorMessage, log } from '../log.js';
import type { EventStore } from '../store/events.js';
import type { Dispatcher } from './dispatcher.js';

export interface SweeperOptions {
  intervalMs: number;
  staleAfterMs: number;
}

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
    } catch (error) {
      log.warn('outbox sweep failed; will try again', { error: errorMessage(error) });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), options.intervalMs);
  void sweep();
  return () => clearInterval(timer);
}
