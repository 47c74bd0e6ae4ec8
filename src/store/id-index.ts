// Where an event id is in the audit log: what `GetEvent` reads, at a cost that stays flat as the
// log grows on FerretDB, where a point read of the id registry passes every id registered
// before it that week (docs/store.md).
//
// An entry is 8 bytes: the first 4 bytes of SHA-256(id) as a key, and the number of the chunk
// holding the event. The key's low 6 bits choose one of 64 bucket collections
// (`idx_<tenant key>_<bucket>`). In each, the bucket's newest entries are one document, its tail
// (`_id` "tail"), rewritten by the one writer (the indexer of the API process that leads the
// store, src/ingest/id-indexer.ts) about once a second; once the tenant's tails hold `sealAt`
// entries together, each is sealed: inserted as a document of its own and emptied. Where the
// writer stands (the chunks its entries cover) is the tenant's state document (`idx_<tenant
// key>`). Finding an id reads its one bucket collection whole — 1/64 of the tenant's entries:
// ≈130 KB at 1,000,000 events, where the registry passed megabytes — then the chunks its key
// names (a key shared by another id only costs a chunk read). Retention deletes what is below
// its floor from each bucket.
import { hash } from 'node:crypto';
import { Binary, type Collection, type Db } from 'mongodb';
import { insertNew } from './mongo.js';

/** Bucket collections per tenant: a lookup reads one of them. */
export const buckets = 64;
/** Entries the tails hold together before they are sealed (8 bytes each: 256 KB, 4 KB a bucket). */
export const sealAt = 32_768;

/** Where the writer stands: its entries cover chunks below `through`; those from `sealed` on are in the tails. */
interface StateDoc {
  _id: 'state';
  sealed: number;
  through: number;
}

/** A bucket's tail (`_id` "tail": no `to`), or its share of the entries of chunks below `to`, sealed together. */
interface BucketDoc {
  _id: string;
  to?: number;
  entries: Binary;
}

/** An id's key: the first 4 bytes of its SHA-256. Its low bits choose its bucket. */
export function keyOf(id: string): number {
  return hash('sha256', id, 'buffer').readUInt32LE(0);
}

function bucketOf(key: number): number {
  return key % buckets;
}

/** Entries as stored: per entry its key and its chunk, 4 bytes each, little-endian. */
export class Entries {
  private bytes: Buffer;
  length = 0;

  constructor(packed?: Binary) {
    this.bytes = packed ? Buffer.from(packed.buffer) : Buffer.alloc(8 * 1024);
    this.length = packed ? Math.floor(this.bytes.length / 8) : 0;
  }

  /** Entries packed in several documents, as one list. */
  static joined(packed: Binary[]): Entries {
    return new Entries(new Binary(Buffer.concat(packed.map((part) => Buffer.from(part.buffer)))));
  }

  /** Adds an entry; answers its bucket. */
  add(id: string, chunk: number): number {
    const key = keyOf(id);
    if ((this.length + 1) * 8 > this.bytes.length) {
      const grown = Buffer.alloc(Math.max(8 * 1024, this.bytes.length * 2));
      this.bytes.copy(grown);
      this.bytes = grown;
    }
    this.bytes.writeUInt32LE(key, this.length * 8);
    this.bytes.writeUInt32LE(chunk, this.length * 8 + 4);
    this.length++;
    return bucketOf(key);
  }

  /** The entries split by bucket, each packed. */
  packBuckets(): Binary[] {
    const sizes = new Array<number>(buckets).fill(0);
    for (let at = 0; at < this.length * 8; at += 8) sizes[bucketOf(this.bytes.readUInt32LE(at))] += 8;
    const packed = sizes.map((size) => Buffer.alloc(size));
    const filled = new Array<number>(buckets).fill(0);
    for (let at = 0; at < this.length * 8; at += 8) {
      const bucket = bucketOf(this.bytes.readUInt32LE(at));
      this.bytes.copy(packed[bucket], filled[bucket], at, at + 8);
      filled[bucket] += 8;
    }
    return packed.map((bytes) => new Binary(bytes));
  }
}

