// Each store feature the code relies on, proven on the FerretDB 1.24 the tests run against
// (MongoDB 6+ supports them all): if a FerretDB upgrade breaks one, this says which.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog, generationOf, tenantKey, type NewChunk } from '../../src/store/audit-log.js';
import { connectStore, ensureIndexes, type Store } from '../../src/store/mongo.js';
import { Outbox } from '../../src/store/outbox.js';
import { TenantStore } from '../../src/store/tenants.js';
import { stack } from '../support/clients.js';

const stores: Store[] = [];
async function store() {
  const connected = await connectStore(stack.mongodbUri, `compat_${randomUUID().slice(0, 8)}`);
  stores.push(connected);
  return connected;
}

const event = (id: string, at = new Date(), action = 'a') => ({ id, occurredAt: at, receivedAt: at, action, outcome: 'unknown' as const });

function logOf(s: Store, chunksPerPartition = 1_000) {
  return new AuditLog(s.db, s.collections, { chunksPerPartition, settleMs: 0, scanBudget: 10_000, cacheEvents: 0 });
}

/** Chunk `n` holding events of seqs `firstSeq`.. (one each), accepted at `at`. */
function chunk(n: number, firstSeq: number, size: number, at = new Date(), action = 'a'): NewChunk {
  const seqs = Array.from({ length: size }, (_, i) => firstSeq + i);
  return { n, firstSeq, lastSeq: firstSeq + size - 1, at, destinations: ['dst_a'], events: seqs.map((seq) => event(`e${seq}`, at, action)), seqs };
}

/** Writes chunks as a flush would: the tenant's counters first, then the chunks. */
async function writeChunks(s: Store, log: AuditLog, chunks: NewChunk[], tenantId = 't') {
  const tenants = new TenantStore(s.collections);
  for (const c of chunks) {
    await tenants.allocate(tenantId, c.lastSeq - c.firstSeq + 1, 1);
    await log.write(tenantId, [c]);
  }
}

