// The domain's shapes, shared by the API, the store, the providers and the activities.
// Values of these types have been validated at the API boundary.

export const providerNames = ['splunk', 'datadog', 'cloudwatch', 'elastic', 'webhook'] as const;
export type ProviderName = (typeof providerNames)[number];

export const destinationStatuses = ['active', 'degraded', 'failed'] as const;
export type DestinationStatus = (typeof destinationStatuses)[number];

export const eventOutcomes = ['success', 'failure', 'unknown'] as const;
export type EventOutcome = (typeof eventOutcomes)[number];

/** An audit event as stored and as sent to destinations (JSON-friendly apart from dates). */
export interface AuditEvent {
  id: string;
  occurredAt: Date;
  receivedAt: Date;
  action: string;
  outcome: EventOutcome;
  actor?: { type?: string; id?: string; name?: string; ip?: string; userAgent?: string };
  resource?: { type?: string; id?: string; name?: string };
  requestId?: string;
  metadata?: Record<string, unknown>;
}

/** Secret material of a destination. Only ever held in memory decrypted, never logged. */
export interface Credentials {
  token?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  secret?: string;
  /** The webhook secret before the last change, still signed with during the rotation period. */
  previousSecret?: string;
  /** When `secret` last changed (ISO time). */
  secretRotatedAt?: string;
}
/** The credential fields a user can set. */
export type CredentialField = 'token' | 'accessKeyId' | 'secretAccessKey' | 'secret';

export interface ProviderSettings {
  region?: string;
  logGroup?: string;
  logStream?: string;
  index?: string;
  source?: string;
  sourcetype?: string;
  service?: string;
  tags?: string;
  indexerAck?: boolean;
}

export interface DeliveryCounters {
  delivered: number;
  dropped: number;
  rejected: number;
}

export interface Backlog {
  events: number;
  oldestEventAt?: Date;
  windowEndsAt?: Date;
}
