// The HTTPS plumbing of the fake destinations: loopback TLS with the test CA, bodies
// decompressed as the vendor would (or refused), and scripted failures taking precedence.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { TestPki } from '../tls.js';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /** The body after Content-Encoding was undone. */
  body: Buffer;
}

export interface FakeReply {
  status: number;
  json?: unknown;
  /** A body sent as it is, instead of `json` (for answers that are not JSON). */
  text?: string;
  headers?: Record<string, string>;
}

export interface FakeServer {
  url: string;
  requests: FakeRequest[];
  /** The next `count` requests (to `path` only, when given) get this reply, before any check. */
  failNext(count: number, reply: FakeReply, path?: string): void;
  close(): Promise<void>;
}

export async function startFakeServer(
  pki: TestPki,
  options: { encodings: string[] },
  handle: (request: FakeRequest) => FakeReply,
): Promise<FakeServer> {
  const scripted: { reply: FakeReply; path?: string }[] = [];
  const requests: FakeRequest[] = [];
  const server = https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = (answer: FakeReply) => {
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.text ?? (answer.json === undefined ? '' : JSON.stringify(answer.json)));
      };
      const url = new URL(req.url ?? '/', 'https://fake');
      const encoding = (req.headers['content-encoding'] as string | undefined)?.toLowerCase();
      let body = Buffer.concat(chunks);
      if (encoding && !options.encodings.includes(encoding)) return reply({ status: 415, json: { text: `unsupported content encoding ${encoding}` } });
      try {
        if (encoding === 'gzip') body = gunzipSync(body);
        if (encoding === 'deflate') body = inflateSync(body);
      } catch {
        return reply({ status: 400, json: { text: 'body does not decompress' } });
      }
      const request: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body };
      requests.push(request);
      const at = scripted.findIndex((entry) => entry.path === undefined || entry.path === request.path);
      const failure = at === -1 ? undefined : scripted.splice(at, 1)[0].reply;
      reply(failure ?? handle(request));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    failNext(count, reply, path) {
      for (let i = 0; i < count; i++) scripted.push({ reply, path });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
