// The per-tenant document: the event sequence and audit-log chunk counters and the list of
// destinations that new events are dispatched to. They change through one read-modify-write
// per call, which MongoDB makes atomic and FerretDB does not: calls are serialised per tenant
// here, in the one API process that holds the store's ingest lease (src/ingest/lease.ts).
import { KeyedMutex } from '../keyed-mutex.js';
import type { UpdateFilter } from 'mongodb';
import type { Collections, TenantDoc } from './mongo.js';
import type { SubscriptionFilter } from '../subscription/filter.js';

export interface Allocation {
  firstSeq: number;
  lastSeq: number;
  /** The first of the audit-log chunks taken (src/store/audit-log.ts). */
  firstChunk: number;
  /** The destinations enabled at the moment the sequence numbers were taken. */
  destinations: string[];
  /** The filters of those that had some at that moment. */
  filters: Record<string, SubscriptionFilter[]>;
}

export class TenantStore {
  private readonly mutex = new KeyedMutex();

  constructor(private readonly collections: Collections) {}

  /** Takes `count` consecutive sequence numbers and `chunks` consecutive chunk numbers for the tenant's next events. */
  allocate(tenantId: string, count: number, chunks: number): Promise<Allocation> {
    return this.mutex.run(tenantId, async () => {
      const doc = await this.collections.tenants.findOneAndUpdate(
        { _id: tenantId },
        { $inc: { seq: count, chunks }, $setOnInsert: { destinations: [] } },
        { upsert: true, returnDocument: 'after' },
      );
      const tenant = doc as TenantDoc;
      return { firstSeq: tenant.seq - count + 1, lastSeq: tenant.seq, firstChunk: tenant.chunks - chunks, destinations: tenant.destinations ?? [], filters: tenant.filters ?? {} };
    });
  }

  /** The tenant's counters and dispatch list; null before its first event or destination. */
  get(tenantId: string): Promise<TenantDoc | null> {
    return this.collections.tenants.findOne({ _id: tenantId });
  }

  /**
   * Starts or stops dispatching the tenant's new events to a destination, or changes which of
   * them it receives (its filters; none: all); answers the tenant's last sequence number at that
   * moment. Taken under the same lock as the numbers of new events, it is exact: every event up
   * to it was dispatched as before, every later one as now.
   */
  setDispatched(tenantId: string, destinationId: string, dispatched: boolean, filters: SubscriptionFilter[] = []): Promise<number> {
    return this.mutex.run(tenantId, async () => {
      const filtersPath = `filters.${destinationId}`;
      const filtersChange: UpdateFilter<TenantDoc> =
        dispatched && filters.length > 0 ? { $set: { [filtersPath]: filters } } : { $unset: { [filtersPath]: '' as const } };
      const update: UpdateFilter<TenantDoc> = dispatched
        ? { $addToSet: { destinations: destinationId }, $setOnInsert: { seq: 0, chunks: 0 }, ...filtersChange }
        : { $pull: { destinations: destinationId }, ...filtersChange };
      const doc = await this.collections.tenants.findOneAndUpdate({ _id: tenantId }, update, { upsert: dispatched, returnDocument: 'after' });
      return doc?.seq ?? 0;
    });
  }

  /** Every tenant's chunk counter: the number its next flush takes. */
  async chunkHeads(): Promise<{ tenantId: string; head: number }[]> {
    const docs = await this.collections.tenants.find({}, { projection: { chunks: 1 } }).toArray();
    return docs.map((doc) => ({ tenantId: doc._id, head: doc.chunks ?? 0 }));
  }

  /** The tenant's last sequence number (0 before its first event). */
  async head(tenantId: string): Promise<number> {
    return (await this.get(tenantId))?.seq ?? 0;
  }
}
