// X-Truthlocks-Signature: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
// The body carries a unique delivery id, so the signature covers timestamp, id and payload.
// During a secret rotation one v1= is sent per valid secret. How a receiver verifies it is
// examples/webhook-receiver.ts (the README's recipe).
import { createHmac } from 'node:crypto';

export const signatureHeader = 'x-truthlocks-signature';
export const deliveryIdHeader = 'x-truthlocks-delivery-id';

export function computeSignature(secret: string, timestamp: number, body: Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

export function signatureHeaderValue(secrets: string[], timestamp: number, body: Buffer): string {
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${computeSignature(secret, timestamp, body)}`)].join(',');
}
