// A benchmark receiver: verifies each webhook delivery's signature as a customer would,
// keeps only the first arrival time of each event id, and can be taken down (503).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { verify } from '../examples/webhook-receiver.js';
import type { TestPki } from '../test/support/tls.js';

export interface BenchReceiver {
  url: string;
  firstArrival: Map<string, number>;
  requests: number;
  badSignatures: number;
  up: boolean;
  waitFor(count: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startBenchReceiver(pki: TestPki, secret: string): Promise<BenchReceiver> {
  const receiver = { firstArrival: new Map<string, number>(), requests: 0, badSignatures: 0, up: true } as BenchReceiver;
  const server = https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      receiver.requests++;
      if (!receiver.up) return void res.writeHead(503).end();
      const body = Buffer.concat(chunks);
      if (verify(req.headers['x-truthlocks-signature'] as string | undefined, body, secret) !== undefined) {
        receiver.badSignatures++;
        return void res.writeHead(401).end();
      }
      const now = performance.now();
      for (const event of (JSON.parse(body.toString('utf8')) as { events: { id: string }[] }).events) {
        if (!receiver.firstArrival.has(event.id)) receiver.firstArrival.set(event.id, now);
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  receiver.waitFor = async (count, timeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    while (receiver.firstArrival.size < count) {
      if (Date.now() > deadline) throw new Error(`receiver got ${receiver.firstArrival.size} of ${count} events in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  receiver.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return receiver;
}
