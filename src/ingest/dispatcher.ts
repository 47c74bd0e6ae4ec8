// Tells each destination's workflow which committed flushes are ready. Announcements to one
// destination are coalesced: while one signal is in flight, newer ranges wait and go out
// together in the next. An outbox entry is removed once every destination has been told;
// if Temporal is unreachable the announcement is retried here, and after a crash the
// sweeper announces again from the outbox. Workflows ignore a range they already know; a
// missing workflow is started again by the signaler, and only a deleted destination's
// announcement is let go.
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, log } from '../log.js';
import { DestinationGoneError } from '../temporal/destinations.js';
import type { OutboxDoc } from '../store/mongo.js';
import type { Outbox } from '../store/outbox.js';
import type { PendingRange } from '../../workflows/ranges.js';
import type { Announcer } from './publisher.js';

/** Delivers one announcement; throws when the workflow could not be reached (DestinationGoneError: deleted). */
export type Signaler = (destinationId: string, ranges: PendingRange[]) => Promise<void>;

interface DestinationQueue {
  ranges: PendingRange[];
  /** The outbox entries these ranges come from. */
  flushes: Set<string>;
  running: boolean;
}

export class Dispatcher implements Announcer {
  private readonly queues = new Map<string, DestinationQueue>();
  /** Outbox entry id → destinations not yet told about it. */
  private readonly outstanding = new Map<string, Set<string>>();
  private idleWaiters: (() => void)[] = [];
  /** Confirmed outbox entries, removed together every 200 ms. */
  private confirmed: string[] = [];
  private removal?: NodeJS.Timeout;

  constructor(
    private readonly signal: Signaler,
    private readonly outbox: Outbox,
    private readonly intervalMs: number,
  ) {}

  isOutstanding(entryId: string): boolean {
    return this.outstanding.has(entryId);
  }

  announce(flush: OutboxDoc): void {
    if (this.outstanding.has(flush._id)) return;
    if (flush.destinations.length === 0) {
      this.removeOutbox(flush._id);
      return;
    }
    this.outstanding.set(flush._id, new Set(flush.destinations));
    const range: PendingRange = {
      lo: flush.firstSeq,
      hi: flush.lastSeq,
      count: flush.count,
      at: flush.createdAt.getTime(),
      firstChunk: flush.firstChunk,
      lastChunk: flush.lastChunk,
    };
    for (const destinationId of flush.destinations) {
      const queue = this.queues.get(destinationId) ?? { ranges: [], flushes: new Set<string>(), running: false };
      this.queues.set(destinationId, queue);
      // A filtered destination is owed only the events its filters let through.
      queue.ranges.push({ ...range, count: flush.counts?.[destinationId] ?? flush.count });
      queue.flushes.add(flush._id);
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
      const flushes = [...queue.flushes];
      queue.flushes.clear();
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
          flushes.forEach((id) => queue.flushes.add(id));
          await sleep(Math.min(30_000, 500 * 2 ** Math.min(6, failures)));
          continue;
        }
        log.info('destination was deleted; its announcement is not needed', { destinationId });
      }
      flushes.forEach((id) => this.confirm(id, destinationId));
      if (this.intervalMs > 0) await sleep(this.intervalMs);
    }
    queue.running = false;
    this.queues.delete(destinationId);
  }

  private confirm(entryId: string, destinationId: string): void {
    const waiting = this.outstanding.get(entryId);
    if (!waiting) return;
    waiting.delete(destinationId);
    if (waiting.size > 0) return;
    this.outstanding.delete(entryId);
    this.removeOutbox(entryId);
  }

  private removeOutbox(entryId: string): void {
    this.confirmed.push(entryId);
    this.removal ??= setTimeout(() => void this.removeConfirmed(), 200);
  }

  private async removeConfirmed(): Promise<void> {
    const ids = this.confirmed.splice(0);
    try {
      await this.outbox.remove(ids);
    } catch (error) {
      log.warn('could not remove outbox entries; the sweeper will re-announce them', { entries: ids.length, error: errorMessage(error) });
    }
    this.removal = undefined;
    if (this.confirmed.length > 0) this.removal = setTimeout(() => void this.removeConfirmed(), 200);
    else if (this.outstanding.size === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }
}
