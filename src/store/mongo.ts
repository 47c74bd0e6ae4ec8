// The MongoDB collections and their indexes. Every hot path reads and writes documents by
// exact `_id` or inserts them, in collections kept small by design: on FerretDB 1.24 that is
// what costs what its own document costs (docs/store.md has the measured cost of each operation).
import { MongoBulkWriteError, MongoClient, type Collection, type Db, type OptionalUnlessRequiredId } from 'mongodb';
import type { AuditEvent, AuditFilter, Backlog, DeliveryCounters, DestinationStatus } from '../model.js';
import type { ProviderName } from '../providers/index.js';
import type { ProviderSettings } from '../providers/provider.js';
import type { Sealed } from './crypto.js';
import type { SubscriptionFilter } from '../subscription/filter.js';
import type { MaskRule } from '../subscription/masking.js';
import type { DestinationFormat } from '../subscription/ocsf.js';
import type { LeaseDoc } from '../ingest/lease.js';
import type { WorkerBeatDoc } from './workers.js';
import type { StreamState } from '../completeness/stream.js';

/** A destination's configuration: written by the API only (its delivery state is a document of its own). */
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
  /**
   * The credentials before the last change, while the new ones are unproven: deliveries the
   * destination refuses with the new ones go with these, until `until` or until the leading API
   * process sees the new ones accepted (src/api/destinations.ts, `forgetProvenFallbacks`).
   */
  fallbackCredentials?: { sealed: Sealed; since: Date; until: Date };
  /** Which of the tenant's events it receives (absent or empty: all); the tenant's document holds the copy flushes apply. */
  filters?: SubscriptionFilter[];
  /** What of each event is masked before it is sent (absent or empty: nothing). */
  masking?: MaskRule[];
  /** How events are written (absent: auditstream's own JSON). */
  format?: DestinationFormat;
  createdAt: Date;
  updatedAt: Date;
  /** Set while a delete flushes: the destination is gone for the API from then on. */
  deletingAt?: Date;
}

/** A range of pending events as the mirror keeps it (see PendingRange in workflows/ranges.ts). */
export interface MirroredRange {
  lo: number;
  hi: number;
  count: number;
  at: Date;
  firstChunk: number;
  lastChunk: number;
}

/**
 * A destination's delivery state as its workflow last recorded it, `_id` = the destination's
 * id: written by the workflow (through its activities) only. Enough to start the workflow
 * again should it be lost: its counters and status, what it still owes (`pending`, by the
 * log's chunks), what it settled, and the newest chunk it had been told about.
 */
export interface DeliveryStateDoc {
  _id: string;
  tenantId: string;
  status: DestinationStatus;
  statusReason: string;
  backlog: Backlog;
  counters: DeliveryCounters;
  lastDeliveredAt?: Date;
  lastErrorAt?: Date;
  failingSince?: Date;
  pending: MirroredRange[];
  /** Settled seq intervals, as objects: FerretDB stores no arrays inside arrays. */
  settled: { lo: number; hi: number }[];
  knownChunk?: number;
  /** The destination's sequence and checkpoint state (absent in a mirror written before there were any). */
  stream?: StreamState;
  recordedAt: Date;
}

/** Per tenant: the sequence and chunk counters and the destinations new events are dispatched to. */
export interface TenantDoc {
  _id: string;
  seq: number;
  /** Chunks of the audit log taken so far: the next flush's first chunk is this number. */
  chunks: number;
  /** The destinations new events are dispatched to. */
  destinations: string[];
  /** The filters of those that have some, by destination id: changed under the same lock as numbers are taken. */
  filters?: Record<string, SubscriptionFilter[]>;
}

/** Per tenant: the first chunk of the audit log retention has left (written by retention only). */
export interface LogFloorDoc {
  _id: string;
  chunk: number;
}

/**
 * A flush of the ingest path, from the moment it took its numbers until every destination's
 * workflow was told about it: after a crash it says which flush to finish (src/ingest/sweeper.ts).
 */
export interface OutboxDoc {
  _id: string;
  tenantId: string;
  firstSeq: number;
  lastSeq: number;
  firstChunk: number;
  lastChunk: number;
  count: number;
  /** The destinations enabled when the flush's sequence numbers were allocated, less those it excludes and those whose filters left none of its events. */
  destinations: string[];
  /** The events each filtered destination receives, where fewer than `count`. */
  counts?: Record<string, number>;
  createdAt: Date;
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
 * `_id` (its CSRF token is derived from it), and of the API key it was opened with — checked
 * again on every call, so revoking the key ends its sessions.
 */
export interface SessionDoc {
  _id: string;
  tenantId: string;
  keyHash: string;
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
  /** The signed manifest of the file (src/completeness/manifest.ts), once it is ready. */
  manifest?: string;
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
  /** The destination's filters when the job was created: it replays only what they let through. */
  receives?: SubscriptionFilter[];
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

/** `npm run admin -- rotate-key` asks the leading API process to re-seal every destination's credentials (removed once answered). */
export interface KeyRotationDoc {
  _id: string;
  requestedAt: Date;
  finishedAt?: Date;
  result?: { version: number; reencrypted: number; current: number };
}

export interface Collections {
  destinations: Collection<DestinationDoc>;
  deliveryStates: Collection<DeliveryStateDoc>;
  tenants: Collection<TenantDoc>;
  logFloors: Collection<LogFloorDoc>;
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
  workerBeats: Collection<WorkerBeatDoc>;
  keyRotations: Collection<KeyRotationDoc>;
}

export interface Store {
  client: MongoClient;
  db: Db;
  collections: Collections;
  close(): Promise<void>;
}

const indexes = {
  destinations: [{ key: { tenantId: 1 }, name: 'tenant' }],
} as const;

/**
 * Creates the indexes that listings and deliveries use, skipping those that exist:
 * FerretDB 1.24 on SQLite panics (and drops the connection) when asked to create an index
 * that is already there, so a restart must not ask again.
 */
export async function ensureIndexes(collections: Collections): Promise<void> {
  for (const name of ['destinations'] as const) {
    const collection: Collection<DestinationDoc> = collections[name];
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
    deliveryStates: db.collection('delivery_states'),
    tenants: db.collection('tenants'),
    logFloors: db.collection('log_floors'),
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
    workerBeats: db.collection('worker_beats'),
    keyRotations: db.collection('key_rotations'),
  };
  return { client, db, collections, close: () => client.close() };
}

const duplicateKey = 11000;

/** Inserts `docs`, keeping those whose `_id` is there already as they are; answers their indexes. */
export async function insertNew<T extends { _id: string }>(collection: Collection<T>, docs: T[]): Promise<number[]> {
  if (docs.length === 0) return [];
  try {
    await collection.insertMany(docs as OptionalUnlessRequiredId<T>[], { ordered: false });
    return [];
  } catch (error) {
    if (!(error instanceof MongoBulkWriteError)) throw error;
    const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
    if (writeErrors.length === 0 || writeErrors.some((writeError) => writeError?.code !== duplicateKey)) throw error;
    return writeErrors.map((writeError) => writeError.index);
  }
}
