// Tells each destination's workflow which committed batches are ready. Announcements to one
// destination are coalesced: while one signal is in flight, newer ranges wait and go out
// together in the next. An outbox entry is removed once every destination has been told;
// if Temporal is unreachable the announcement is retried here, and after a crash the
// sweeper re-announces from the outbox. Workflows ignore a range they already know; a
// missing workflow is started again by the signaler, and only a deleted destination's
// announcement is let go.
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, log } from '../log.js';
import type { EventStore } from '../store/events.js';
import { DestinationGoneError } from '../temporal/destinations.js';
import type { OutboxDoc } from '../store/mongo.js';
import type { PendingRange } from '../../workflows/ranges.js';
import type { Announcer } from './publisher.js';

/** Delivers one announcement; throws when the workflow could not be reached (DestinationGoneError: deleted). */
export type Signaler = (destinationId: string, ranges: PendingRange[]) => Promise<void>;

interface DestinationQueue {
  ranges: PendingRange[];
  batches: Set<string>;
  running: boolean;
}

export class Dispatcher implements Announcer {
  private readonly queues = new Map<string, DestinationQueue>();
  /** Batch id → destinations not yet told about it. */
  private readonly outstanding = new Map<string, Set<string>>();
  private idleWaiters: (() => void)[] = [];
  /** Confirmed outbox entries, removed together: one write per interval instead of one per batch. */
  private confirmed: string[] = [];
  private removal?: NodeJS.Timeout;

  constructor(
    private readonly signal: Signaler,
    private readonly events: EventStore,
    private readonly intervalMs: number,
  ) {}

  isOutstanding(batchId: string): boolean {
    return this.outstanding.has(batchId);
  }

  announce(batch: OutboxDoc): void {
    if (this.outstanding.has(batch._id)) return;
    if (batch.destinations.length === 0) {
      this.removeOutbox(batch._id);
      return;
    }
    this.outstanding.set(batch._id, new Set(batch.destinations));
    const range: PendingRange = { lo: batch.firstSeq, hi: batch.lastSeq, count: batch.count, at: batch.createdAt.getTime() };
    for (const destinationId of batch.destinations) {
      const queue = this.queues.get(destinationId) ?? { ranges: [], batches: new Set<string>(), running: false };
      this.queues.set(destinationId, queue);
      queue.ranges.push(range);
      queue.batches.add(batch._id);
      if (!queue.running) {
        queue.running = true;
        void this.run(destinationId, queue);
      }
    }
  }

  /** Resolves when every announcement made so far has been delivered. */
  idle(): Promise<void> {
    if (this.outstanding.size === 0 && this.removal === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(destinationId: string, queue: DestinationQueue): Promise<void> {
    let failures = 0;
    while (queue.ranges.length > 0) {
      const ranges = queue.ranges.splice(0);
      const batches = [...queue.batches];
      queue.batches.clear();
      try {
        await this.signal(destinationId, ranges);
        failures = 0;
      } catch (error) {
        if (!(error instanceof DestinationGoneError)) {
          failures++;
          log.warn('could not announce events to a destination workflow; retrying', {
            destinationId,
            error: errorMessage(error),
          });
          queue.ranges.unshift(...ranges);
          batches.forEach((id) => queue.batches.add(id));
          await sleep(Math.min(30_000, 500 * 2 ** Math.min(6, failures)));
          continue;
        }
        log.info('destination was deleted; its announcement is not needed', { destinationId });
      }
      batches.forEach((id) => this.confirm(id, destinationId));
      if (this.intervalMs > 0) await sleep(this.intervalMs);
    }
    queue.running = false;
    this.queues.delete(destinationId);
  }

  private confirm(batchId: string, destinationId: string): void {
    const waiting = this.outstanding.get(batchId);
    if (!waiting) return;
    waiting.delete(destinationId);
    if (waiting.size > 0) return;
    this.outstanding.delete(batchId);
    this.removeOutbox(batchId);
  }

  private removeOutbox(batchId: string): void {
    this.confirmed.push(batchId);
    this.removal ??= setTimeout(() => void this.removeConfirmed(), 200);
  }

  private async removeConfirmed(): Promise<void> {
    const ids = this.confirmed.splice(0);
    try {
      await this.events.removeOutboxMany(ids);
    } catch (error) {
      log.warn('could not remove outbox entries; the sweeper will re-announce them', { entries: ids.length, error: errorMessage(error) });
    }
    this.removal = undefined;
    if (this.confirmed.length > 0) this.removal = setTimeout(() => void this.removeConfirmed(), 200);
    else if (this.outstanding.size === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }
}