/** The ids in each of the tenant's registry generations, by generation. */
async function registered(s: Store, tenantId: string): Promise<Map<number, string[]>> {
  const prefix = `ids_${tenantKey(tenantId)}_`;
  const names = (await s.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((name) => name.startsWith(prefix));
  const ids = new Map<number, string[]>();
  for (const name of names) {
    const docs = await s.db.collection<{ _id: string }>(name).find({}).toArray();
    ids.set(Number(name.slice(prefix.length)), docs.map((doc) => doc._id).sort());
  }
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
  });

  it('allocates consecutive sequence and chunk numbers with $inc + upsert, serialised per tenant', async () => {
    const s = await store();
    const tenants = new TenantStore(s.collections);
    const allocations = await Promise.all(Array.from({ length: 20 }, () => tenants.allocate('t', 5, 2)));
    const ranges = allocations.map((a) => [a.firstSeq, a.lastSeq, a.firstChunk]).sort((a, b) => a[0] - b[0]);
    expect(ranges[0]).toEqual([1, 5, 0]);
    expect(ranges[19]).toEqual([96, 100, 38]);
    ranges.forEach(([lo, , chunkNumber], i) => expect([lo, chunkNumber]).toEqual([i * 5 + 1, i * 2]));
  });

  it('keeps the dispatch list with $addToSet and $pull', async () => {
    const s = await store();
    const tenants = new TenantStore(s.collections);
    await tenants.setDispatched('t', 'dst_a', true);
    await tenants.setDispatched('t', 'dst_a', true);
    await tenants.setDispatched('t', 'dst_b', true);
    await tenants.setDispatched('t', 'dst_a', false);
    expect((await tenants.allocate('t', 1, 1)).destinations).toEqual(['dst_b']);
  });

  it('reports each duplicate _id of an unordered insertMany and stores the rest (the registry of event ids)', async () => {
    const s = await store();
    const log = logOf(s);
    const now = new Date();
    expect(await log.register('t', [event('a'), event('b')], now)).toEqual(new Set());
    expect(await log.register('t', [event('c'), event('a'), event('d'), event('b')], now)).toEqual(new Set([1, 3]));
    expect(await registered(s, 't')).toEqual(new Map([[generationOf(now), ['a', 'b', 'c', 'd']]]));
  });

  it('recognises a repeat across the registry’s week boundary within a day, and forgets whole weeks past the retention', async () => {
    const s = await store();
    const log = logOf(s);
    const boundary = new Date((generationOf(new Date('2026-06-10T00:00:00Z')) + 1) * 7 * 86_400_000);
    const at = (hours: number) => new Date(boundary.getTime() + hours * 3_600_000);
    expect(await log.register('t', [event('late')], at(-1))).toEqual(new Set());
    // An hour into the next week: the previous one is asked first; a new id is registered in both.
    expect(await log.register('t', [event('late'), event('new')], at(1))).toEqual(new Set([0]));
    expect(await registered(s, 't')).toEqual(new Map([[generationOf(at(-1)), ['late', 'new']], [generationOf(at(1)), ['new']]]));
    expect(await log.register('t', [event('new')], at(2))).toEqual(new Set([0]));
    // Past the first day of the week, only this week's ids are repeats.
    expect(await log.register('t', [event('new'), event('late')], at(30))).toEqual(new Set([0]));
    expect(await registered(s, 't')).toEqual(new Map([[generationOf(at(-1)), ['late', 'new']], [generationOf(at(1)), ['late', 'new']]]));
    // The generations are found by a listCollections filtered by a name pattern ($regex).
    const generations = async () => (await s.db.listCollections({ name: { $regex: `^ids_${tenantKey('t')}_` } }, { nameOnly: true }).toArray()).map((c) => c.name).sort();
    expect(await generations()).toEqual([`ids_${tenantKey('t')}_${generationOf(at(-1))}`, `ids_${tenantKey('t')}_${generationOf(at(1))}`]);
    // Only a week wholly before the cutoff goes.
    await log.expire('t', at(-2), 10);
    expect(await generations()).toHaveLength(2);
    await log.expire('t', at(0), 10);
    expect(await generations()).toEqual([`ids_${tenantKey('t')}_${generationOf(at(1))}`]);
  });

  it('reads chunks back by number across partitions, a missing one as none, and finds the chunk of a seq past holes', async () => {
    const s = await store();
    const log = logOf(s, 3);
    const at = new Date();
    // Chunk 4 was never written (its flush died): a hole.
    await writeChunks(s, log, [chunk(0, 1, 5), chunk(1, 6, 5), chunk(2, 11, 1), chunk(3, 12, 4)]);
    await new TenantStore(s.collections).allocate('t', 3, 1);
    await writeChunks(s, log, [chunk(5, 19, 2, at, 'user.login'), chunk(6, 21, 3)]);
    expect((await s.db.listCollections({ name: { $regex: `^log_${tenantKey('t')}_` } }).toArray()).map((c) => c.name).sort()).toEqual(
      [0, 1, 2].map((p) => `log_${tenantKey('t')}_${p}`),
    );
    const [three, four, five] = await log.chunks('t', [3, 4, 5]);
    expect(three).toMatchObject({ n: 3, firstSeq: 12, lastSeq: 15, destinations: ['dst_a'] });
    expect(three!.events.map((e) => [e.id, e.seq])).toEqual([['e12', 12], ['e13', 13], ['e14', 14], ['e15', 15]]);
    expect(three!.events[0].occurredAt).toBeInstanceOf(Date);
    expect(four).toBeUndefined();
    expect(five!.events.map((e) => e.action)).toEqual(['user.login', 'user.login']);
    expect(await log.chunkAt('t', 1)).toBe(0);
    expect(await log.chunkAt('t', 11)).toBe(2);
    expect(await log.chunkAt('t', 16)).toBe(5); // seqs 16..18 were chunk 4's: the next chunk there is holds what follows
    expect(await log.chunkAt('t', 23)).toBe(6);
    expect(await log.chunkAt('t', 24)).toBe(7);
    expect(await log.count('t', {})).toBe(20);
    expect(await log.count('t', { actionPrefix: 'user.' })).toBe(2);
    expect((await log.read('t', {}, { from: 14, to: 20 }, 100)).map((e) => e.seq)).toEqual([14, 15, 19, 20]);
  });

  it('rewrites a chunk without the events given, and deletes one left empty (a flush taking repeats out)', async () => {
    const s = await store();
    const log = logOf(s);
    const first = chunk(0, 1, 4);
    const second = chunk(1, 5, 2);
    await writeChunks(s, log, [first, second]);
    await log.rewrite('t', first, [0, 2]);
    await log.rewrite('t', second, []);
    const [kept, gone] = await log.chunks('t', [0, 1]);
    expect(kept!.events.map((e) => e.seq)).toEqual([1, 3]);
    expect(gone).toBeUndefined();
  });

  it('expires from the start: drops whole partitions no flush writes into, deletes single chunks, records the floor, keeps the newest partition', async () => {
    const s = await store();
    const log = logOf(s, 4);
    const old = new Date('2025-01-01T00:00:00Z');
    const recent = new Date();
    // Ten chunks of 100: 0..5 old (partitions 0 and half of 1), 6..9 recent.
    await writeChunks(s, log, Array.from({ length: 10 }, (_, n) => chunk(n, n * 100 + 1, 100, n < 6 ? old : recent)));
    expect(await log.expire('t', new Date('2026-01-01T00:00:00Z'), 10)).toEqual({ deleted: 600, done: true });
    expect(await log.bounds('t')).toEqual({ floor: 6, head: 10 });
    expect((await s.db.listCollections({ name: { $regex: `^log_${tenantKey('t')}_` } }).toArray()).map((c) => c.name).sort()).toEqual(
      [1, 2].map((p) => `log_${tenantKey('t')}_${p}`),
    );
    expect(await log.count('t', {})).toBe(400);
    // All of it expired, the newest partition too: its chunks go one by one, the collection stays (a flush may be writing into it).
    expect(await log.expire('t', new Date(recent.getTime() + 1), 10)).toEqual({ deleted: 400, done: true });
    expect(await log.bounds('t')).toEqual({ floor: 10, head: 10 });
    expect(await log.count('t', {})).toBe(0);
  });

  it('mirrors a destination’s delivery state with replaceOne + upsert', async () => {
    const s = await store();
    const doc = { _id: 'dst_a', tenantId: 't', status: 'active' as const, statusReason: '', backlog: { events: 0 }, counters: { delivered: 1, dropped: 0, rejected: 0 }, pending: [], settled: [{ lo: 1, hi: 1 }], recordedAt: new Date() };
    await s.collections.deliveryStates.replaceOne({ _id: 'dst_a' }, doc, { upsert: true });
    await s.collections.deliveryStates.replaceOne({ _id: 'dst_a' }, { ...doc, counters: { delivered: 2, dropped: 0, rejected: 0 } }, { upsert: true });
    expect(await s.collections.deliveryStates.findOne({ _id: 'dst_a' })).toMatchObject({ counters: { delivered: 2 }, settled: [{ lo: 1, hi: 1 }] });
  });

  it('reads outbox entries older than a time, oldest first, and removes them by id', async () => {
    const s = await store();
    const outbox = new Outbox(s.collections);
    const entry = (id: string, at: number) => ({ _id: id, tenantId: 't', firstSeq: 1, lastSeq: 1, firstChunk: 0, lastChunk: 0, count: 1, destinations: [], createdAt: new Date(at) });
    await outbox.insert(entry('late', 3_000));
    await outbox.insert(entry('early', 1_000));
    await outbox.insert(entry('new', 9_000));
    expect((await outbox.olderThan(new Date(5_000), 10)).map((e) => e._id)).toEqual(['early', 'late']);
    await outbox.remove(['early', 'new']);
    expect((await outbox.olderThan(new Date(10_000), 10)).map((e) => e._id)).toEqual(['late']);
  });
});
