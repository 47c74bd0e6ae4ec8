// Delivers a list of events through a provider: packs them into requests within the
// provider's limits, sends them in order, and turns every answer into progress. A request
// that is too large, or holds one bad event, is halved until the culprit stands alone and
// is rejected with the provider's reason: one bad event never blocks the stream.
import { canonicalDigest } from '../completeness/checkpoint.js';
import type { AuditEvent } from '../model.js';
import { deliveryRequestDuration, deliveryRequests } from '../metrics.js';
import { credentialValues, scrubSecrets } from './secrets.js';
import type { DeliveryTarget, EncodedEvent, Provider, SendContext, SendOutcome } from './provider.js';
import { providerFor } from './index.js';

export interface Rejection {
  eventId: string;
  reason: string;
}

export interface DeliveryReport {
  delivered: number;
  rejected: Rejection[];
  /** Events settled (delivered or rejected): the first `confirmed` of those given. Fewer when cancelled. */
  confirmed: number;
  /** Something the destination's answers say the user should know (the last one wins). */
  note?: string;
  /** SHA-256 of each record sent live with a sequence number, by the event's index: what its checkpoint chains. */
  digests: Buffer[];
}

/**
 * Delivery stopped: nothing after the first `confirmed` events is known to be stored.
 * `hold`: the destination stored events it cannot confirm — resending would duplicate them.
 */
export class DeliveryFailure extends Error {
  constructor(
    readonly failureClass: 'retry' | 'config' | 'hold',
    reason: string,
    readonly confirmed: number,
    readonly report: DeliveryReport,
    readonly retryAfterMs?: number,
  ) {
    super(reason);
  }
}

/**
 * Sends one request through a provider, the only way anything is sent: the destination's own
 * credential values are masked in whatever it answers before any of it is kept or shown.
 */
export async function sendTo(provider: Provider, items: EncodedEvent[], target: DeliveryTarget, context: SendContext): Promise<SendOutcome> {
  const secrets = credentialValues(target.credentials);
  const stopTimer = deliveryRequestDuration.startTimer({ provider: provider.name });
  const outcome = await provider.send(items, target, { ...context, secrets });
  stopTimer();
  deliveryRequests.inc({ provider: provider.name, outcome: outcome.kind });
  const scrub = (text: string) => scrubSecrets(text, secrets);
  switch (outcome.kind) {
    case 'ok':
      return outcome.note === undefined ? outcome : { ...outcome, note: scrub(outcome.note) };
    case 'partial':
      return { ...outcome, reason: scrub(outcome.reason), rejected: outcome.rejected.map(({ index, reason }) => ({ index, reason: scrub(reason) })) };
    default:
      return { ...outcome, reason: scrub(outcome.reason) };
  }
}

/** How often one request's "send these again" items are resent before backing off. */
const itemRetryRounds = 3;

export async function deliverEvents(
  provider: Provider,
  target: DeliveryTarget,
  events: AuditEvent[],
  context: SendContext,
  onProgress: (confirmed: number) => void = () => {},
): Promise<DeliveryReport> {
  const report: DeliveryReport = { delivered: 0, rejected: [], confirmed: 0, digests: [] };
  const { limits, framing } = provider;
  let confirmed = 0;

  const reject = (item: EncodedEvent, reason: string): void => {
    report.rejected.push({ eventId: item.event.id, reason });
  };

  const sendIsolating = async (items: EncodedEvent[], round = 0): Promise<void> => {
    const outcome = await sendTo(provider, items, target, context);
    switch (outcome.kind) {
      case 'ok':
        report.delivered += items.length;
        if (outcome.note) report.note = outcome.note;
        return;
      case 'split':
        if (items.length === 1) return reject(items[0], outcome.reason);
        await sendIsolating(items.slice(0, items.length >> 1));
        await sendIsolating(items.slice(items.length >> 1));
        return;
      case 'partial': {
        const rejected = new Set(outcome.rejected.map(({ index }) => index));
        const retry = new Set(outcome.retry);
        outcome.rejected.forEach(({ index, reason }) => reject(items[index], reason));
        report.delivered += items.filter((_, index) => !rejected.has(index) && !retry.has(index)).length;
        if (retry.size === 0) return;
        if (round + 1 >= itemRetryRounds) {
          throw new DeliveryFailure('retry', outcome.reason, confirmed, report);
        }
        return sendIsolating(items.filter((_, index) => retry.has(index)), round + 1);
      }
      case 'unconfirmed':
        throw new DeliveryFailure('hold', outcome.reason, confirmed, report);
      default:
        throw new DeliveryFailure(outcome.kind, outcome.reason, confirmed, report, 'retryAfterMs' in outcome ? outcome.retryAfterMs : undefined);
    }
  };

  let chunk: EncodedEvent[] = [];
  let chunkBytes = framing.perRequest;
  const flush = async (handledThrough: number) => {
    if (chunk.length > 0) await sendIsolating(chunk);
    chunk = [];
    chunkBytes = framing.perRequest;
    confirmed = handledThrough;
    onProgress(confirmed);
  };

  for (let index = 0; index < events.length; index++) {
    // Cancelled (the destination is being deleted): stop between requests, report what went.
    if (context.signal?.aborted) return { ...report, confirmed };
    const item = provider.encode(events[index], target, context.now());
    if (item.event.stream) report.digests[index] = canonicalDigest(item.record);
    const size = item.bytes.length + framing.perEvent;
    if (item.bytes.length > limits.maxBytesPerEvent || framing.perRequest + size > limits.maxBytesPerRequest) {
      reject(item, `event is ${item.bytes.length} bytes, over the ${provider.name} limit of ${limits.maxBytesPerEvent} bytes per event`);
      continue;
    }
    if (chunk.length >= limits.maxEventsPerRequest || chunkBytes + size > limits.maxBytesPerRequest) {
      await flush(index);
    }
    chunk.push(item);
    chunkBytes += size;
  }
  await flush(events.length);
  return { ...report, confirmed };
}

/** How the status of a destination delivering with its previous credentials begins (the API reads it: src/api/destinations.ts). */
export const fallbackNote = 'new credential refused';

/**
 * Delivers with the destination's credentials; when it refuses them before anything got through
 * and the previous ones are still kept (a change not yet proven), delivers with those instead,
 * saying so in the report's note — a wrong or not yet active new credential does not break the
 * stream.
 */
export async function deliverWithFallback(
  target: DeliveryTarget,
  events: AuditEvent[],
  context: SendContext,
  onProgress?: (confirmed: number) => void,
): Promise<DeliveryReport> {
  const provider = providerFor(target.provider);
  try {
    return await deliverEvents(provider, target, events, context, onProgress);
  } catch (error) {
    if (!(error instanceof DeliveryFailure) || error.failureClass !== 'config' || error.confirmed > 0 || !target.fallbackCredentials) throw error;
    const report = await deliverEvents(provider, { ...target, credentials: target.fallbackCredentials }, events, context, onProgress);
    return { ...report, note: `${fallbackNote}: ${error.message}; still delivering with the previous one` };
  }
}
