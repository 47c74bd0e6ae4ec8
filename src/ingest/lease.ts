// One API process ingests into a store at a time: the one holding the store's ingest lease.
// The per-tenant sequence and dispatch list are serialised inside that process, and FerretDB's
// updates are read-modify-write, so a second API process on the same store would hand out the
// same sequence numbers and lose events it had acknowledged. It refuses to start instead.
//
// The lease is one document, only ever created by an insert — of two processes starting at
// once, the unique `_id` lets one in — and kept alive by its holder's beats. A lease whose
// beats have stopped (its holder killed, or cut off from the store) may be taken over, but
// only after watching it stand still for a whole `ttlMs`; its holder stops acknowledging once
// its own last beat is `ttlMs / 2` old, so two processes never acknowledge at the same time,
// whatever their clocks say. A holder that finds the lease taken over must stop.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Collection } from 'mongodb';
import { errorMessage, log } from '../log.js';
import { processAlive } from '../stack/processes.js';

export interface LeaseDoc {
  _id: 'ingest';
  /** This holding: a new one every start, so a restarted process never mistakes an old lease for its own. */
  holder: string;
  host: string;
  pid: number;
  startedAt: Date;
  /** Moved by every beat: a lease whose beat stands still for `ttlMs` is abandoned. */
  beat: number;
  beatAt: Date;
}

/** Another live API process holds the store's ingest lease. */
export class IngestLeaseHeld extends Error {}

/** This process may not acknowledge events now (its lease is stale or lost). */
export class NotIngesting extends Error {}

export interface IngestLeaseOptions {
  ttlMs: number;
  /** Called once if another process takes the lease over: this process must stop ingesting for good. */
  onLost: (reason: string) => void;
}

const leaseId = 'ingest';

function describeHolder(doc: LeaseDoc): string {
  return `pid ${doc.pid} on ${doc.host}, started ${doc.startedAt.toISOString()}`;
}

export class IngestLease {
  private lastBeat = Date.now();
  private lost = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly collection: Collection<LeaseDoc>,
    private readonly doc: LeaseDoc,
    private readonly options: IngestLeaseOptions,
  ) {
    this.timer = setInterval(() => void this.beat(), options.ttlMs / 5);
  }

  /** Takes the lease, or throws IngestLeaseHeld naming the live process that has it. */
  static async acquire(collection: Collection<LeaseDoc>, options: IngestLeaseOptions): Promise<IngestLease> {
    const now = new Date();
    const doc: LeaseDoc = { _id: leaseId, holder: randomUUID(), host: hostname(), pid: process.pid, startedAt: now, beat: 0, beatAt: now };
    for (;;) {
      try {
        await collection.insertOne(doc);
        return new IngestLease(collection, doc, options);
      } catch (error) {
        if ((error as { code?: number }).code !== 11000) throw error;
      }
      const current = await collection.findOne({ _id: leaseId });
      if (!current) continue;
      if (!(await abandoned(collection, current, options.ttlMs))) {
        throw new IngestLeaseHeld(
          `another API process holds this store's ingest lease (${describeHolder(current)}). Run one API process ` +
            `(AUDITSTREAM_ROLE=api or all) per store: two would hand out the same sequence numbers and lose acknowledged ` +
            `events. To deliver faster, add workers (AUDITSTREAM_ROLE=worker) instead.`,
        );
      }
      log.warn('taking over an abandoned ingest lease', { previous: describeHolder(current) });
      await collection.deleteOne({ _id: leaseId, holder: current.holder });
    }
  }

  /** Throws NotIngesting unless this process may acknowledge events now. */
  check(): void {
    if (this.lost) throw new NotIngesting('this API process lost the store\'s ingest lease to another one and is stopping');
    if (Date.now() - this.lastBeat >= this.options.ttlMs / 2) {
      throw new NotIngesting('this API process could not renew its ingest lease in time (the store is not answering)');
    }
  }

  private async beat(): Promise<void> {
    if (this.lost) return;
    try {
      const result = await this.collection.updateOne({ _id: leaseId, holder: this.doc.holder }, { $inc: { beat: 1 }, $set: { beatAt: new Date() } });
      if (result.matchedCount === 1) {
        this.lastBeat = Date.now();
        return;
      }
      this.lost = true;
      clearInterval(this.timer);
      this.options.onLost('another API process took over the ingest lease after this one had not renewed it in time');
    } catch (error) {
      log.warn('could not renew the ingest lease; publishes answer UNAVAILABLE until it is renewed', { error: errorMessage(error) });
    }
  }

  /** Gives the lease up, so the next API process starts at once. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    if (this.lost) return;
    this.lost = true;
    await this.collection.deleteOne({ _id: leaseId, holder: this.doc.holder }).catch((error) => {
      log.warn('could not release the ingest lease; the next API process takes it over once it has expired', { error: errorMessage(error) });
    });
  }
}

/**
 * Whether a lease's holder is gone: a process of this machine that no longer runs (or whose
 * pid is now ours), or a lease whose beat did not move while watched for `ttlMs`. A lease that
 * was released or changed hands meanwhile counts as gone too: the caller tries again from the
 * start, and judges the new holder afresh.
 */
async function abandoned(collection: Collection<LeaseDoc>, lease: LeaseDoc, ttlMs: number): Promise<boolean> {
  if (lease.host === hostname() && (lease.pid === process.pid || !processAlive(lease.pid))) return true;
  const until = Date.now() + ttlMs;
  while (Date.now() < until) {
    await sleep(Math.min(ttlMs / 10, until - Date.now()));
    const now = await collection.findOne({ _id: leaseId });
    if (!now || now.holder !== lease.holder) return true;
    if (now.beat !== lease.beat) return false;
  }
  return true;
}
