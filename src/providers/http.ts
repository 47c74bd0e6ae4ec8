// Outbound HTTPS for providers that speak plain HTTP: one connection pool per process,
// an optional extra CA bundle, bounded timeouts, no redirects, and network failures turned
// into reasons a user can act on ("connection refused", "TLS: certificate ...").
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent, request } from 'undici';

export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request that got no HTTP answer. The message is safe to show to the user. */
export class NetworkError extends Error {}

export interface HttpClientOptions {
  timeoutMs: number;
  caFile?: string;
}

const maxResponseBytes = 64 * 1024;

export class HttpClient {
  private readonly agent: Agent;
  /** The CAs trusted for outbound TLS when an extra bundle is configured (for SDK-based providers too). */
  readonly ca?: string[];

  constructor(readonly options: HttpClientOptions) {
    const ca = options.caFile ? [...rootCertificates, readFileSync(options.caFile, 'utf8')] : undefined;
    this.ca = ca;
    this.agent = new Agent({
      connect: { ca, timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  async post(req: HttpRequest): Promise<HttpResponse> {
    try {
      const response = await request(req.url, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
        dispatcher: this.agent, // undici's request() never follows redirects
      });
      return { status: response.statusCode, headers: response.headers, body: await readCapped(response.body) };
    } catch (error) {
      throw new NetworkError(describeNetworkError(error, this.options.timeoutMs));
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

async function readCapped(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < maxResponseBytes) chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks).subarray(0, maxResponseBytes).toString('utf8');
}

export function describeNetworkError(error: unknown, timeoutMs: number): string {
  const err = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.code ?? err.cause?.code ?? '';
  const message = err.cause?.message ?? err.message ?? String(error);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found (DNS)';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset by the destination';
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `no answer within ${Math.round(timeoutMs / 1000)}s`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'destination unreachable';
  }
  if (/certificate|SSL|TLS|self.signed|CERT_|ERR_TLS/i.test(`${code} ${message}`)) return `TLS error: ${message}`;
  return `network error: ${message}`;
}
