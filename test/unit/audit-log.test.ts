// The audit log's pure parts and its read policy, against an in-memory stand-in for the
// database that counts the queries it gets: chunks split within their limits, filters, and
// reads that come from the cache, from a read already under way, by point reads, or — many of
// one partition — by one range query.
import { describe, expect, it } from 'vitest';
import { AuditLog, chunkId, chunkLimits, matches, splitIntoChunks, type ChunkDoc } from '../../src/store/audit-log.js';
import type { AuditEvent } from '../../src/model.js';

const at = new Date('2026-06-01T00:00:00Z');
const event = (id: string, over: Partial<AuditEvent> = {}): AuditEvent => ({ id, occurredAt: at, receivedAt: at, action: 'user.login', outcome: 'success', ...over });

/** Collections in memory: documents by `_id`, and a count of the queries asked. */
function memoryDb() {
  const collections = new Map<string, Map<string, ChunkDoc>>();
  const queries = { point: 0, range: 0 };
  const collection = (name: string) => {
    const docs = collections.get(name) ?? new Map<string, ChunkDoc>();
    collections.set(name, docs);
    return {
      collectionName: name,
      insertMany: async (inserted: ChunkDoc[]) => inserted.forEach((doc) => docs.set(doc._id, doc)),
      findOne: async ({ _id }: { _id: string }) => {
        queries.point++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return docs.get(_id) ?? null;
      },
      find: ({ _id }: { _id: { $gte: string; $lte: string } }) => ({
        toArray: async () => {
          queries.range++;
          await new Promise((resolve) => setTimeout(resolve, 5));
          return [...docs.values()].filter((doc) => doc._id >= _id.$gte && doc._id <= _id.$lte);
        },
      }),
    };
  };
  return { db: { collection } as never, queries };
}

async function logWith(chunkCount: number, cacheEvents = 1_000) {
  const { db, queries } = memoryDb();
  const tenants = { findOne: async () => ({ chunks: chunkCount }) };
  const log = new AuditLog(db, { tenants, logFloors: { findOne: async () => null } } as never, { chunksPerPartition: 64, settleMs: 0, scanBudget: 10_000, cacheEvents });
  for (let n = 0; n < chunkCount; n++) await log.write('t', [{ n, firstSeq: n + 1, lastSeq: n + 1, at, destinations: [], events: [event(`e${n}`)], seqs: [n + 1] }]);
  return { log, queries };
}

describe('the audit log', () => {
  it('splits a flush into chunks of at most 1,000 events and 4 MiB, in order', () => {
    const many = Array.from({ length: 2_500 }, (_, i) => event(`e${i}`));
    expect(splitIntoChunks(many).map((chunk) => chunk.length)).toEqual([1_000, 1_000, 500]);
    const big = Array.from({ length: 9 }, (_, i) => event(`big${i}`, { metadata: { text: 'x'.repeat(1024 * 1024) } }));
    const chunks = splitIntoChunks(big);
    expect(chunks.map((chunk) => chunk.length)).toEqual([3, 3, 3]);
    expect(chunks.flat().map((e) => e.id)).toEqual(big.map((e) => e.id));
    expect(chunkLimits).toEqual({ events: 1_000, bytes: 4 * 1024 * 1024 });
  });

  it('numbers chunk ids so that they sort as numbers do', () => {
    const ids = [2, 10, 1, 100, 999_999].map(chunkId);
    expect([...ids].sort()).toEqual([1, 2, 10, 100, 999_999].map(chunkId));
  });

  it('filters by time, action (exact, prefix), actor, resource, outcome and subject', () => {
    const e = event('a', { occurredAt: new Date(at.getTime() + 1_000), action: 'key.rotated', outcome: 'failure', actor: { id: 'u1' }, resource: { type: 'doc', id: 'd1' } });
    expect(matches(e, {})).toBe(true);
    expect(matches(e, { occurredAfter: at, occurredBefore: new Date(at.getTime() + 1_001) })).toBe(true);
    expect(matches(e, { occurredBefore: new Date(at.getTime() + 1_000) })).toBe(false); // exclusive
    expect(matches(e, { action: 'key.rotated', actionPrefix: undefined })).toBe(true);
    expect(matches(e, { actionPrefix: 'key.' })).toBe(true);
    expect(matches(e, { actionPrefix: 'user.' })).toBe(false);
    expect(matches(e, { actorId: 'u1', resourceType: 'doc', resourceId: 'd1', outcome: 'failure' })).toBe(true);
    expect(matches(e, { outcome: 'success' })).toBe(false);
    expect(matches(e, { subjectId: 'd1' })).toBe(true);
    expect(matches(e, { subjectId: 'u1' })).toBe(true);
    expect(matches(e, { subjectId: 'u2' })).toBe(false);
  });

  it('reads a few chunks by point reads, many of one partition by one range query, and again from the cache', async () => {
    const { log, queries } = await logWith(40);
    expect((await log.chunks('t', [3, 4, 5])).map((chunk) => chunk?.events[0].id)).toEqual(['e3', 'e4', 'e5']);
    expect(queries).toEqual({ point: 3, range: 0 });
    const many = await log.chunks('t', Array.from({ length: 20 }, (_, i) => 10 + i));
    expect(many.map((chunk) => chunk?.n)).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i));
    expect(queries).toEqual({ point: 3, range: 1 });
    await log.chunks('t', [3, 4, 5, 10, 29]);
    expect(queries).toEqual({ point: 3, range: 1 });
    expect(await log.chunks('t', [40, 41])).toEqual([undefined, undefined]);
  });

  it('shares a read under way: readers asking for the same chunks at once cause one query', async () => {
    const { log, queries } = await logWith(40, 0);
    const numbers = Array.from({ length: 20 }, (_, i) => i);
    const [first, second, third] = await Promise.all([log.chunks('t', numbers), log.chunks('t', numbers), log.chunk('t', 7)]);
    expect(queries).toEqual({ point: 0, range: 1 });
    expect(second.map((chunk) => chunk?.n)).toEqual(first.map((chunk) => chunk?.n));
    expect(third?.events[0].id).toBe('e7');
    // Without a cache, a later read asks again.
    await log.chunk('t', 7);
    expect(queries).toEqual({ point: 1, range: 1 });
  });
});
