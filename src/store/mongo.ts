// The MongoDB collections and their indexes. On MongoDB the hot paths are index lookups;
// FerretDB 1.24 reads a whole collection for any query (see BENCHMARKS.md), which is why the
// delivery buffer is kept small in bytes and read with one query per delivery.
import { MongoClient, type Binary, type Collection, type Db, type Filter } from 'mongodb';
import type { AuditEvent, Backlog, DeliveryCounters, DestinationStatus } from '../model.js';
import type { ProviderName } from '../providers/index.js';
import type { ProviderSettings } from '../providers/provider.js';
import type { PartialBatch } from '../../workflows/state.js';
import type { AuditFilter } from './audit-log.js';
import type { Sealed } from './crypto.js';
import type { LeaseDoc } from '../ingest/lease.js';

/**
 * A destination. Two owners, never crossing: the API writes the configuration (changed
 * fields only); the destination's workflow writes `delivery`, its mirrored state.
 */
export interface DestinationDoc {
  _id: string;
  tenantId: string;
  name: string;
  provider: ProviderName;
  endpoint: string;
  enabled: boolean;
  settings: ProviderSettings;
  credentials: Sealed;
  credentialHints: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
  /** Set while a delete flushes: the destination is gone for the API from then on. */
  deletingAt?: Date;
  /** Absent until the workflow first records its state. */
  delivery?: DeliveryDoc;
}

/** A destination's delivery state as its workflow last recorded it. */
export interface DeliveryDoc {
  status: DestinationStatus;
  statusReason: string;
  backlog: Backlog;
  counters: DeliveryCounters;
  lastDeliveredAt?: Date;
  lastErrorAt?: Date;
  failingSince?: Date;
  partial?: PartialBatch;
  /**
   * Settled seqs whose batches are being released right after this write (a recovery finishes
   * it). Objects, not `[lo, hi]` pairs: FerretDB stores no arrays inside arrays.
   */
  releasing: { lo: number; hi: number }[];
  recordedAt: Date;
}

/** Per tenant: the sequence counter and the destinations new events are dispatched to. */
export interface TenantDoc {
  _id: string;
  seq: number;
  destinations: string[];
}

/** A batch whose announcement to its destinations' workflows is not yet confirmed. */
export interface OutboxDoc {
  _id: string;
  tenantId: string;
  firstSeq: number;
  lastSeq: number;
  count: number;
  /** The destinations enabled when the batch's sequence numbers were allocated. */
  destinations: string[];
  createdAt: Date;
}

/**
 * The delivery buffer: the events of one ingest flush, `_id` = `<tenant>:<firstSeq>`, so
 * a delivery reads its batches as a range of the tenant's sequence. It carries the same
 * fields as its outbox entry, plus the events as one compressed payload.
 */
export interface BatchDoc extends OutboxDoc {
  /**
   * The events, gzip-compressed BSON (`{ events: AuditEvent[] }`). Opaque to the store:
   * FerretDB 1.24 answers every query on this collection by reading every document, and a
   * compressed blob is ~12× fewer bytes than the events as fields and far cheaper to skip
   * (reads of a 100,000-event buffer: 214 → 3 ms, see BENCHMARKS.md).
   */
  payload: Binary;
  /** Destinations that have not settled the batch yet; when none is left the batch is deleted. */
  pendingFor: string[];
}

export interface ApiKeyDoc {
  /** SHA-256 of the key, hex: the key itself is never stored. */
  _id: string;
  tenantId: string;
  name: string;
  /** The key's first characters, to recognise it in listings. */
  prefix: string;
  /** What the key may do; absent on keys issued before scopes existed: everything. */
  scopes?: ('publish' | 'manage' | 'read')[];
  createdAt: Date;
  revokedAt?: Date;
}

/**
 * A console sign-in. Only hashes are stored: of the session token (the HttpOnly cookie) as
 * `_id`, of its CSRF token, and of the API key it was opened with — checked again on every
 * call, so revoking the key ends its sessions.
 */
export interface SessionDoc {
  _id: string;
  tenantId: string;
  keyHash: string;
  csrfHash: string;
  createdAt: Date;
  expiresAt: Date;
}

/** A tenant's audit-log settings: written by the API only. */
export interface TenantSettingsDoc {
  _id: string;
  retentionDays: number;
  legalHold: boolean;
  hipaa?: boolean;
  updatedAt: Date;
}

/** The last retention run for a tenant: written by the retention job only. */
export interface RetentionRunDoc {
  _id: string;
  at: Date;
  cutoff: Date;
  deleted: number;
  held: boolean;
}

export type ExportState = 'pending' | 'running' | 'ready' | 'failed' | 'expired';

/**
 * An export job. The API creates it (pending) and never writes it again; its workflow moves
 * it on. The file is in the collection `export_<id>`, one 1 MiB chunk per document.
 */
export interface ExportDoc {
  _id: string;
  tenantId: string;
  state: ExportState;
  filter: AuditFilter;
  format: 'ndjson' | 'csv';
  gzip: boolean;
  preset?: 'soc2' | 'hipaa' | 'gdpr-access';
  count: number;
  size: number;
  sha256: string;
  chunks: number;
  createdAt: Date;
  finishedAt?: Date;
  expiresAt: Date;
  failure?: string;
}

export type BackfillState = 'running' | 'done' | 'cancelled' | 'failed';

/**
 * A backfill: the audit log's events of seqs `fromSeq`..`lastSeq` matching `filter`, replayed
 * into one destination. The API creates it; the destination's workflow alone moves it on.
 */