/** The chunks whose entries in `packed` have this key. */
function chunksWithKey(packed: Binary, key: number): number[] {
  const bytes = Buffer.from(packed.buffer);
  const found: number[] = [];
  for (let at = 0; at + 8 <= bytes.length; at += 8) if (bytes.readUInt32LE(at) === key) found.push(bytes.readUInt32LE(at + 4));
  return found;
}

/** What the index holds of a tenant: the entries of chunks from `sealed` to `through` (not sealed yet), by bucket in the store. */
export interface IndexedTail {
  sealed: number;
  through: number;
  entries: Entries;
}

export class IdIndex {
  constructor(private readonly db: Db) {}

  private state(tenantKey: string): Collection<StateDoc> {
    return this.db.collection<StateDoc>(`idx_${tenantKey}`);
  }

  private bucket(tenantKey: string, bucket: number): Collection<BucketDoc> {
    return this.db.collection<BucketDoc>(`idx_${tenantKey}_${bucket}`);
  }

  // ---- the writer (one per tenant: the indexer of the leading API process) ----

  /**
   * The tails as last written, or empty ones starting at `floor` (nothing indexed yet). A tail
   * may hold entries past the state's `through` (the writer stopped between the two): taken
   * again from the log, they repeat, which a lookup does not mind.
   */
  async tail(tenantKey: string, floor: number): Promise<IndexedTail> {
    const state = await this.state(tenantKey).findOne({ _id: 'state' });
    if (!state) return { sealed: floor, through: floor, entries: new Entries() };
    const tails = await Promise.all(Array.from({ length: buckets }, (_, bucket) => this.bucket(tenantKey, bucket).findOne({ _id: 'tail' })));
    return { sealed: state.sealed, through: state.through, entries: Entries.joined(tails.flatMap((tail) => (tail ? [tail.entries] : []))) };
  }

  /** Writes the tails of `changed` buckets, then where the writer stands. */
  async writeTail(tenantKey: string, tail: IndexedTail, changed: Set<number>): Promise<void> {
    const packed = tail.entries.packBuckets();
    await Promise.all([...changed].map((bucket) => this.bucket(tenantKey, bucket).replaceOne({ _id: 'tail' }, { entries: packed[bucket] }, { upsert: true })));
    await this.state(tenantKey).replaceOne({ _id: 'state' }, { sealed: tail.sealed, through: tail.through }, { upsert: true });
  }

  /**
   * Seals the tails: each bucket's entries become a document of their own, its tail is emptied,
   * and the writer stands at `through` with nothing unsealed. Safe to repeat: a seal's documents
   * are named by its chunk range, and one written again over an overlapping range only repeats
   * entries (a lookup takes each chunk once).
   */
  async seal(tenantKey: string, tail: IndexedTail): Promise<void> {
    const _id = `${tail.sealed}-${tail.through}`;
    const empty = new Binary(Buffer.alloc(0));
    await Promise.all(
      tail.entries.packBuckets().map(async (entries, bucket) => {
        if (entries.length() === 0) return;
        const collection = this.bucket(tenantKey, bucket);
        await insertNew(collection, [{ _id, to: tail.through, entries }]);
        await collection.replaceOne({ _id: 'tail' }, { entries: empty }, { upsert: true });
      }),
    );
    await this.state(tenantKey).replaceOne({ _id: 'state' }, { sealed: tail.through, through: tail.through }, { upsert: true });
  }

  // ---- readers ----

  /** The chunks that may hold `id`, oldest first. */
  async candidates(tenantKey: string, id: string): Promise<number[]> {
    const key = keyOf(id);
    const chunks = new Set<number>();
    for (const doc of await this.bucket(tenantKey, bucketOf(key)).find({}).toArray()) for (const chunk of chunksWithKey(doc.entries, key)) chunks.add(chunk);
    return [...chunks].sort((a, b) => a - b);
  }

  // ---- retention ----

  /** Deletes sealed entries of chunks below `floor`: one delete per bucket, which reads the bucket (as a lookup does). */
  async expire(tenantKey: string, floor: number): Promise<void> {
    for (let bucket = 0; bucket < buckets; bucket++) await this.bucket(tenantKey, bucket).deleteMany({ to: { $lte: floor } });
  }
}
