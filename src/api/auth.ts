// Every call is authenticated, and the caller decides the tenant that every read and write of
// the call is scoped to, and what the call may do. Two ways in:
// - `Authorization: Bearer <api key>` (services, scripts, curl);
// - the console's session: an HttpOnly cookie plus, on every call, the session's CSRF token
//   in `X-CSRF-Token` (a page of another site can send the cookie, never the token). The
//   session's API key is checked again on each call, so revoking it ends the session.
import { Code, ConnectError, createContextKey, type Interceptor } from '@connectrpc/connect';
import type { ApiKeyStore, Caller, Scope } from '../store/api-keys.js';
import { SessionStore } from '../store/sessions.js';
import type { Admission } from './limits.js';

export const callerKey = createContextKey<Caller | undefined>(undefined, { description: 'the authenticated caller' });

export const sessionCookie = 'auditstream_session';
export const csrfHeader = 'x-csrf-token';

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | null | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at !== -1 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

const storeDown = () => {
  throw new ConnectError('the API key could not be checked: the store is unavailable; retry the call', Code.Unavailable);
};

export async function authenticate(keys: ApiKeyStore, sessions: SessionStore, header: Headers): Promise<Caller> {
  const authorization = header.get('authorization');
  const token = cookieValue(header.get('cookie'), sessionCookie);
  if (authorization || !token) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match) throw new ConnectError('missing API key: send "Authorization: Bearer <api key>"', Code.Unauthenticated);
    const caller = await keys.callerOf(match[1]).catch(storeDown);
    if (!caller) throw new ConnectError('the API key is not valid (unknown or revoked)', Code.Unauthenticated);
    return caller;
  }
  const session = await sessions.find(token).catch(storeDown);
  if (!session) throw new ConnectError('the console session has ended (expired or signed out); sign in again', Code.Unauthenticated);
  if (!SessionStore.csrfMatches(token, header.get(csrfHeader))) {
    throw new ConnectError(`a console call must carry the session's ${csrfHeader} header`, Code.PermissionDenied);
  }
  const caller = await keys.callerOfHash(session.keyHash).catch(storeDown);
  if (!caller) {
    await sessions.close(token);
    throw new ConnectError('the API key this console session was opened with is revoked; sign in again', Code.Unauthenticated);
  }
  return caller;
}

/** The scope each RPC needs: publishing events, managing destinations and retention, reading the audit log. */
export function scopeOf(service: string, method: string): Scope {
  if (service === 'auditstream.v1.EventService') return 'publish';
  if (service === 'auditstream.v1.AuditLogService' && method !== 'UpdateRetention') return 'read';
  return 'manage';
}

/** Authenticates, then admits the call by scope and rate: publishing costs one unit per event. */
export function authInterceptor(keys: ApiKeyStore, sessions: SessionStore, admission: Admission): Interceptor {
  return (next) => async (request) => {
    const caller = await authenticate(keys, sessions, request.header);
    const scope = scopeOf(request.service.typeName, request.method.name);
    const message = request.message as { events?: unknown[] };
    const cost = scope === 'publish' && Array.isArray(message.events) ? Math.max(1, message.events.length) : 1;
    admission.admit(caller.tenantId, caller.scopes, scope, cost);
    request.contextValues.set(callerKey, caller);
    return next(request);
  };
}
