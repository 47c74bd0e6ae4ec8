// One API process writes to a store at a time: the one holding the store's ingest lease, the
// leader. The per-tenant sequence and dispatch list, the outbox and the destinations'
// configurations are each written by it alone, because FerretDB's updates are read-modify-write
// (two writers of one document can lose one's change) and has no transactions. Every other API
// process follows: it answers reads itself and forwards each call that writes to the leader
// (src/api/forward.ts), whose address is in the lease.
//
// The lease is one document, only ever created by an insert — of two processes starting at
// once, the unique `_id` lets one in — and kept alive by its holder's beats. A follower watches
// it and takes it over once its beat has stood still for a whole `ttlMs` (at once when its
// holder was a process of this machine that no longer runs); the holder stops acknowledging
// once its own last beat is `ttlMs / 2` old, so two processes never acknowledge at the same
// time, whatever their clocks say. A holder that finds the lease taken over must stop.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Collection } from 'mongodb';
import { errorMessage, log } from '../log.js';
import { processAlive } from '../stack/processes.js';

export interface LeaseDoc {
  _id: 'ingest';
  /** This holding: a new one every start, so a restarted process never mistakes an old lease for its own. */
  holder: string;
  host: string;
  pid: number;
  /** Where the other API processes send the calls that write (the leader's h2c listener). */
  url: string;
  startedAt: Date;
  /** Moved by every beat: a lease whose beat stands still for `ttlMs` is abandoned. */
  beat: number;
  beatAt: Date;
}

/** This process may not acknowledge events now (it does not lead, or its lease is stale or lost). */
export class NotIngesting extends Error {}

export interface IngestLeaseOptions {
  ttlMs: number;
  /** This process's address for forwarded calls. */
  url: string;
  /** Called once this process leads; the lease beats meanwhile, and `leading` turns true once it resolves. */
  onLead: () => Promise<void>;
  /** Called once if another process takes the lease over from this one: it must stop for good. */
  onLost: (reason: string) => void;
}

const leaseId = 'ingest';

export function describeHolder(doc: Pick<LeaseDoc, 'pid' | 'host' | 'startedAt'>): string {
  return `pid ${doc.pid} on ${doc.host}, started ${doc.startedAt.toISOString()}`;
}

export class IngestLease {
  private readonly doc: LeaseDoc;
  private holding = false;
  private ready = false;
  private lost = false;
  private stopped = false;
  private lastBeat = 0;
  /** The lease as last seen while following, and since when its beat has stood still. */
  private seen: { doc: LeaseDoc; since: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** Taking up the lead (`onLead`), while the lease beats. */
  private takingUp: Promise<void> | undefined;

  private constructor(
    private readonly collection: Collection<LeaseDoc>,
    private readonly options: IngestLeaseOptions,
  ) {
    const now = new Date();
    this.doc = { _id: leaseId, holder: randomUUID(), host: hostname(), pid: process.pid, url: options.url, startedAt: now, beat: 0, beatAt: now };
  }

  /** Joins the store's API processes: leads at once when no live process does, follows otherwise. */
  static async join(collection: Collection<LeaseDoc>, options: IngestLeaseOptions): Promise<IngestLease> {
    const lease = new IngestLease(collection, options);
    await lease.tick();
    lease.timer = setInterval(() => void lease.tick(), options.ttlMs / 5);
    await lease.takingUp;
    return lease;
  }

  /** Whether this process leads now (it holds the lease and has finished taking it up). */
  get leading(): boolean {
    return this.ready && !this.lost;
  }

  /** Whether this process holds the lease now (taking up the lead, or leading): it alone may write what the leader writes. */
  get holds(): boolean {
    return this.holding && !this.lost && Date.now() - this.lastBeat < this.options.ttlMs / 2;
  }

  /** The leader as last seen by this follower; undefined while none is known. */
  leader(): LeaseDoc | undefined {
    return this.holding ? undefined : this.seen?.doc;
  }

  /** Throws NotIngesting unless this process may acknowledge events now. */
  check(): void {
    if (this.lost) throw new NotIngesting("this API process lost the store's ingest lease to another one and is stopping");
    if (!this.ready) throw new NotIngesting('this API process does not lead the store (another one writes to it)');
    if (Date.now() - this.lastBeat >= this.options.ttlMs / 2) {
      throw new NotIngesting('this API process could not renew its ingest lease in time (the store is not answering)');
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped || this.lost) return;
    this.ticking = true;
    try {
      if (this.holding) await this.beat();
      else await this.follow();
    } catch (error) {
      log.warn(this.holding ? 'could not renew the ingest lease; publishes answer UNAVAILABLE until it is renewed' : 'could not read the ingest lease', {
        error: errorMessage(error),
      });
    } finally {
      this.ticking = false;
    }
  }

  private async beat(): Promise<void> {
    const result = await this.collection.updateOne({ _id: leaseId, holder: this.doc.holder }, { $inc: { beat: 1 }, $set: { beatAt: new Date() } });
    if (result.matchedCount === 1) {
      this.lastBeat = Date.now();
      return;
    }
    this.lost = true;
    clearInterval(this.timer);
    this.options.onLost('another API process took over the ingest lease after this one had not renewed it in time');
  }

  /** Reads the lease; takes it when there is none or its holder is gone. */
  private async follow(): Promise<void> {
    const current = await this.collection.findOne({ _id: leaseId });
    if (current && !this.gone(current)) return;
    if (current) {
      log.warn('taking over an abandoned ingest lease', { previous: describeHolder(current) });
      await this.collection.deleteOne({ _id: leaseId, holder: current.holder });
    }
    try {
      this.doc.beatAt = new Date();
      await this.collection.insertOne(this.doc);
    } catch (error) {
      if ((error as { code?: number }).code === 11000) return; // another process took it first: follow that one
      throw error;
    }
    this.holding = true;
    this.lastBeat = Date.now();
    this.seen = undefined;
    log.info('this API process leads the store (holds its ingest lease)', { pid: process.pid });
    this.takingUp = this.takeUp();
  }

  /** Runs `onLead` until it succeeds (the store may be briefly unreachable); leading from then on. */
  private async takeUp(): Promise<void> {
    while (!this.stopped && !this.lost) {
      try {
        await this.options.onLead();
        this.ready = true;
        return;
      } catch (error) {
        log.warn('could not take up the lead yet; trying again', { error: errorMessage(error) });
        await new Promise((resolve) => setTimeout(resolve, this.options.ttlMs / 5));
      }
    }
  }

  /**
   * Whether a lease's holder is gone: a process of this machine that no longer runs (or whose
   * pid is now ours), or a lease whose beat did not move while watched for `ttlMs`.
   */
  private gone(lease: LeaseDoc): boolean {
    if (lease.host === hostname() && (lease.pid === process.pid || !processAlive(lease.pid))) return true;
    const now = Date.now();
    if (!this.seen || this.seen.doc.holder !== lease.holder || this.seen.doc.beat !== lease.beat) {
      if (this.seen?.doc.holder !== lease.holder) log.info('following the API process that leads the store', { leader: describeHolder(lease) });
      this.seen = { doc: lease, since: now };
      return false;
    }
    return now - this.seen.since >= this.options.ttlMs;
  }

  /** Gives the lease up, so another API process leads at once. */
  async release(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (!this.holding || this.lost) return;
    this.lost = true;
    await this.collection.deleteOne({ _id: leaseId, holder: this.doc.holder }).catch((error) => {
      log.warn('could not release the ingest lease; another API process takes it over once it has expired', { error: errorMessage(error) });
    });
  }
}
