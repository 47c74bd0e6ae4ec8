// The shape every destination provider has, after Vector's sinks: an encoder (one event to
// bytes), a request builder (a batch within the provider's limits to one request) and a
// response classifier (the provider's answer to one of the outcomes below). The generic
// delivery in ./deliver.ts batches, splits and isolates on top of it.
import type { AuditEvent, CredentialField, ProviderName, ProviderSettings } from '../model.js';
import type { DeliveryTarget } from '../store/destinations.js';
import type { HttpClient } from './http.js';

/** An event encoded for one provider; `bytes` is what counts against its size limits. */
export interface EncodedEvent {
  event: AuditEvent;
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
}

export interface Provider {
  name: ProviderName;
  /** The credential fields this provider needs, all required. */
  credentialFields: CredentialField[];
  limits: ProviderLimits;
  /**
   * Exact request size: perRequest + Σ(event bytes + perEvent). With separators between
   * events, perEvent is the separator and perRequest has one separator taken off.
   */
  framing: { perRequest: number; perEvent: number };
  /** Checks provider settings at the API boundary: an error message, or undefined when fine. */
  validateSettings(settings: ProviderSettings, endpoint: URL): string | undefined;
  encode(event: AuditEvent, target: DeliveryTarget): EncodedEvent;
  send(events: EncodedEvent[], target: DeliveryTarget, context: SendContext): Promise<SendOutcome>;
}
