// Each store feature the code relies on, proven on the FerretDB 1.24 the tests run against
// (MongoDB 6+ supports them all): if a FerretDB upgrade breaks one, this says which.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog, generationOf, tenantKey } from '../../src/store/audit-log.js';
import { EventStore, type Batch } from '../../src/store/events.js';
import { connectStore, ensureIndexes, type Store } from '../../src/store/mongo.js';
import { TenantStore } from '../../src/store/tenants.js';
import { stack } from '../support/clients.js';

const stores: Store[] = [];
async function store() {
  const connected = await connectStore(stack.mongodbUri, `compat_${randomUUID().slice(0, 8)}`);
  stores.push(connected);
  return connected;
}
/** A buffered batch of `tenantId` covering `firstSeq..lastSeq`, still pending for `pendingFor`. */
function bufferedBatch(firstSeq: number, pendingFor: string[], options: { tenantId?: string; lastSeq?: number; createdAt?: Date } = {}): Batch {
  const { tenantId = 't', lastSeq = firstSeq, createdAt = new Date() } = options;
  return {
    _id: `${tenantId}:${firstSeq}`, tenantId, firstSeq, lastSeq, count: lastSeq - firstSeq + 1, destinations: pendingFor, createdAt, events: [], seqs: [], pendingFor,
  };
}

const event = (id: string) => ({ id, occurredAt: new Date(), receivedAt: new Date(), action: 'a', outcome: 'unknown' as const });

/** Each id in the tenant's registry with its seq, as the newest generation holding it says. */
async function registered(s: Store, tenantId: string): Promise<Map<string, number>> {
  const prefix = `ids_${tenantKey(tenantId)}_`;
  const names = (await s.db.listCollections({}, { nameOnly: true }).toArray())
    .map((c) => c.name)
    .filter((name) => name.startsWith(prefix))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)));
  const ids = new Map<string, number>();
  for (const name of names) for (const doc of await s.db.collection<{ _id: string; seq: number }>(name).find({}).toArray()) ids.set(doc._id, doc.seq);
  return ids;
}

afterAll(async () => {
  for (const s of stores) {
    await s.db.dropDatabase();
    await s.close();
  }
});

