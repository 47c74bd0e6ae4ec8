// The console (Settings > Audit > SIEM) as the service serves it, same origin as the API:
// the page built from web/console/ by scripts/ensure.mjs into .build/console/, and its sign-in:
//   POST   /console/api/session  {"apiKey": "..."}  a `manage` key → HttpOnly session cookie + CSRF token
//   GET    /console/api/session                     the session's tenant and CSRF token (the same in every tab)
//   DELETE /console/api/session                     signs out: the session is deleted server-side
// The page then calls the API over Connect JSON with the cookie and the CSRF token
// (src/api/auth.ts). Every console answer carries a strict Content-Security-Policy.
import { existsSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import { join } from 'node:path';
import { hashKey, type ApiKeyStore } from '../store/api-keys.js';
import { csrfTokenOf, SessionStore } from '../store/sessions.js';
import { projectRoot } from '../stack/local.js';
import { cookieValue, csrfHeader, sessionCookie } from '../api/auth.js';
import { BodyTooLarge, parseJson, readBody } from '../api/json-body.js';
import { ConnectError } from '@connectrpc/connect';
import { codeToHttpStatus, codeToString } from '@connectrpc/connect/protocol-connect';
import { errorMessage, log } from '../log.js';

export const consoleBuildDir = join(projectRoot, '.build', 'console');

const securityHeaders: Record<string, string> = {
  // No inline script or style, nothing from elsewhere, never framed.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const files: Record<string, string> = {
  '/console/': 'index.html',
  '/console/app.js': 'app.js',
  '/console/app.css': 'app.css',
};
const types: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...securityHeaders, 'cache-control': 'no-store', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
  res.end(bytes);
}

const refuse = (res: http.ServerResponse, status: number, code: string, message: string) => send(res, status, { code, message });

/** Failed sign-ins per client address, in the last minute: guessing keys through the console is slow. */
class SignInThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly perMinute = 10) {}

  blocked(address: string, now = Date.now()): boolean {
    const recent = (this.failures.get(address) ?? []).filter((at) => now - at < 60_000);
    this.failures.set(address, recent);
    return recent.length >= this.perMinute;
  }

  failed(address: string, now = Date.now()): void {
    this.failures.set(address, [...(this.failures.get(address) ?? []), now]);
  }
}

export interface ConsoleOptions {
  keys: ApiKeyStore;
  sessions: SessionStore;
}

export function consoleHandler({ keys, sessions }: ConsoleOptions) {
  const throttle = new SignInThrottle();
  const sweep = setInterval(() => void sessions.removeExpired().catch(() => undefined), 3600_000);
  sweep.unref();

  function cookie(req: http.IncomingMessage, value: string, maxAgeSeconds: number): string {
    // Secure whenever the page was reached over TLS (directly or through a proxy that says so).
    const tls = (req.socket as { encrypted?: boolean }).encrypted || req.headers['x-forwarded-proto'] === 'https';
    return `${sessionCookie}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${tls ? '; Secure' : ''}`;
  }

  /** A state-changing request from a page of another origin is refused outright. */
  function foreignOrigin(req: http.IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin !== undefined && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`;
  }

  async function session(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const token = cookieValue(req.headers.cookie, sessionCookie);
    if (req.method === 'POST') {
      if (foreignOrigin(req) || !/^application\/json/.test(req.headers['content-type'] ?? '')) {
        return refuse(res, 403, 'permission_denied', 'sign in from the console page');
      }
      const address = req.socket.remoteAddress ?? '';
      if (throttle.blocked(address)) return refuse(res, 429, 'resource_exhausted', 'too many failed sign-ins; wait a minute');
      const body = parseJson(await readBody(req, 16 * 1024)) as { apiKey?: unknown };
      const apiKey = typeof body?.apiKey === 'string' ? body.apiKey.trim() : '';
      const caller = apiKey ? await keys.callerOf(apiKey) : null;
      if (!caller) {
        throttle.failed(address);
        return refuse(res, 401, 'unauthenticated', 'this API key is not valid (unknown or revoked)');
      }
      if (!caller.scopes.includes('manage')) {
        return refuse(res, 403, 'permission_denied', `the console needs an API key with the manage scope (this one has: ${caller.scopes.join(', ') || 'none'})`);
      }
      const opened = await sessions.open(caller.tenantId, hashKey(apiKey));
      log.info('console session opened', { tenantId: caller.tenantId });
      return send(res, 200, { tenant: caller.tenantId, csrfToken: opened.csrfToken, expiresAt: opened.doc.expiresAt.toISOString() }, {
        'set-cookie': cookie(req, opened.token, Math.floor(sessions.lifetimeMs / 1000)),
      });
    }
    const live = token ? await sessions.find(token) : null;
    if (!live) return refuse(res, 401, 'unauthenticated', 'not signed in');
    if (req.method === 'GET') {
      return send(res, 200, { tenant: live.tenantId, csrfToken: csrfTokenOf(token!), expiresAt: live.expiresAt.toISOString() });
    }
    if (req.method === 'DELETE') {
      if (foreignOrigin(req) || !SessionStore.csrfMatches(token!, req.headers[csrfHeader] as string | undefined)) {
        return refuse(res, 403, 'permission_denied', `signing out needs the session's ${csrfHeader} header`);
      }
      await sessions.close(token!);
      return send(res, 204, undefined, { 'set-cookie': cookie(req, '', 0) });
    }
    res.setHeader('allow', 'GET, POST, DELETE');
    return refuse(res, 405, 'unimplemented', `${req.method} is not supported here`);
  }

  /** Answers the request when it is the console's; false when it is not. */
  return async (req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<boolean> => {
    if (path !== '/console' && !path.startsWith('/console/')) return false;
    try {
      if (path === '/console') {
        res.writeHead(301, { ...securityHeaders, location: '/console/' }).end();
      } else if (path === '/console/api/session') {
        await session(req, res);
      } else if (files[path] && req.method === 'GET') {
        const file = join(consoleBuildDir, files[path]);
        if (existsSync(file)) {
          res.writeHead(200, { ...securityHeaders, 'content-type': types[file.split('.').pop()!], 'cache-control': 'no-cache' }).end(readFileSync(file));
        } else {
          refuse(res, 503, 'unavailable', 'the console is not built: run `npm start` (scripts/ensure.mjs builds it)');
        }
      } else {
        refuse(res, 404, 'not_found', `no such path ${path}`);
      }
    } catch (error) {
      if (res.headersSent) res.destroy();
      else if (error instanceof BodyTooLarge) refuse(res, 413, 'resource_exhausted', error.message);
      else if (error instanceof ConnectError) refuse(res, codeToHttpStatus(error.code), codeToString(error.code), error.rawMessage);
      else {
        log.warn('console request failed', { path, error: errorMessage(error) });
        refuse(res, 503, 'unavailable', 'the console could not reach its store; try again');
      }
    }
    return true;
  };
}
