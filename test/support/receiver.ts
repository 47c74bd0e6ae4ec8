// An HTTPS webhook receiver on loopback that checks deliveries the way a customer's
// receiver would — both signatures, with the verifiers of examples/webhook-receiver.ts (the
// Standard Webhooks one is the official package) — and whose answers can be scripted to fail.
import { checkpointAction } from '../../src/completeness/checkpoint.js';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { verify, verifyStandard } from '../../examples/webhook-receiver.js';
import type { TestPki } from './tls.js';

export interface ReceivedEvent {
  id: string;
  action: string;
  resource?: { type?: string; id?: string; name?: string };
  metadata?: Record<string, any>;
  [field: string]: unknown;
}

export interface ReceivedDelivery {
  signatureHeader: string;
  headers: IncomingHttpHeaders;
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
  /** Requests of which either signature did not verify, and why. */
  badSignatures: string[];
  attempts: number;
  respondWith(responder: Responder): void;
  /** Ids of the tenant's own events accepted, in arrival order (the service's own events about other destinations left out). */
  acceptedEventIds(): string[];
  /** Every id accepted, the service's own events included: what the destination's counters count. */
  allAcceptedEventIds(): string[];
  /** The service's own events accepted (`siem.destination.…` about the tenant's other destinations). */
  serviceEvents(): ReceivedEvent[];
  /** The checkpoint records accepted (left out of the three above). */
  checkpoints(): ReceivedEvent[];
  /** Waits for `count` distinct events of the tenant's own, and returns those accepted so far. */
  waitForEvents(count: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  close(): Promise<void>;
}

/** What is wrong with a request, as a customer's receiver would see it; undefined when nothing is. */
function problemWith(req: IncomingMessage, body: Buffer, secret: string): string | undefined {
  if (req.method !== 'POST' || req.headers['content-type'] !== 'application/json') return `bad request ${req.method} ${req.headers['content-type']}`;
  const truthlocks = verify(req.headers['x-truthlocks-signature'] as string | undefined, body, secret);
  if (truthlocks) return `X-Truthlocks-Signature: ${truthlocks}`;
  const standard = verifyStandard(req.headers, body, secret);
  return standard && `Standard Webhooks: ${standard}`;
}

/** The service's own audit events (src/audit/self-audit.ts): their ids start so (a destination test's event is not one). */
export const isServiceEvent = (event: { id: string }) => event.id.startsWith('auditstream-') && !event.id.startsWith('auditstream-test-');

/** A checkpoint record (src/completeness/checkpoint.ts): part of the stream, not an event the counters count. */
export const isCheckpoint = (event: { action?: string }) => event.action === checkpointAction;

export async function startWebhookReceiver(pki: TestPki, secret: string): Promise<WebhookReceiver> {
  let responder: Responder = () => ({ status: 200 });
  const receiver: Partial<WebhookReceiver> = { accepted: [], badSignatures: [], attempts: 0 };
  const events = () => receiver.accepted!.flatMap((delivery) => delivery.events).filter((event) => !isCheckpoint(event));
  const customerEvents = () => events().filter((event) => !isServiceEvent(event));
  const server = https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const problem = problemWith(req, body, secret);
      if (problem) {
        receiver.badSignatures!.push(problem);
        res.writeHead(401).end('invalid signature');
        return;
      }
      const parsed = JSON.parse(body.toString('utf8')) as { deliveryId: string; events: ReceivedEvent[] };
      const delivery: ReceivedDelivery = {
        signatureHeader: req.headers['x-truthlocks-signature'] as string,
        headers: req.headers,
        body,
        deliveryId: parsed.deliveryId,
        deliveryIdHeader: req.headers['x-truthlocks-delivery-id'] as string | undefined,
        timestamp: Number(req.headers['webhook-timestamp']),
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
      return customerEvents().map((event) => event.id);
    },
    allAcceptedEventIds() {
      return events().map((event) => event.id);
    },
    serviceEvents() {
      return events().filter(isServiceEvent);
    },
    checkpoints() {
      return receiver.accepted!.flatMap((delivery) => delivery.events).filter(isCheckpoint);
    },
    async waitForEvents(count: number, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const events = customerEvents();
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
