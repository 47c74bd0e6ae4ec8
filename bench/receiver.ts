// A benchmark receiver: takes webhook deliveries (verifying each signature as a customer
// would) or Splunk HEC requests (as the OpenTelemetry Collector's HEC exporter sends them:
// gzip'd event envelopes back to back), keeps only the first arrival time of each event id,
// and can be taken down (503).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { verify } from '../examples/webhook-receiver.js';
import type { TestPki } from '../test/support/tls.js';

export interface BenchReceiver {
  url: string;
  firstArrival: Map<string, number>;
  requests: number;
  refused: number;
  up: boolean;
  waitFor(count: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** What a request carried: its events' ids, or undefined when it is refused (a bad signature). */
type Parse = (headers: NodeJS.Dict<string | string[]>, body: Buffer) => string[] | undefined;

const webhookIds =
  (secret: string): Parse =>
  (headers, body) =>
    verify(headers['x-truthlocks-signature'] as string | undefined, body, secret) === undefined
      ? (JSON.parse(body.toString('utf8')) as { events: { id: string }[] }).events.map((event) => event.id)
      : undefined;

/** HEC envelopes are JSON objects written back to back: cut where each object's braces close. */
const hecIds: Parse = (headers, body) => {
  const text = (headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
  const ids: string[] = [];
  let depth = 0;
  let start = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      ids.push((JSON.parse(text.slice(start, i + 1)) as { event: { id: string } }).event.id);
      start = i + 1;
    }
  }
  return ids;
};

export function startBenchReceiver(pki: TestPki, secret: string): Promise<BenchReceiver> {
  return startReceiver(pki, '/hook', webhookIds(secret));
}

/** A Splunk HEC endpoint: what the collector's HEC exporter delivers to. */
export function startHecBenchReceiver(pki: TestPki): Promise<BenchReceiver> {
  return startReceiver(pki, '/services/collector/event', hecIds);
}

async function startReceiver(pki: TestPki, path: string, parse: Parse): Promise<BenchReceiver> {
  const receiver = { firstArrival: new Map<string, number>(), requests: 0, refused: 0, up: true } as BenchReceiver;
  const server = https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      receiver.requests++;
      if (!receiver.up) return void res.writeHead(503).end();
      const ids = parse(req.headers, Buffer.concat(chunks));
      if (!ids) {
        receiver.refused++;
        return void res.writeHead(401).end();
      }
      const now = performance.now();
      for (const id of ids) if (!receiver.firstArrival.has(id)) receiver.firstArrival.set(id, now);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
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
