// Keeps the id index (src/store/id-index.ts) up with the log, off the publish path: the leading
// API process — the one writer of the log, and so of the index — is told each flush's ids once
// the flush is final, gathers them per tenant in memory, and writes a tenant's tail about once a
// second (sealing it into the buckets when full). So `GetEvent` finds an event within about a
// second of its acceptance, and no publish waits for the index.
//
// What this process was not told — flushes a previous leader wrote after its last tail, a log
// older than the index — it reads from the log: when a flush arrives past the tail, the chunks
// between (all final: flushes of a tenant finish in order), and when it takes up the lead, each
// tenant's chunks up to its head then (before it takes any publish, so all final too).
import { every } from '../every.js';
import { KeyedMutex } from '../keyed-mutex.js';
import { errorMessage, log } from '../log.js';
import { tenantKey, type AuditLog } from '../store/audit-log.js';
import { sealAt, tailOf, Entries, type IdIndex, type IndexedTail } from '../store/id-index.js';

/** How often gathered entries are written: how soon `GetEvent` finds an event. */
const writeIntervalMs = 1_000;
/** Chunks read at once when catching up. */
const catchUpWindow = 8;
/** A tenant's tail leaves memory this long after its last flush (it is read again if it publishes). */
const idleMs = 30_000;

interface TenantTail extends IndexedTail {
  /** Entries added, or chunks passed, since the tail was last written. */
  unwritten: boolean;
  /** The tails with entries since then. */
  changed: Set<number>;
  touchedAt: number;
}

export class IdIndexer {
  private readonly tails = new Map<string, TenantTail>();
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly index: IdIndex,
    private readonly auditLog: AuditLog,
    /** Whether this process may write the index now (it holds the store's ingest lease). */
    private readonly mayWrite: () => boolean,
  ) {}

  /** A flush is final: `ids[i]` is in chunk `chunks[i]`; the flush took chunks `firstChunk` to `endChunk` (excluded). */
  took(tenantId: string, firstChunk: number, endChunk: number, ids: string[], chunks: number[]): void {
    this.queue(tenantId, async (tail) => {
      if (endChunk <= tail.through) return; // already indexed (a flush finished again)
      await this.catchUp(tenantId, tail, firstChunk);
      for (let i = 0; i < ids.length; i++) if (chunks[i] >= tail.through) tail.changed.add(tailOf(tail.entries.add(ids[i], chunks[i])));
      this.advance(tail, endChunk);
      if (tail.entries.length >= sealAt) await this.write(tenantId, tail);
    });
  }

  /**
   * Catches every tenant up to its head now, in the background. Called as this process takes up
   * the lead, before it takes a publish: every chunk below a head is then final.
   */
  lead(heads: { tenantId: string; head: number }[]): void {
    for (const { tenantId, head } of heads) this.queue(tenantId, (tail) => this.catchUp(tenantId, tail, head));
  }

  /** Writes gathered entries every interval, until the returned function is called. */
  start(): () => void {
    return every(writeIntervalMs, 'writing the id index', async () => {
      const now = Date.now();
      for (const [tenantId, tail] of this.tails) {
        if (tail.unwritten) this.queue(tenantId, (current) => this.write(tenantId, current));
        else if (now - tail.touchedAt > idleMs) this.tails.delete(tenantId);
      }
      // The next interval starts once these writes are done.
      await Promise.all([...this.tails.keys()].map((tenantId) => this.mutex.run(tenantId, async () => undefined)));
    });
  }

  /** Writes what is gathered now, and answers once it is written. */
  async writeNow(): Promise<void> {
    // Tenants with a task queued may not have their tails in memory yet.
    const tenants = new Set([...this.tails.keys(), ...this.mutex.keys()]);
    await Promise.all([...tenants].map((tenantId) => this.mutex.run(tenantId, async () => this.write(tenantId, await this.loaded(tenantId)))));
  }

  /** Runs `task` on the tenant's tail, one task at a time per tenant; a failed one drops the tail from memory (read again next time). */
  private queue(tenantId: string, task: (tail: TenantTail) => Promise<void>): void {
    void this.mutex
      .run(tenantId, async () => task(await this.loaded(tenantId)))
      .catch((error) => {
        this.tails.delete(tenantId);
        log.warn('could not index event ids; will catch up from the log', { tenantId, error: errorMessage(error) });
      });
  }

  private async loaded(tenantId: string): Promise<TenantTail> {
    const known = this.tails.get(tenantId);
    if (known) {
      known.touchedAt = Date.now();
      return known;
    }
    const { floor } = await this.auditLog.bounds(tenantId);
    const tail: TenantTail = { ...(await this.index.tail(tenantKey(tenantId), floor)), unwritten: false, changed: new Set(), touchedAt: Date.now() };
    this.tails.set(tenantId, tail);
    return tail;
  }

  /** Adds the ids of the chunks from the tail's end up to `to` (excluded), read from the log. */
  private async catchUp(tenantId: string, tail: TenantTail, to: number): Promise<void> {
    while (tail.through < to) {
      const numbers = Array.from({ length: Math.min(catchUpWindow, to - tail.through) }, (_, i) => tail.through + i);
      for (const chunk of await this.auditLog.chunks(tenantId, numbers, { remember: false })) {
        for (const event of chunk?.events ?? []) tail.changed.add(tailOf(tail.entries.add(event.id, chunk!.n)));
      }
      this.advance(tail, numbers[numbers.length - 1] + 1);
      if (tail.entries.length >= sealAt) await this.write(tenantId, tail);
    }
  }

  private advance(tail: TenantTail, through: number): void {
    tail.through = through;
    tail.unwritten = true;
  }

  /** Writes the tails that changed, or seals them all when full. */
  private async write(tenantId: string, tail: TenantTail): Promise<void> {
    if (!tail.unwritten) return;
    if (!this.mayWrite()) throw new Error('this process does not hold the ingest lease: another one writes the id index');
    const key = tenantKey(tenantId);
    if (tail.entries.length >= sealAt) {
      await this.index.seal(key, tail);
      tail.sealed = tail.through;
      tail.entries = new Entries();
    } else {
      await this.index.writeTail(key, tail, tail.changed);
    }
    tail.changed.clear();
    tail.unwritten = false;
  }
}
