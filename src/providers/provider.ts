// The shape every destination provider has, after Vector's sinks: it declares its whole
// contract — the credentials and settings it takes (API validation, the console and the
// proto's documentation follow from these), how a change of credentials applies — and does
// the work: an encoder (one event to bytes), and `send`, which builds a request within the
// provider's limits and classifies the answer into one of the outcomes below. The generic
// delivery in ./deliver.ts batches, splits and isolates on top of it.
import type { MaskRule } from '../subscription/masking.js';
import type { DestinationFormat } from '../subscription/ocsf.js';
import type { AuditEvent } from '../model.js';
import type { HttpClient } from './http.js';
import type { ProviderName } from './index.js';

/** Credential fields a destination may have (all of a provider's are required). */
export type CredentialField = 'token' | 'accessKeyId' | 'secretAccessKey' | 'secret';
export const credentialFields: readonly CredentialField[] = ['token', 'accessKeyId', 'secretAccessKey', 'secret'];

/**
 * Secret material of a destination: its credential fields, and whatever a provider keeps
 * beside them (the webhook keeps its previous secret during a rotation). Only ever held in
 * memory decrypted, never logged.
 */
export type Credentials = Partial<Record<CredentialField, string>> & Record<string, string | undefined>;

/** Non-secret settings of a destination; each provider takes some of them. */
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
export type SettingName = keyof ProviderSettings;

export interface SettingSpec {
  kind: 'text' | 'flag';
  required?: boolean;
  /** What the setting is for, and its default: for the API's documentation and the console. */
  about: string;
  /** A problem with a given (non-empty) value, in words that say what to fix; undefined when fine. */
  check?: (value: string) => string | undefined;
}

/** What a delivery needs: the destination with its credentials decrypted. */
export interface DeliveryTarget {
  id: string;
  tenantId: string;
  provider: ProviderName;
  endpoint: string;
  settings: ProviderSettings;
  credentials: Credentials;
  /** The credentials before the last change, while the new ones are unproven: what a delivery the destination refuses with the new ones goes with. */
  fallbackCredentials?: Credentials;
  /** What of each event is masked before it is encoded (src/subscription/masking.ts). */
  masking?: MaskRule[];
  /** How events are written (absent: auditstream's own JSON; `ocsf`: src/subscription/ocsf.ts). */
  format?: DestinationFormat;
  /** A draft being tested: used once, so a provider must not keep anything made for it. */
  draft?: true;
}

/** An event encoded for one provider; `bytes` is what counts against its size limits. */
export interface EncodedEvent {
  event: AuditEvent;
  /**
   * The JSON the destination stores as the event, canonical (RFC 8785), and written into `bytes`
   * as it is: what its checkpoint chains is the very text sent, and what a verifier reads back
   * and canonicalises again (src/completeness).
   */
  record: string;
  bytes: Buffer;
}

export type SendOutcome =
  /** Every event of the request is stored; `note` tells the user something worth knowing. */
  | { kind: 'ok'; note?: string }
  /** Some events are refused for good (`rejected`), some should be sent again (`retry`); the rest are stored. */
  | { kind: 'partial'; rejected: { index: number; reason: string }[]; retry: number[]; reason: string }
  /** The request is too large, or holds a bad event somewhere: send it again in halves. */
  | { kind: 'split'; reason: string }
  /** A transient failure: back off and send again. */
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  /** The destination is misconfigured (credentials, endpoint, index): the user must act. */
  | { kind: 'config'; reason: string }
  /** Stored, but the destination cannot confirm it (a configuration problem): resending would duplicate. */
  | { kind: 'unconfirmed'; reason: string };

export interface ProviderLimits {
  maxEventsPerRequest: number;
  /** Request body bytes before compression, including the framing around the events. */
  maxBytesPerRequest: number;
  /** An event larger than this is rejected without being sent. */
  maxBytesPerEvent: number;
}

export interface SendContext {
  http: HttpClient;
  now: () => Date;
  /** Aborted when the delivery is cancelled: requests in flight stop, none is started. */
  signal?: AbortSignal;
  /** The target's credential values: masked wherever a destination's answer repeats them. */
  secrets?: string[];
}

export interface Provider {
  name: ProviderName;
  /** How the product page and the console name it ("Splunk"), and what it is sent over. */
  title: string;
  transport: string;
  /** An endpoint as the user would give it, for forms and documentation. */
  endpointExample: string;
  /** How to set the destination up on the vendor's side, step by step (the product page's words). */
  setup: readonly string[];
  /** The credential fields it needs, all required, each with its label (the product page's words) and what it is. */
  credentials: Partial<Record<CredentialField, { label: string; about: string }>>;
  /** The settings it takes; any other is refused. */
  settings: Partial<Record<SettingName, SettingSpec>>;
  /** Checks across settings and the endpoint, after each one passed its own check. */
  checkSettings?(settings: ProviderSettings, endpoint: URL): string | undefined;
  /** A change of credentials applied to the current ones (default: the given fields replace theirs). */
  mergeCredentials?(current: Credentials, change: Credentials, now: Date): Credentials;
  limits: ProviderLimits;
  /**
   * Exact request size: perRequest + Σ(event bytes + perEvent). With separators between
   * events, perEvent is the separator and perRequest has one separator taken off.
   */
  framing: { perRequest: number; perEvent: number };
  encode(event: AuditEvent, target: DeliveryTarget, now: Date): EncodedEvent;
  send(events: EncodedEvent[], target: DeliveryTarget, context: SendContext): Promise<SendOutcome>;
}

/** The credential fields a provider needs, in the order it declares them. */
export function credentialsOf(provider: Provider): CredentialField[] {
  return Object.keys(provider.credentials) as CredentialField[];
}

/** A change of credentials by default: the fields given replace the stored ones, the others stay. */
export function replaceCredentials(current: Credentials, change: Credentials): Credentials {
  return { ...current, ...change };
}

/** The name a field has in the API's JSON and in error messages: `logGroup` → `log_group`. */
export function apiName(field: string): string {
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}