export interface BackfillDoc {
  _id: string;
  tenantId: string;
  destinationId: string;
  /** What was asked: a time range, or the gap of the destination's last disabled period or failure. */
  scope: 'time_range' | 'disabled' | 'failed';
  filter: AuditFilter;
  fromSeq: number;
  lastSeq: number;
  /** Events it replays, counted when it was created. */
  total: number;
  delivered: number;
  rejected: number;
  nextSeq: number;
  state: BackfillState;
  reason?: string;
  createdAt: Date;
  finishedAt?: Date;
}

/** A service audit event waiting to be relayed into its tenant's audit log (src/audit/self-audit.ts). */
export interface ServiceEventDoc {
  _id: string;
  tenantId: string;
  event: AuditEvent;
  exclude: string[];
  createdAt: Date;
}

export interface RejectionDoc {
  _id: string;
  tenantId: string;
  destinationId: string;
  eventId: string;
  reason: string;
  at: Date;
}

export interface Collections {
  destinations: Collection<DestinationDoc>;
  tenants: Collection<TenantDoc>;
  batches: Collection<BatchDoc>;
  outbox: Collection<OutboxDoc>;
  apiKeys: Collection<ApiKeyDoc>;
  rejections: Collection<RejectionDoc>;
  sessions: Collection<SessionDoc>;
  tenantSettings: Collection<TenantSettingsDoc>;
  retentionRuns: Collection<RetentionRunDoc>;
  exports: Collection<ExportDoc>;
  serviceEvents: Collection<ServiceEventDoc>;
  backfills: Collection<BackfillDoc>;
  ingestLease: Collection<LeaseDoc>;
}

export interface Store {
  client: MongoClient;
  db: Db;
  collections: Collections;
  close(): Promise<void>;
}

/**
 * Most documents one delete may match. FerretDB on SQLite deletes what a filter matched by
 * naming every `_id` in one statement, and SQLite refuses more than 32,766 variables
 * ("too many SQL variables"): a larger delete fails however often it is retried.
 */
export const deleteChunk = 20_000;

/**
 * Deletes what `filter` matches among documents whose `seq` is unique and in [from, to], one
 * window of `deleteChunk` seqs per statement, so that no statement matches more (a window,
 * not a list of ids: FerretDB tests `$in` against each listed id in turn, so deleting 20,000
 * named ids from a 30,000-document collection takes minutes). Answers how many it deleted.
 */
export async function deleteBySeqWindows<T extends { seq: number }>(
  collection: Collection<T>,
  filter: Filter<T>,
  { from, to }: { from: number; to: number },
): Promise<number> {
  let deleted = 0;
  for (let first = from; first <= to; first += deleteChunk) {
    const window = { ...filter, seq: { $gte: first, $lt: Math.min(first + deleteChunk, to + 1) } } as Filter<T>;
    deleted += (await collection.deleteMany(window)).deletedCount;
  }
  return deleted;
}

const indexes = {
  destinations: [{ key: { tenantId: 1 }, name: 'tenant' }],
  // A delivery reads the batches buffered for its destination, in seq order.
  batches: [{ key: { tenantId: 1, pendingFor: 1, firstSeq: 1 }, name: 'tenant_pending_seq' }],
} as const;

/**
 * Creates the indexes that listings and deliveries use, skipping those that exist:
 * FerretDB 1.24 on SQLite panics (and drops the connection) when asked to create an index
 * that is already there, so a restart must not ask again.
 */
export async function ensureIndexes(collections: Collections): Promise<void> {
  for (const name of ['destinations', 'batches'] as const) {
    const collection: Collection<DestinationDoc> | Collection<BatchDoc> = collections[name];
    const existing = new Set(
      (await collection.listIndexes().toArray().catch(() => [])).map((index) => index.name as string),
    );
    const missing = indexes[name].filter((index) => !existing.has(index.name));
    if (missing.length > 0) await collection.createIndexes(missing.map((index) => ({ name: index.name, key: { ...index.key } })));
  }
}

/**
 * `poolSize`: connections this process may hold (AUDITSTREAM_MONGODB_POOL, default 16).
 * FerretDB hangs for good once as many updates are in flight as its own backend pool holds
 * (100 on SQLite), each update holding one connection to read and waiting for a second to
 * write: an API and a worker at 16 each stay well below it.
 */
export async function connectStore(uri: string, database: string, poolSize = 16): Promise<Store> {
  // No request may wait forever — it would hold its tenant's ingest queue and sequence lock:
  // every stage is bounded (finding the server, connecting, waiting for a pooled connection,
  // which the driver otherwise waits for without limit, and reading the answer on a
  // connection the server dropped without closing). A restarted server is found again
  // within a second, not at the driver's default 10 s monitoring interval; an unreachable
  // one is reported within 3 s, so publishers get UNAVAILABLE quickly and retry.
  const client = new MongoClient(uri, {
    maxPoolSize: poolSize,
    serverSelectionTimeoutMS: 3_000,
    connectTimeoutMS: 3_000,
    waitQueueTimeoutMS: 10_000,
    socketTimeoutMS: 30_000,
    heartbeatFrequencyMS: 1_000,
  });
  await client.connect();
  const db = client.db(database);
  const collections: Collections = {
    destinations: db.collection('destinations'),
    tenants: db.collection('tenants'),
    batches: db.collection('batches'),
    outbox: db.collection('dispatch_outbox'),
    apiKeys: db.collection('api_keys'),
    rejections: db.collection('rejections'),
    sessions: db.collection('console_sessions'),
    tenantSettings: db.collection('tenant_settings'),
    retentionRuns: db.collection('retention_runs'),
    exports: db.collection('exports'),
    serviceEvents: db.collection('service_events'),
    backfills: db.collection('backfills'),
    ingestLease: db.collection('ingest_lease'),
  };
  return { client, db, collections, close: () => client.close() };
}
