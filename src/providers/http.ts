// Outbound HTTPS for providers that speak plain HTTP: one connection pool per process,
// an optional extra CA bundle, bounded timeouts, no redirects, and network failures turned
// into reasons a user can act on ("connection refused", "TLS: certificate ...").
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent, buildConnector, request } from 'undici';
import type { Socket } from 'node:net';
import { EgressBlockedError, EgressPolicy } from './egress.js';

export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Most answer bytes read (default 64 KiB): fitted by each provider to what it can legitimately answer. */
  maxAnswerBytes?: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The answer was longer than `maxAnswerBytes`: `body` is its start. */
  truncated: boolean;
}

/** A request that got no HTTP answer. The message is safe to show to the user. */
export class NetworkError extends Error {
  /** True when the endpoint itself is refused (egress policy): retrying cannot help. */
  constructor(message: string, readonly refused = false) {
    super(message);
  }
}

export interface HttpClientOptions {
  timeoutMs: number;
  caFile?: string;
  egress: EgressPolicy;
}

const defaultMaxAnswerBytes = 64 * 1024;

export class HttpClient {
  private readonly agent: Agent;
  /**
   * The TLS context trusting the extra CA bundle, when one is configured, for SDK-based
   * providers' agents: made once, as parsing every root certificate again for each client
   * costs about a megabyte of native memory the garbage collector does not see.
   */
  readonly secureContext?: SecureContext;

  constructor(readonly options: HttpClientOptions) {
    const ca = options.caFile ? [...rootCertificates, readFileSync(options.caFile, 'utf8')] : undefined;
    this.secureContext = ca ? createSecureContext({ ca }) : undefined;
    const connect = buildConnector({ ca, timeout: options.timeoutMs, lookup: options.egress.lookup } as buildConnector.BuildOptions);
    this.agent = new Agent({
      // Every connection is checked against the egress policy on the address it reached.
      connect: (connectOptions, callback) => {
        // An IP literal never goes through DNS: check it before any packet is sent.
        const literal = options.egress.refuseLiteral(connectOptions.hostname);
        if (literal) return callback(literal, null);
        connect(connectOptions, (error, socket) => {
          if (error || !socket) return callback(error ?? new Error('no socket'), null);
          const blocked = options.egress.verifySocket(socket as Socket, connectOptions.hostname);
          if (blocked) return callback(blocked, null);
          callback(null, socket);
        });
      },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  async post(req: HttpRequest, signal?: AbortSignal): Promise<HttpResponse> {
    try {
      const response = await request(req.url, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
        dispatcher: this.agent, // undici's request() never follows redirects
        signal,
      });
      const { body, truncated } = await readCapped(response.body, req.maxAnswerBytes ?? defaultMaxAnswerBytes);
      return { status: response.statusCode, headers: response.headers, body, truncated };
    } catch (error) {
      throw new NetworkError(describeNetworkError(error, this.options.timeoutMs), error instanceof EgressBlockedError);
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<{ body: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < max) chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks).subarray(0, max).toString('utf8'), truncated: size > max };
}

export function describeNetworkError(error: unknown, timeoutMs: number): string {
  const err = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.code ?? err.cause?.code ?? '';
  const message = err.cause?.message ?? err.message ?? String(error);
  switch (code) {
    case 'EGRESS_BLOCKED':
      return message;
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
