// An HTTPS webhook receiver on loopback that checks deliveries the way a customer's
// receiver would: HMAC-SHA256 over "<t>.<raw body>" with the shared secret, a timestamp
// within five minutes, constant-time comparison. Its answers can be scripted to fail.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestPki } from './tls.js';

export interface ReceivedEvent {
  id: string;
  action: string;
  [field: string]: unknown;
}

export interface ReceivedDelivery {
  signatureHeader: string;
  body: Buffer;
  deliveryId: string;
  deliveryIdHeader: string | undefined;
  timestamp: number;
  events: ReceivedEvent[];
}

export interface Reply {
  status: number;
  /** Hold the answer this long, to keep a delivery in flight. */
  delayMs?: number;
  /** Keep the delivery (as a receiver that stored it would), then drop the connection unanswered. */
  dropConnection?: boolean;
  body?: string;
  headers?: Record<string, string>;
}

/** Decides the answer to each verified request; the default accepts everything. */
export type Responder = (request: { attempt: number; delivery: ReceivedDelivery }) => Reply;

export interface WebhookReceiver {
  url: string;
  /** Deliveries answered with 2xx, in arrival order. */
  accepted: ReceivedDelivery[];
  /** Requests whose signature did not verify. */
  badSignatures: string[];
  attempts: number;
  respondWith(responder: Responder): void;
  acceptedEventIds(): string[];
  waitForEvents(count: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  close(): Promise<void>;
}

function verify(header: string | undefined, body: Buffer, secret: string): { ok: boolean; timestamp: number; reason?: string } {
  const parts = (header ?? '').split(',').map((part) => part.split('='));
  const timestamp = Number(parts.find(([key]) => key === 't')?.[1]);
  if (!Number.isInteger(timestamp)) return { ok: false, timestamp, reason: 'no timestamp' };
  if (Math.abs(Date.now() / 1000 - timestamp) > 300) return { ok: false, timestamp, reason: 'stale timestamp' };
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
  const ok = parts
    .filter(([key]) => key === 'v1')
    .some(([, value]) => {
      const given = Buffer.from(value ?? '', 'hex');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  return { ok, timestamp, reason: ok ? undefined : 'signature mismatch' };
}

export async function startWebhookReceiver(pki: TestPki, secret: string): Promise<WebhookReceiver> {
  let responder: Responder = () => ({ status: 200 });
  const receiver: Partial<WebhookReceiver> = { accepted: [], badSignatures: [], attempts: 0 };
  const server = https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const check = verify(req.headers['x-truthlocks-signature'] as string | undefined, body, secret);
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/json' || !check.ok) {
        receiver.badSignatures!.push(check.reason ?? `bad request ${req.method} ${req.headers['content-type']}`);
        res.writeHead(401).end('invalid signature');
        return;
      }
      const parsed = JSON.parse(body.toString('utf8')) as { deliveryId: string; events: ReceivedEvent[] };
      const delivery: ReceivedDelivery = {
        signatureHeader: req.headers['x-truthlocks-signature'] as string,
        body,
        deliveryId: parsed.deliveryId,
        deliveryIdHeader: req.headers['x-truthlocks-delivery-id'] as string | undefined,
        timestamp: check.timestamp,
        events: parsed.events,
      };
      receiver.attempts!++;
      const reply = responder({ attempt: receiver.attempts!, delivery });
      const answer = () => {
        if (res.destroyed) return;
        if (reply.dropConnection) {
          receiver.accepted!.push(delivery);
          req.socket.destroy();
          return;
        }
        if (reply.status >= 200 && reply.status < 300) receiver.accepted!.push(delivery);
        res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
      };
      if (reply.delayMs) setTimeout(answer, reply.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `https://127.0.0.1:${port}/hooks/audit`,
    respondWith(next: Responder) {
      responder = next;
    },
    acceptedEventIds() {
      return receiver.accepted!.flatMap((delivery) => delivery.events.map((event) => event.id));
    },
    async waitForEvents(count: number, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const events = receiver.accepted!.flatMap((delivery) => delivery.events);
        if (new Set(events.map((event) => event.id)).size >= count) return events;
        await sleep(50);
      }
      throw new Error(`receiver got ${new Set(receiver.acceptedEventIds!()).size} distinct events, expected ${count}, within ${timeoutMs}ms`);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  }) as WebhookReceiver;
}
