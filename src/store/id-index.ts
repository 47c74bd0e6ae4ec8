// Where an event id is in the audit log: what `GetEvent` reads, at a cost that stays flat as the
// log grows on FerretDB, where a point read of the id registry passes every id registered
// before it that week (docs/store.md).
//
// An entry is 8 bytes: the first 4 bytes of SHA-256(id) as a key, and the number of the chunk
// holding the event. The key's low 6 bits choose one of 64 bucket collections
// (`idx_<tenant key>_<bucket>`); its low 3 bits, one of 8 tails. A tenant's newest entries are its
// tails (`idx_<tenant key>`, `_id` "tail-0" … "tail-7", beside the "state" document saying where
// the writer stands), rewritten by the one writer (the indexer of the API process that leads the
// store, src/ingest/id-indexer.ts) about once a second; once they hold `sealAt` entries
// together they are sealed: split by bucket into one document in each bucket collection, and
// emptied. Finding an id reads its one bucket collection whole — 1/64 of the tenant's sealed
// entries: ≈125 KB at 1,000,000 events, where the registry passed megabytes — and its tail (1/8
// of the unsealed ones, at most 32 KB), then the chunks its key names (a key shared by another
// id only costs a chunk read). Eight tails, not one or 64: a lookup reads 1/8 of what is not
// sealed, and a second's writing replaces 8 documents (64 small replaces a second cost the
// sustained bench 11 % of its throughput on FerretDB). Retention deletes what is below its floor
// from each bucket.
import { hash } from 'node:crypto';
import { Binary, type Collection, type Db } from 'mongodb';
import { insertNew } from './mongo.js';

/** Bucket collections per tenant: a lookup reads one of them. */
export const buckets = 64;
/** Tails per tenant: a lookup reads one of them. */
const tails = 8;
/** Entries the tails hold together before they are sealed (8 bytes each: 256 KB). */
export const sealAt = 32_768;

/** Where the writer stands (`_id` "state": its entries cover chunks below `through`; those from `sealed` on are in the tails), or a tail. */
interface TailsDoc {
  _id: string;
  sealed?: number;
  through?: number;
  entries?: Binary;
}

/** A bucket's share of the entries of chunks below `to`, sealed together. */
interface BucketDoc {
  _id: string;
  to: number;
  entries: Binary;
}

/** An id's key: the first 4 bytes of its SHA-256. Its low bits choose its bucket. */
export function keyOf(id: string): number {
  return hash('sha256', id, 'buffer').readUInt32LE(0);
}

function bucketOf(key: number): number {
  return key % buckets;
}

/** The tail of a key's entries, also the tail of its bucket's. */
export function tailOf(bucket: number): number {
  return bucket % tails;
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

  /** The entries split by `part` of their key (`parts` of them), each packed. */
  packBy(parts: number, part: (key: number) => number): Binary[] {
    const sizes = new Array<number>(parts).fill(0);
    for (let at = 0; at < this.length * 8; at += 8) sizes[part(this.bytes.readUInt32LE(at))] += 8;
    const packed = sizes.map((size) => Buffer.alloc(size));
    const filled = new Array<number>(parts).fill(0);
    for (let at = 0; at < this.length * 8; at += 8) {
      const which = part(this.bytes.readUInt32LE(at));
      this.bytes.copy(packed[which], filled[which], at, at + 8);
      filled[which] += 8;
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

/** What the index holds of a tenant: the entries of chunks from `sealed` to `through`, not sealed yet (its tails). */
export interface IndexedTail {
  sealed: number;
  through: number;
  entries: Entries;
}

export class IdIndex {
  constructor(private readonly db: Db) {}

  private tails(tenantKey: string): Collection<TailsDoc> {
    return this.db.collection<TailsDoc>(`idx_${tenantKey}`);
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
    const docs = await this.tails(tenantKey).find({}).toArray();
    const state = docs.find((doc) => doc._id === 'state');
    if (!state) return { sealed: floor, through: floor, entries: new Entries() };
    return { sealed: state.sealed!, through: state.through!, entries: Entries.joined(docs.flatMap((doc) => (doc.entries ? [doc.entries] : []))) };
  }

  /** Writes the `changed` tails, then where the writer stands. */
  async writeTail(tenantKey: string, tail: IndexedTail, changed: Set<number>): Promise<void> {
    const packed = tail.entries.packBy(tails, (key) => tailOf(bucketOf(key)));
    const collection = this.tails(tenantKey);
    await Promise.all([...changed].map((which) => collection.replaceOne({ _id: `tail-${which}` }, { entries: packed[which] }, { upsert: true })));
    await collection.replaceOne({ _id: 'state' }, { sealed: tail.sealed, through: tail.through }, { upsert: true });
  }

  /**
   * Seals the tails into the buckets, empties them, and has the writer stand at `through` with
   * nothing unsealed. Safe to repeat: a seal's documents are named by its chunk range, and one
   * written again over an overlapping range only repeats entries (a lookup takes each chunk once).
   */
  async seal(tenantKey: string, tail: IndexedTail): Promise<void> {
    const _id = `${tail.sealed}-${tail.through}`;
    await Promise.all(
      tail.entries.packBy(buckets, bucketOf).map((entries, bucket) => (entries.length() > 0 ? insertNew(this.bucket(tenantKey, bucket), [{ _id, to: tail.through, entries }]) : undefined)),
    );
    const collection = this.tails(tenantKey);
    const empty = new Binary(Buffer.alloc(0));
    await Promise.all(Array.from({ length: tails }, (_, which) => collection.replaceOne({ _id: `tail-${which}` }, { entries: empty }, { upsert: true })));
    await collection.replaceOne({ _id: 'state' }, { sealed: tail.through, through: tail.through }, { upsert: true });
  }

  // ---- readers ----

  /** The chunks that may hold `id`, oldest first. */
  async candidates(tenantKey: string, id: string): Promise<number[]> {
    const key = keyOf(id);
    const bucket = bucketOf(key);
    const [sealed, tail] = await Promise.all([this.bucket(tenantKey, bucket).find({}).toArray(), this.tails(tenantKey).findOne({ _id: `tail-${tailOf(bucket)}` })]);
    const chunks = new Set<number>();
    for (const packed of [...sealed.map((doc) => doc.entries), ...(tail?.entries ? [tail.entries] : [])]) for (const chunk of chunksWithKey(packed, key)) chunks.add(chunk);
    return [...chunks].sort((a, b) => a - b);
  }

  // ---- retention ----

  /** Deletes sealed entries of chunks below `floor`: one delete per bucket, which reads the bucket (as a lookup does). */
  async expire(tenantKey: string, floor: number): Promise<void> {
    for (let bucket = 0; bucket < buckets; bucket++) await this.bucket(tenantKey, bucket).deleteMany({ to: { $lte: floor } });
  }
}
