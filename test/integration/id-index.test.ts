// The id index `GetEvent` reads (src/store/id-index.ts) and its writer (src/ingest/id-indexer.ts),
// on the suite's FerretDB: found once written, sealed into buckets when full, caught up from the
// log after a restart, trimmed by retention — and a lookup reads the index, never the registry.
import { randomUUID } from 'node:crypto';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdIndexer } from '../../src/ingest/id-indexer.js';
import { AuditLog, tenantKey, type NewChunk } from '../../src/store/audit-log.js';
import { buckets, sealAt } from '../../src/store/id-index.js';
import { TenantStore } from '../../src/store/tenants.js';
import type { Collections } from '../../src/store/mongo.js';
import { stack } from '../support/clients.js';

let client: MongoClient;
const commands: CommandStartedEvent[] = [];
const databases: string[] = [];

beforeAll(async () => {
  client = await new MongoClient(stack.mongodbUri, { monitorCommands: true }).connect();
  client.on('commandStarted', (event) => commands.push(event));
});

afterAll(async () => {
  for (const name of databases) await client.db(name).dropDatabase();
  await client.close();
});

function store() {
  const name = `idindex_${randomUUID().slice(0, 8)}`;
  databases.push(name);
  const db = client.db(name);
  const collections = { tenants: db.collection('tenants'), logFloors: db.collection('log_floors') } as unknown as Collections;
  const log = new AuditLog(db, collections, { chunksPerPartition: 16, settleMs: 0, scanBudget: 10_000, cacheEvents: 0 });
  return { db, log, tenants: new TenantStore(collections) };
}

const at = new Date();
/** Writes a flush of `count` events with ids `<prefix><i>` in chunks of up to 1,000, as the publisher does; answers its chunks. */
async function flush(s: ReturnType<typeof store>, prefix: string, count: number, tenantId = 't'): Promise<{ first: number; end: number; ids: string[]; chunks: number[] }> {
  const size = Math.ceil(count / 1_000);
  const allocation = await s.tenants.allocate(tenantId, count, size);
  const ids: string[] = [];
  const chunkOf: number[] = [];
  const chunks: NewChunk[] = [];
  for (let c = 0; c < size; c++) {
    const n = allocation.firstChunk + c;
    const events = Array.from({ length: Math.min(1_000, count - c * 1_000) }, (_, i) => ({
      id: `${prefix}${c * 1_000 + i}`,
      occurredAt: at,
      receivedAt: at,
      action: 'doc.read',
      outcome: 'success' as const,
    }));
    const seqs = events.map((_, i) => allocation.firstSeq + c * 1_000 + i);
    chunks.push({ n, firstSeq: seqs[0], lastSeq: seqs[seqs.length - 1], at, destinations: [], events, seqs });
    for (const event of events) {
      ids.push(event.id);
      chunkOf.push(n);
    }
  }
  await s.log.write(tenantId, chunks);
  return { first: allocation.firstChunk, end: allocation.firstChunk + size, ids, chunks: chunkOf };
}

/** The sealed documents in the tenant's buckets. */
async function sealedDocs(s: ReturnType<typeof store>, tenantId = 't'): Promise<number> {
  let total = 0;
  for (let bucket = 0; bucket < buckets; bucket++) total += await s.db.collection(`idx_${tenantKey(tenantId)}_${bucket}`).countDocuments();
  return total;
}

const told = (indexer: IdIndexer, written: Awaited<ReturnType<typeof flush>>, tenantId = 't') => indexer.took(tenantId, written.first, written.end, written.ids, written.chunks);

