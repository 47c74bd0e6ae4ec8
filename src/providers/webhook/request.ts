// One POST per batch: `{"deliveryId":"dlv_…","events":[…]}`, signed over its exact bytes
// (both schemes of ./signature.ts; the delivery id is also the Standard Webhooks `webhook-id`).
import { createHash } from 'node:crypto';
import { signingSecrets } from './rotation.js';
import type { HttpRequest } from '../http.js';
import type { DeliveryTarget, EncodedEvent } from '../provider.js';
import { deliveryIdHeader, signatureHeader, signatureHeaderValue, standardWebhooksHeaders } from './signature.js';

const prefix = (deliveryId: string) => `{"deliveryId":${JSON.stringify(deliveryId)},"events":[`;
const suffix = ']}';

/** The same events to the same destination always get the same id, across retries. */
export function deliveryIdOf(destinationId: string, events: EncodedEvent[]): string {
  const hash = createHash('sha256').update(destinationId);
  for (const { event } of events) hash.update('\n').update(event.id);
  return `dlv_${hash.digest('hex').slice(0, 32)}`;
}

/** Bytes the envelope adds around the events (the delivery id has a fixed length). */
export const envelopeBytes = Buffer.byteLength(prefix(`dlv_${'0'.repeat(32)}`) + suffix);

export function buildWebhookRequest(events: EncodedEvent[], target: DeliveryTarget, now: Date): HttpRequest {
  const deliveryId = deliveryIdOf(target.id, events);
  const parts: Buffer[] = [Buffer.from(prefix(deliveryId))];
  events.forEach(({ bytes }, index) => {
    if (index > 0) parts.push(Buffer.from(','));
    parts.push(bytes);
  });
  parts.push(Buffer.from(suffix));
  const body = Buffer.concat(parts);
  const timestamp = Math.floor(now.getTime() / 1000);
  const secrets = signingSecrets(target.credentials, now);
  return {
    url: target.endpoint,
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'auditstream-webhook/1',
      [signatureHeader]: signatureHeaderValue(secrets, timestamp, body),
      [deliveryIdHeader]: deliveryId,
      ...standardWebhooksHeaders(secrets, deliveryId, timestamp, body),
    },
  };
}
