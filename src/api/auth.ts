// Every call presents `Authorization: Bearer <api key>`; the key decides the tenant that
// every read and write of the call is scoped to, and what the call may do.
import { Code, ConnectError, createContextKey, type Interceptor } from '@connectrpc/connect';
import type { ApiKeyStore, Caller } from '../store/api-keys.js';
import type { Admission } from './limits.js';

export const callerKey = createContextKey<Caller | undefined>(undefined, { description: 'the authenticated caller' });

export async function authenticate(keys: ApiKeyStore, authorization: string | null | undefined): Promise<Caller> {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match) {
    throw new ConnectError('missing API key: send "Authorization: Bearer <api key>"', Code.Unauthenticated);
  }
  const caller = await keys.callerOf(match[1]).catch(() => {
    throw new ConnectError('the API key could not be checked: the store is unavailable; retry the call', Code.Unavailable);
  });
  if (!caller) throw new ConnectError('the API key is not valid (unknown or revoked)', Code.Unauthenticated);
  return caller;
}

/** Authenticates, then admits the call by scope and rate: publishing costs one unit per event. */
export function authInterceptor(keys: ApiKeyStore, admission: Admission): Interceptor {
  return (next) => async (request) => {
    const caller = await authenticate(keys, request.header.get('authorization'));
    if (request.service.typeName === 'auditstream.v1.EventService') {
      const message = request.message as { events?: unknown[] };
      admission.admit(caller.tenantId, caller.scopes, 'publish', Array.isArray(message.events) ? Math.max(1, message.events.length) : 1);
    } else {
      admission.admit(caller.tenantId, caller.scopes, 'manage');
    }
    request.contextValues.set(callerKey, caller);
    return next(request);
  };
}
