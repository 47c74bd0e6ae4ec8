// Finishes flushes that a crash or an outage interrupted, from their outbox entries: before an
// API process serves (every entry is then one a dead process left), and every sweep interval
// after that for entries older than `staleAfterMs` that no flush of this process is writing and
// the dispatcher is not announcing (a flush that failed and could not be finished at once, an
// entry whose removal failed). Finishing is safe to repeat (src/ingest/publisher.ts, `finish`).
import { every } from '../every.js';
import type { Outbox } from '../store/outbox.js';
import type { Dispatcher } from './dispatcher.js';
import type { Publisher } from './publisher.js';

export interface SweeperOptions {
  intervalMs: number;
  staleAfterMs: number;
}

const entriesPerSweep = 1_000;

/** Finishes every flush a stopped process left, before this one takes publishes. */
export async function finishInterrupted(outbox: Outbox, publisher: Publisher): Promise<number> {
  const startedAt = new Date();
  // Finished entries stay until the dispatcher has announced them: each page asks past them.
  const finished = new Set<string>();
  for (;;) {
    const left = (await outbox.olderThan(startedAt, finished.size + entriesPerSweep)).filter((entry) => !finished.has(entry._id));
    if (left.length === 0) return finished.size;
    for (const entry of left) {
      await publisher.finish(entry);
      finished.add(entry._id);
    }
  }
}

export function startSweeper(outbox: Outbox, publisher: Publisher, dispatcher: Dispatcher, options: SweeperOptions): () => void {
  return every(options.intervalMs, 'outbox sweep', async () => {
    for (const entry of await outbox.olderThan(new Date(Date.now() - options.staleAfterMs), entriesPerSweep)) {
      if (publisher.isUnderWay(entry._id) || dispatcher.isOutstanding(entry._id)) continue;
      await publisher.finish(entry);
    }
  });
}
