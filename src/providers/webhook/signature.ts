// X-Truthlocks-Signature: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
// The body carries a unique delivery id, so the signature covers timestamp, id and payload.
// During a secret rotation one v1= is sent per valid secret. Receivers verify with
// `verifySignature`, which is also the recipe in the README.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const signatureHeader = 'x-truthlocks-signature';
export const deliveryIdHeader = 'x-truthlocks-delivery-id';
export const defaultToleranceSeconds = 300;

export function computeSignature(secret: string, timestamp: number, body: Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

export function signatureHeaderValue(secrets: string[], timestamp: number, body: Buffer): string {
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${computeSignature(secret, timestamp, body)}`)].join(',');
}

export type Verification = { ok: true; timestamp: number } | { ok: false; reason: string };

/** Checks a signature header against the exact body bytes received. */
export function verifySignature(
  header: string | undefined,
  body: Buffer,
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
  toleranceSeconds = defaultToleranceSeconds,
): Verification {
  if (!header) return { ok: false, reason: 'missing signature header' };
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.split('=', 2);
    if (key === 't') timestamp = Number(value);
    else if (key === 'v1' && value) candidates.push(value);
  }
  if (timestamp === undefined || !Number.isInteger(timestamp)) return { ok: false, reason: 'missing timestamp' };
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return { ok: false, reason: 'timestamp outside tolerance' };
  const expected = Buffer.from(computeSignature(secret, timestamp, body), 'hex');
  const matches = candidates.some((candidate) => {
    const given = Buffer.from(candidate, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches ? { ok: true, timestamp } : { ok: false, reason: 'signature mismatch' };
}
