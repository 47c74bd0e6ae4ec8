// Two signatures on every delivery, each over the exact body bytes, one per valid secret
// (two during a rotation):
// - X-Truthlocks-Signature: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
// - Standard Webhooks (standardwebhooks.com, what Svix-based receivers verify):
//   `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<t>.<body>")>`,
//   space-separated, where the key is the secret's UTF-8 bytes, or for a `whsec_` secret its
//   base64 payload, as the specification defines.
// The body carries a unique delivery id, so both cover timestamp, id and payload. How a
// receiver verifies either is examples/webhook-receiver.ts (the README's recipes).
import { createHmac } from 'node:crypto';

export const signatureHeader = 'x-truthlocks-signature';
export const deliveryIdHeader = 'x-truthlocks-delivery-id';
export const standardHeaders = { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' } as const;

export function computeSignature(secret: string, timestamp: number, body: Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

export function signatureHeaderValue(secrets: string[], timestamp: number, body: Buffer): string {
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${computeSignature(secret, timestamp, body)}`)].join(',');
}

const standardSecretPrefix = 'whsec_';

/** The Standard Webhooks signing key of a secret. */
export function standardWebhooksKey(secret: string): Buffer {
  return secret.startsWith(standardSecretPrefix) ? Buffer.from(secret.slice(standardSecretPrefix.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** The three Standard Webhooks headers of one delivery. */
export function standardWebhooksHeaders(secrets: string[], id: string, timestamp: number, body: Buffer): Record<string, string> {
  const signatures = secrets.map(
    (secret) => `v1,${createHmac('sha256', standardWebhooksKey(secret)).update(`${id}.${timestamp}.`).update(body).digest('base64')}`,
  );
  return { [standardHeaders.id]: id, [standardHeaders.timestamp]: String(timestamp), [standardHeaders.signature]: signatures.join(' ') };
}