describe('store features on FerretDB', () => {
  it('creates indexes idempotently (FerretDB panics if asked to create an existing one)', async () => {
    const s = await store();
    await ensureIndexes(s.collections);
    await ensureIndexes(s.collections);
    const names = (await s.collections.destinations.listIndexes().toArray()).map((index) => index.name).sort();
    expect(names).toEqual(['_id_', 'tenant']);
    // A compound index over an array field (multikey), as the delivery buffer's.
    expect((await s.collections.batches.listIndexes().toArray()).map((index) => index.name).sort()).toEqual(['_id_', 'tenant_pending_seq']);
  });

  it('allocates consecutive sequence numbers with $inc + upsert, serialised per tenant', async () => {
    const s = await store();
    const tenants = new TenantStore(s.collections);
    const allocations = await Promise.all(Array.from({ length: 20 }, () => tenants.allocate('t', 5)));
    const ranges = allocations.map((a) => [a.firstSeq, a.lastSeq]).sort((a, b) => a[0] - b[0]);
    expect(ranges[0]).toEqual([1, 5]);
    expect(ranges[19]).toEqual([96, 100]);
    ranges.forEach(([lo], i) => expect(lo).toBe(i * 5 + 1));
  });

  it('keeps the dispatch list with $addToSet and $pull', async () => {
    const s = await store();
    const tenants = new TenantStore(s.collections);
    await tenants.setDispatched('t', 'dst_a', true);
    await tenants.setDispatched('t', 'dst_a', true);
    await tenants.setDispatched('t', 'dst_b', true);
    await tenants.setDispatched('t', 'dst_a', false);
    expect((await tenants.allocate('t', 1)).destinations).toEqual(['dst_b']);
  });

  it('reports each duplicate _id of an unordered insertMany and stores the rest (the registry of event ids)', async () => {
    const s = await store();
    const log = new AuditLog(s.db, { partitionEvents: 1_000, settleMs: 0, scanBudget: 10_000 });
    const now = new Date();
    expect(await log.register('t', [event('a'), event('b')], [1, 2], now)).toEqual(new Set());
    expect(await log.register('t', [event('c'), event('a'), event('d'), event('b')], [3, 4, 5, 6], now)).toEqual(new Set([1, 3]));
    expect(await registered(s, 't')).toEqual(new Map([['a', 1], ['b', 2], ['c', 3], ['d', 5]]));
  });

  it('recognises a repeat across the registry’s week boundary within a day, and forgets whole weeks past the retention', async () => {
    const s = await store();
    const log = new AuditLog(s.db, { partitionEvents: 1_000, settleMs: 0, scanBudget: 10_000 });
    const boundary = new Date((generationOf(new Date('2026-06-10T00:00:00Z')) + 1) * 7 * 86_400_000);
    const at = (hours: number) => new Date(boundary.getTime() + hours * 3_600_000);
    expect(await log.register('t', [event('late')], [1], at(-1))).toEqual(new Set());
    // An hour into the next week: the previous one is asked first; a new id is registered in both.
    expect(await log.register('t', [event('late'), event('new')], [2, 3], at(1))).toEqual(new Set([0]));
    expect(await log.register('t', [event('new')], [4], at(2))).toEqual(new Set([0]));
    // Past the first day of the week, only this week's ids are repeats.
    expect(await log.register('t', [event('new'), event('late')], [5, 6], at(30))).toEqual(new Set([0]));
    expect(await registered(s, 't')).toEqual(new Map([['late', 6], ['new', 3]]));
    expect(await log.generations('t')).toEqual([generationOf(at(-1)), generationOf(at(1))]);
    // Only a week wholly before the cutoff goes.
    await log.expire('t', at(-2), 10);
    expect(await log.generations('t')).toEqual([generationOf(at(-1)), generationOf(at(1))]);
    await log.expire('t', at(0), 10);
    expect(await log.generations('t')).toEqual([generationOf(at(1))]);
  });

  it('declares the audit log partitions’ indexes, answers range, prefix and nested-field filters, sorts and drops partitions', async () => {
    const s = await store();
    const log = new AuditLog(s.db, { partitionEvents: 1_000, settleMs: 0, scanBudget: 10_000 });
    const at = new Date('2026-06-01T00:00:00Z');
    const events = Array.from({ length: 1_500 }, (_, i) => ({
      id: `e${i}`,
      occurredAt: new Date(at.getTime() + i * 1000),
      receivedAt: new Date(at.getTime() + i * 1000),
      action: i % 2 === 0 ? 'user.login' : 'key.rotated',
      outcome: 'success' as const,
      actor: { id: `u${i % 10}` },
      resource: { type: 'doc', id: `d${i % 3}` },
    }));
    await log.append('t', events, events.map((_, i) => i + 1));
    await log.append('t', events.slice(0, 10), events.slice(0, 10).map((_, i) => i + 1)); // idempotent
    expect(await log.partitions('t')).toEqual([0, 1]);
    const indexes = await s.db.collection('audit_' + tenantKey('t') + '_0').listIndexes().toArray();
    expect(indexes.map((index) => index.name).sort()).toEqual(['_id_', 'action_seq', 'occurred_at', 'seq']);
    expect(await log.count('t', {})).toBe(1_500);
    expect(await log.count('t', { actionPrefix: 'user.' })).toBe(750);
    expect(await log.count('t', { actorId: 'u3', resourceType: 'doc', resourceId: 'd0' })).toBe(50);
    expect(await log.count('t', { occurredAfter: new Date(at.getTime() + 100_000), occurredBefore: new Date(at.getTime() + 200_000) })).toBe(100);
    const page = await log.page('t', { action: 'key.rotated' }, 990, 5);
    expect(page.events.map((e) => e.seq)).toEqual([992, 994, 996, 998, 1000]);
    expect(page.events[0]).toMatchObject({ id: 'e991', action: 'key.rotated', actor: { id: 'u1' } });
    const expired = await log.expire('t', new Date(at.getTime() + 1_200_000), 10);
    expect(expired).toEqual({ deleted: 1_200, done: true });
    expect(await log.partitions('t')).toEqual([1]);
    expect(await log.count('t', {})).toBe(300);
  });

  it('deletes more events at once than SQLite takes variables in one statement (32,766): retention of a large log', async () => {
    const s = await store();
    const log = new AuditLog(s.db, { partitionEvents: 50_000, settleMs: 0, scanBudget: 10_000 });
    const old = new Date('2025-01-01T00:00:00Z');
    const recent = new Date();
    const expiring = 33_000;
    // Flushes of 3,000 (a divisor of 33,000): the ten recent events are a flush of their own.
    for (let first = 1; first <= expiring + 10; first += 3_000) {
      const events = Array.from({ length: Math.min(3_000, expiring + 10 - first + 1) }, (_, i) => {
        const at = first + i <= expiring ? old : recent;
        return { id: `e${first + i}`, occurredAt: at, receivedAt: at, action: 'a', outcome: 'unknown' as const };
      });
      const seqs = events.map((_, i) => first + i);
      await log.append('t', events, seqs);
      await log.register('t', events, seqs, events[0].receivedAt);
    }
    // One partition keeps its ten recent events: its expired start is deleted, not dropped.
    expect(await log.expire('t', new Date('2026-01-01T00:00:00Z'), 10)).toEqual({ deleted: expiring, done: true });
    expect(await log.count('t', {})).toBe(10);
    expect((await registered(s, 't')).size).toBe(10);
  }, 120_000);

  it('releases the batches overlapping seq intervals per destination, idempotently, deleting each after its last destination', async () => {
    const s = await store();
    const events = new EventStore(s.collections);
    await events.insertBatch(bufferedBatch(1, ['a', 'b'], { lastSeq: 5 }));
    await events.insertBatch(bufferedBatch(6, ['a'], { lastSeq: 8 }));
    await events.insertBatch(bufferedBatch(9, ['a', 'b'], { lastSeq: 12 }));
    await events.insertBatch(bufferedBatch(1, ['a'], { tenantId: 'other', lastSeq: 8 }));
    // An interval starting inside a batch (a delivery resumed there) releases that batch too.
    await events.release('t', 'a', [[3, 8]]);
    await events.release('t', 'a', [[3, 8]]);
    expect(await events.batchExists('t:1')).toBe(true);
    expect(await events.batchExists('t:6')).toBe(false);
    expect(await events.batchExists('other:1')).toBe(true);
    expect((await events.readPending('t', 'a', 10)).map((b) => b._id)).toEqual(['t:9']);
    await events.release('t', 'b', [[1, 5]]);
    expect(await events.batchExists('t:1')).toBe(false);
    await events.release('t', 'b', 'all');
    await events.release('t', 'a', 'all');
    expect(await s.collections.batches.countDocuments({ tenantId: 't' })).toBe(0);
    expect(await events.batchExists('other:1')).toBe(true);
  });

  it('loses no release when several destinations release the same batches at once', async () => {
    const s = await store();
    const events = new EventStore(s.collections);
    const destinations = ['a', 'b', 'c', 'd'];
    for (let firstSeq = 1; firstSeq <= 40; firstSeq++) await events.insertBatch(bufferedBatch(firstSeq, destinations));
    // Each destination releases in its own delivery-sized steps, all at the same time.
    await Promise.all(destinations.map(async (destination) => {
      for (let lo = 1; lo <= 40; lo += 5) await events.release('t', destination, [[lo, lo + 4]]);
    }));
    await events.removeReleasedBatches();
    expect(await s.collections.batches.countDocuments({})).toBe(0);
  });

  it('removes the batches that every destination released and only those', async () => {
    const s = await store();
    const events = new EventStore(s.collections);
    // Two releases that crossed: each saw the other destination still pending and pulled itself.
    await events.insertBatch(bufferedBatch(1, ['a', 'b']));
    await events.insertBatch(bufferedBatch(2, ['a', 'b']));
    await s.collections.batches.updateMany({ _id: { $in: ['t:1', 't:2'] } }, { $pull: { pendingFor: 'a' } });
    await s.collections.batches.updateMany({ _id: { $in: ['t:1', 't:2'] } }, { $pull: { pendingFor: 'b' } });
    await events.insertBatch(bufferedBatch(3, ['a']));
    expect(await events.removeReleasedBatches()).toBe(2);
    expect(await events.batchExists('t:3')).toBe(true);
  });

  it("reads the batches buffered for one destination in seq order, limited, and their events with seqs", async () => {
    const s = await store();
    const events = new EventStore(s.collections);
    // Inserted out of order: the order must come from the query, not from insertion.
    for (const [tenantId, lo, hi, pendingFor] of [['t', 11, 20, ['a']], ['t', 1, 10, ['a', 'b']], ['u', 1, 50, ['a']], ['t', 21, 21, ['b']], ['t', 22, 40, ['a']]] as const) {
      await events.insertBatch(bufferedBatch(lo, [...pendingFor], { tenantId, lastSeq: hi }));
    }
    const ids = async (destination: string, limit: number) => (await events.readPending('t', destination, limit)).map((b) => b._id);
    expect(await ids('a', 10)).toEqual(['t:1', 't:11', 't:22']);
    expect(await ids('a', 2)).toEqual(['t:1', 't:11']);
    expect(await ids('b', 10)).toEqual(['t:1', 't:21']);
    expect((await events.pendingSummary('t', 'b')).map((b) => [b.firstSeq, b.lastSeq, b.count])).toEqual([[1, 10, 10], [21, 21, 1]]);
    const at = new Date();
    const event = (id: string) => ({ id, occurredAt: at, receivedAt: at, action: 'a', outcome: 'unknown' as const });
    await events.insertBatch({ ...bufferedBatch(50, ['c'], { lastSeq: 53 }), count: 3, events: [event('x'), event('y'), event('z')], seqs: [50, 52, 53] });
    const [batch] = await events.readPending('t', 'c', 10);
    expect(await batch.decode()).toEqual({ events: [event('x'), event('y'), event('z')], seqs: [50, 52, 53] });
    expect(await events.countBefore('t:50', 53)).toBe(2);
  });

  it('removes batches older than the retention', async () => {
    const s = await store();
    const events = new EventStore(s.collections);
    await events.insertBatch(bufferedBatch(1, ['x'], { createdAt: new Date(1_000) }));
    await events.insertBatch(bufferedBatch(2, ['x'], { createdAt: new Date(9_000) }));
    expect(await events.removeBatchesBefore(new Date(5_000))).toBe(1);
    expect(await events.batchExists('t:2')).toBe(true);
  });

  it('reads outbox entries older than a time, oldest first', async () => {
    const s = await store();
    const events = new EventStore(s.collections);
    const entry = (id: string, at: number) => ({ _id: id, tenantId: 't', firstSeq: 1, lastSeq: 1, count: 1, destinations: [], createdAt: new Date(at) });
    await events.insertOutbox(entry('late', 3_000));
    await events.insertOutbox(entry('early', 1_000));
    await events.insertOutbox(entry('new', 9_000));
    expect((await events.staleOutbox(new Date(5_000), 10)).map((e) => e._id)).toEqual(['early', 'late']);
  });
});
