// A webhook receiver that verifies auditstream deliveries the way yours should. Either of
// the two signatures on every delivery will do; this receiver accepts a delivery when the
// one it is configured for verifies.
//
// X-Truthlocks-Signature (`verify`):
//  1. read the raw body bytes (verify before parsing: re-serialised JSON does not match);
//  2. parse `X-Truthlocks-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`;
//  3. refuse a timestamp more than 5 minutes from now (replayed or badly delayed);
//  4. compute HMAC-SHA256(secret, "<t>.<raw body>") and compare it in constant time with
//     each v1 (there are two during a secret rotation).
// Standard Webhooks (`verifyStandard`): the official `standardwebhooks` package checks
// `webhook-id`, `webhook-timestamp` and `webhook-signature` (the same three steps); give it
// the secret's bytes (`format: 'raw'`), or a `whsec_…` secret as it is.
// Then, either way: refuse a deliveryId seen before (a replay), and store the events —
// deduplicating by event `id`, since delivery is at least once.
//   WEBHOOK_SECRET=… [WEBHOOK_SCHEME=standard] node --import tsx examples/webhook-receiver.ts [port]
// It listens on plain HTTP for brevity; put it behind TLS (auditstream only posts to https://).
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';

const toleranceSeconds = 300;

/** Why an X-Truthlocks-Signature does not verify, or undefined when it does. `now` in unix seconds. */
export function verify(header: string | undefined, body: Buffer, secret: string, now = Date.now() / 1000): string | undefined {
  const fields = (header ?? '').split(',').map((part) => part.split('=', 2));
  const t = Number(fields.find(([name]) => name === 't')?.[1]);
  if (!Number.isInteger(t)) return 'missing timestamp';
  if (Math.abs(now - t) > toleranceSeconds) return 'stale timestamp';
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  const valid = fields
    .filter(([name]) => name === 'v1')
    .some(([, hex]) => {
      const given = Buffer.from(hex ?? '', 'hex');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  return valid ? undefined : 'bad signature';
}

/** Why the Standard Webhooks signature does not verify (the official package's words), or undefined when it does. */
export function verifyStandard(headers: Record<string, string | string[] | undefined>, body: Buffer, secret: string): string | undefined {
  const webhook = secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(new TextEncoder().encode(secret), { format: 'raw' });
  const flat = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : (value ?? '')]));
  try {
    webhook.verify(body.toString('utf8'), flat, { jsonParse: false });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function serve(secret: string, scheme: 'truthlocks' | 'standard', port: number): void {
  const seenDeliveries = new Map<string, number>(); // deliveryId → when seen (keep ≥ the tolerance)
  http
    .createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const problem =
          scheme === 'standard'
            ? verifyStandard(req.headers, body, secret)
            : verify(req.headers['x-truthlocks-signature'] as string | undefined, body, secret);
        if (problem) {
          res.writeHead(401).end(problem);
          return;
        }
        const delivery = JSON.parse(body.toString('utf8')) as { deliveryId: string; events: { id: string; action: string }[] };
        if (seenDeliveries.has(delivery.deliveryId)) {
          res.writeHead(200).end('already received'); // a retry of a delivery we stored: acknowledge it again
          return;
        }
        seenDeliveries.set(delivery.deliveryId, Date.now());
        for (const event of delivery.events) console.log(`${event.id} ${event.action}`);
        res.writeHead(200).end('ok');
      });
    })
    .listen(port, () => console.log('listening'));
}

// Run as a program; imported (as the tests and the benchmark's receivers do), it only provides the verifiers.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) throw new Error('set WEBHOOK_SECRET to the destination secret');
  serve(secret, process.env.WEBHOOK_SCHEME === 'standard' ? 'standard' : 'truthlocks', Number(process.argv[2] ?? 9000));
}
