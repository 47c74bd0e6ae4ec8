// A webhook receiver that verifies auditstream deliveries the way yours should:
//  1. read the raw body bytes (verify before parsing: re-serialised JSON does not match);
//  2. parse `X-Truthlocks-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`;
//  3. refuse a timestamp more than 5 minutes from now (replayed or badly delayed);
//  4. compute HMAC-SHA256(secret, "<t>.<raw body>") and compare it in constant time with
//     each v1 (there are two during a secret rotation);
//  5. refuse a deliveryId seen before (a replay), then store the events — deduplicating by
//     event `id`, since delivery is at least once.
//   WEBHOOK_SECRET=… node --import tsx examples/webhook-receiver.ts [port]
// It listens on plain HTTP for brevity; put it behind TLS (auditstream only posts to https://).
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const toleranceSeconds = 300;

export function verify(header: string | undefined, body: Buffer, key: string, now = Date.now() / 1000): string | undefined {
  const fields = (header ?? '').split(',').map((part) => part.split('=', 2));
  const t = Number(fields.find(([name]) => name === 't')?.[1]);
  if (!Number.isInteger(t)) return 'missing timestamp';
  if (Math.abs(now - t) > toleranceSeconds) return 'stale timestamp';
  const expected = createHmac('sha256', key).update(`${t}.`).update(body).digest();
  const valid = fields
    .filter(([name]) => name === 'v1')
    .some(([, hex]) => {
      const given = Buffer.from(hex ?? '', 'hex');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  return valid ? undefined : 'bad signature';
}

function serve(secret: string, port: number): void {
  const seenDeliveries = new Map<string, number>(); // deliveryId → when seen (keep ≥ the tolerance)
  http
    .createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const problem = verify(req.headers['x-truthlocks-signature'] as string | undefined, body, secret);
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

// Run as a program; imported (as the unit tests do), it only provides `verify`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) throw new Error('set WEBHOOK_SECRET to the destination secret');
  serve(secret, Number(process.argv[2] ?? 9000));
}