describe('the id index', () => {
  it('finds an event once its flush is indexed, in the tail and once sealed into the buckets', async () => {
    const s = store();
    const indexer = new IdIndexer(s.log.ids, s.log, () => true);
    told(indexer, await flush(s, 'a-', 10));
    expect(await s.log.get('t', 'a-3')).toBeUndefined(); // not written yet: gathered in memory
    await indexer.writeNow();
    expect(await s.log.get('t', 'a-3')).toMatchObject({ id: 'a-3', seq: 4 });
    expect(await s.log.get('t', 'nope')).toBeUndefined();
    expect(await s.db.collection(`idx_${tenantKey('t')}`).findOne({ _id: 'state' as never })).toMatchObject({ sealed: 0, through: 1 });
    expect(await sealedDocs(s)).toBe(0);

    // Past `sealAt` entries, the tail is sealed into every bucket and starts again.
    const full = await flush(s, 'b-', sealAt);
    told(indexer, full);
    const next = await flush(s, 'c-', 5);
    told(indexer, next);
    await indexer.writeNow();
    expect(await sealedDocs(s)).toBe(buckets);
    expect(await s.db.collection(`idx_${tenantKey('t')}`).findOne({ _id: 'state' as never })).toMatchObject({ sealed: full.end, through: next.end });
    for (const id of ['a-0', 'a-9', 'b-0', 'b-17000', `b-${sealAt - 1}`, 'c-4']) expect((await s.log.get('t', id))?.id).toBe(id);
  });

  it('reads only the tail, one bucket and the chunks its key names: never the registry, whatever the log holds', async () => {
    const s = store();
    const indexer = new IdIndexer(s.log.ids, s.log, () => true);
    const written = await flush(s, 'r-', sealAt + 2_000);
    await s.log.register('t', written.ids.map((id) => ({ id, occurredAt: at, receivedAt: at, action: 'a', outcome: 'success' as const })), at);
    told(indexer, written);
    await indexer.writeNow();
    commands.length = 0;
    expect((await s.log.get('t', 'r-20500'))?.id).toBe('r-20500');
    const read = commands.filter((command) => command.databaseName === s.db.databaseName).map((command) => `${command.commandName} ${command.command[command.commandName]}`);
    expect(read.filter((command) => command.includes('ids_'))).toEqual([]);
    expect(read.filter((command) => command.includes('idx_'))).toHaveLength(2); // one bucket, one tail
    expect(read.filter((command) => command.includes('log_'))).toHaveLength(1); // the one chunk holding it
  });

  it('catches up from the log what an earlier writer did not write: after a restart, and as it takes up the lead', async () => {
    const s = store();
    const before = new IdIndexer(s.log.ids, s.log, () => true);
    told(before, await flush(s, 'x-', 5));
    await before.writeNow();
    told(before, await flush(s, 'y-', 5)); // gathered, never written: the process stopped

    // A new leader is told of a later flush: it reads the chunks between from the log.
    const after = new IdIndexer(s.log.ids, s.log, () => true);
    const later = await flush(s, 'z-', 5);
    told(after, later);
    await after.writeNow();
    for (const id of ['x-1', 'y-1', 'z-1']) expect((await s.log.get('t', id))?.id).toBe(id);

    // A tenant that publishes nothing more is caught up to its head as a leader takes up the lead.
    await flush(s, 'quiet-', 3, 'q');
    const leader = new IdIndexer(s.log.ids, s.log, () => true);
    leader.lead(await s.tenants.chunkHeads());
    await leader.writeNow();
    expect((await s.log.get('q', 'quiet-2'))?.id).toBe('quiet-2');
  });

  it('writes nothing while this process does not hold the ingest lease', async () => {
    const s = store();
    let holds = false;
    const indexer = new IdIndexer(s.log.ids, s.log, () => holds);
    told(indexer, await flush(s, 'l-', 3));
    await indexer.writeNow().catch(() => undefined);
    expect(await s.db.collection(`idx_${tenantKey('t')}`).countDocuments()).toBe(0);
    holds = true;
    told(indexer, await flush(s, 'm-', 3));
    await indexer.writeNow();
    for (const id of ['l-2', 'm-2']) expect((await s.log.get('t', id))?.id).toBe(id);
  });

  it('forgets sealed entries of chunks retention removed', async () => {
    const s = store();
    const indexer = new IdIndexer(s.log.ids, s.log, () => true);
    told(indexer, await flush(s, 'old-', sealAt));
    told(indexer, await flush(s, 'new-', 10));
    await indexer.writeNow();
    expect(await sealedDocs(s)).toBe(buckets);
    await s.log.expire('t', new Date(at.getTime() + 1), 100);
    expect(await sealedDocs(s)).toBe(0);
    expect(await s.log.get('t', 'old-5')).toBeUndefined();
  });
});
