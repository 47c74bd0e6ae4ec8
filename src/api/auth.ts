// Every call presents `Authorization: Bearer <api key>`; the key decides the tenant that
// every read and write of the call is scoped to.
import { Code, ConnectError, createContextKey, type Interceptor } from '@connectrpc/connect';
import type { ApiKeyStore } from '../store/api-keys.js';

export const tenantKey = createContextKey<string | undefined>(undefined, { description: 'tenant of the caller' });

export async function authenticate(keys: ApiKeyStore, authorization: string | null | undefined): Promise<string> {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match) {
    throw new ConnectError('missing API key: send "Authorization: Bearer <api key>"', Code.Unauthenticated);
  }
  const tenantId = await keys.tenantOf(match[1]);
  if (!tenantId) throw new ConnectError('the API key is not valid (unknown or revoked)', Code.Unauthenticated);
  return tenantId;
}

export function authInterceptor(keys: ApiKeyStore): Interceptor {
  return (next) => async (request) => {
    request.contextValues.set(tenantKey, await authenticate(keys, request.header.get('authorization')));
    return next(request);
  };
}
