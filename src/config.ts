// Every setting of the service, read once from the environment. The README lists them.
import { maxEventsPerPublish } from './model.js';
import type { AuditLogOptions } from './store/audit-log.js';

export interface Config {
  host: string;
  /** HTTP/1.1 listener: REST, Connect (JSON and binary), gRPC-Web, health. */
  httpPort: number;
  /** Cleartext HTTP/2 listener: gRPC (and Connect over h2c). */
  grpcPort: number;
  /** A worker's own metrics listener (the API serves /metrics on its HTTP listener). */
  metricsPort?: number;
  mongodbUri?: string;
  mongodbDatabase: string;
  /** Most MongoDB connections this process holds (see `connectStore` in src/store/mongo.ts). */
  mongodbPoolSize: number;
  temporalAddress?: string;
  temporalNamespace: string;
  taskQueue: string;
  /** Tag workflows with the AuditTenant/AuditProvider/AuditStatus search attributes. */
  searchAttributes: boolean;
  /** AES-256 keys for credentials at rest, "1:<base64>,2:<base64>"; when absent, `encryptionKeyFile` is used. */
  encryptionKeys?: string;
  encryptionKeyFile?: string;
  /** The service's masking key (base64 of 32 bytes): tenants' HMAC keys derive from it. When absent, `maskingKeyFile` is used. */
  maskingKey?: string;
  maskingKeyFile?: string;
  /** Checkpoint signing keys ("1:<base64 seed>,2:<…>", the highest signs). When absent, `signingKeyFile` is used. */
  signingKeys?: string;
  signingKeyFile?: string;
  /** The name checkpoints are signed under (a C2SP key name): who the customer's verifier trusts. */
  signingKeyName?: string;
  /** Lets destinations use http:// endpoints. Tests and local trials only. */
  allowInsecureEndpoints: boolean;
  /** Non-public networks (CIDRs) destinations may reach anyway. Tests and local trials only. */
  allowPrivateNetworks: string[];
  /** Extra PEM CA bundle trusted for outbound HTTPS (added to the system roots). */
  outboundCaFile?: string;
  outboundTimeoutMs: number;
  delivery: DeliveryConfig;
  /** The audit log's layout, paging and cache (src/store/audit-log.ts). */
  auditLog: AuditLogOptions;
  /** How often the retention job runs, and how long an export's file is kept. */
  retentionIntervalMs: number;
  exportTtlMs: number;
  /** How long a console sign-in lasts. */
  consoleSessionTtlMs: number;
  /** Per-tenant limits: publishing in events per second, management in calls per second. */
  limits: Record<'publish' | 'manage' | 'read', { rate: number; burst: number }>;
  /** Where `npm start` keeps the local stack's data (FerretDB, Temporal, the local key). */
  dataDir: string;
  role: 'all' | 'api' | 'worker';
  /** An API process's hold on the store's ingest lease (src/ingest/lease.ts) is abandoned after this long without a beat. */
  ingestLeaseTtlMs: number;
  /** Where the other API processes reach this one's h2c listener when it leads; by default its own listen address. */
  advertiseUrl?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

function advertiseUrl(value: string | undefined): string | undefined {
  if (value !== undefined && !/^https?:\/\/[^/?#\s]+\/?$/.test(value)) {
    throw new ConfigError(`AUDITSTREAM_ADVERTISE_URL must be http(s)://host:port, where other API processes reach this one's gRPC port (got "${value}")`);
  }
  return value?.replace(/\/$/, '');
}

export interface DeliveryConfig {
  /** Buffered events are dropped this long after the first failed delivery attempt. */
  retryWindowMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Most events one delivery activity reads and sends. */
  maxEventsPerActivity: number;
  /** How long a delete waits for buffered events to be flushed. */
  deleteFlushDeadlineMs: number;
  /** Smallest gap between two announcements to one destination's workflow. */
  announceIntervalMs: number;
  /** How often the outbox is swept for announcements a crash or an outage interrupted. */
  sweepIntervalMs: number;
  /** An outbox entry older than this is considered interrupted and announced again. */
  sweepStaleAfterMs: number;
  /** A destination gets a signed checkpoint this long after the last one while events flow… */
  checkpointIntervalMs: number;
  /** …and at least this often when none do. */
  checkpointIdleMs: number;
}

/**
 * How long an accepted event may still be owed to a destination: its retry window, plus an
 * hour's margin for a delivery that started just before the window ended. Retention never
 * takes events this recent from the audit log, which is what destinations read.
 */
export function bufferRetentionMs(delivery: DeliveryConfig): number {
  return delivery.retryWindowMs + 3600_000;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const role = env.AUDITSTREAM_ROLE ?? 'all';
  if (role !== 'all' && role !== 'api' && role !== 'worker') {
    throw new ConfigError(`AUDITSTREAM_ROLE must be all, api or worker (got "${role}")`);
  }
  const logLevel = env.AUDITSTREAM_LOG_LEVEL ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigError(`AUDITSTREAM_LOG_LEVEL must be debug, info, warn or error (got "${logLevel}")`);
  }
  const publishBurst = integer(env, 'AUDITSTREAM_PUBLISH_BURST', 20_000);
  if (publishBurst < maxEventsPerPublish) {
    throw new ConfigError(`AUDITSTREAM_PUBLISH_BURST must be at least ${maxEventsPerPublish}, the most events one PublishEvents call carries (got ${publishBurst})`);
  }
  return {
    host: env.AUDITSTREAM_HOST ?? '127.0.0.1',
    httpPort: integer(env, 'AUDITSTREAM_HTTP_PORT', 8080),
    grpcPort: integer(env, 'AUDITSTREAM_GRPC_PORT', 8081),
    metricsPort: env.AUDITSTREAM_METRICS_PORT ? integer(env, 'AUDITSTREAM_METRICS_PORT', 0) : undefined,
    mongodbUri: env.MONGODB_URI || undefined,
    mongodbDatabase: env.MONGODB_DATABASE ?? 'auditstream',
    mongodbPoolSize: integer(env, 'AUDITSTREAM_MONGODB_POOL', 16),
    temporalAddress: env.TEMPORAL_ADDRESS || undefined,
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.AUDITSTREAM_TASK_QUEUE ?? 'auditstream-delivery',
    searchAttributes: boolean(env, 'AUDITSTREAM_SEARCH_ATTRIBUTES', true),
    encryptionKeys: env.AUDITSTREAM_ENCRYPTION_KEYS || env.AUDITSTREAM_ENCRYPTION_KEY || undefined,
    encryptionKeyFile: env.AUDITSTREAM_ENCRYPTION_KEY_FILE || undefined,
    maskingKey: env.AUDITSTREAM_MASKING_KEY || undefined,
    maskingKeyFile: env.AUDITSTREAM_MASKING_KEY_FILE || undefined,
    signingKeys: env.AUDITSTREAM_SIGNING_KEYS || undefined,
    signingKeyFile: env.AUDITSTREAM_SIGNING_KEY_FILE || undefined,
    signingKeyName: env.AUDITSTREAM_SIGNING_KEY_NAME || undefined,
    allowInsecureEndpoints: boolean(env, 'AUDITSTREAM_ALLOW_INSECURE_ENDPOINTS', false),
    allowPrivateNetworks: (env.AUDITSTREAM_ALLOW_PRIVATE_NETWORKS ?? '').split(',').map((cidr) => cidr.trim()).filter(Boolean),
    outboundCaFile: env.AUDITSTREAM_OUTBOUND_CA_FILE || undefined,
    outboundTimeoutMs: duration(env, 'AUDITSTREAM_OUTBOUND_TIMEOUT', 20_000),
    consoleSessionTtlMs: duration(env, 'AUDITSTREAM_CONSOLE_SESSION_TTL', 8 * 3600_000),
    retentionIntervalMs: duration(env, 'AUDITSTREAM_RETENTION_INTERVAL', 3600_000),
    exportTtlMs: duration(env, 'AUDITSTREAM_EXPORT_TTL', 24 * 3600_000),
    auditLog: {
      chunksPerPartition: Math.max(1, integer(env, 'AUDITSTREAM_AUDIT_PARTITION_CHUNKS', 256)),
      settleMs: duration(env, 'AUDITSTREAM_AUDIT_SETTLE', 10_000),
      scanBudget: 100_000,
      cacheEvents: integer(env, 'AUDITSTREAM_AUDIT_CACHE_EVENTS', 20_000),
    },
    limits: {
      publish: { rate: integer(env, 'AUDITSTREAM_PUBLISH_RATE', 10_000), burst: publishBurst },
      manage: { rate: integer(env, 'AUDITSTREAM_MANAGE_RATE', 10), burst: integer(env, 'AUDITSTREAM_MANAGE_BURST', 50) },
      read: { rate: integer(env, 'AUDITSTREAM_READ_RATE', 20), burst: integer(env, 'AUDITSTREAM_READ_BURST', 100) },
    },
    delivery: {
      retryWindowMs: duration(env, 'AUDITSTREAM_RETRY_WINDOW', 24 * 3600_000),
      initialBackoffMs: duration(env, 'AUDITSTREAM_INITIAL_BACKOFF', 1_000),
      maxBackoffMs: duration(env, 'AUDITSTREAM_MAX_BACKOFF', 300_000),
      maxEventsPerActivity: integer(env, 'AUDITSTREAM_MAX_EVENTS_PER_DELIVERY', 20_000),
      deleteFlushDeadlineMs: duration(env, 'AUDITSTREAM_DELETE_FLUSH_DEADLINE', 30_000),
      announceIntervalMs: duration(env, 'AUDITSTREAM_ANNOUNCE_INTERVAL', 600),
      sweepIntervalMs: duration(env, 'AUDITSTREAM_SWEEP_INTERVAL', 15_000),
      sweepStaleAfterMs: duration(env, 'AUDITSTREAM_SWEEP_STALE_AFTER', 30_000),
      checkpointIntervalMs: duration(env, 'AUDITSTREAM_CHECKPOINT_INTERVAL', 60_000),
      checkpointIdleMs: duration(env, 'AUDITSTREAM_CHECKPOINT_IDLE_INTERVAL', 3600_000),
    },
    dataDir: env.AUDITSTREAM_DATA_DIR ?? '.local',
    role,
    ingestLeaseTtlMs: duration(env, 'AUDITSTREAM_INGEST_LEASE_TTL', 15_000),
    advertiseUrl: advertiseUrl(env.AUDITSTREAM_ADVERTISE_URL),
    logLevel: logLevel as Config['logLevel'],
  };
}

function integer(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`${name} must be a whole number (got "${raw}")`);
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name} must be true or false (got "${raw}")`);
}

const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Durations are written like 500ms, 30s, 5m, 24h; a bare number is milliseconds. */
export function parseDuration(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * units[match[2] ?? 'ms']);
}

function duration(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = parseDuration(raw);
  if (value === undefined) throw new ConfigError(`${name} must be a duration such as 500ms, 30s, 5m or 24h (got "${raw}")`);
  return value;
}
