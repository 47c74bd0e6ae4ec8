import type { DeliveryTarget } from '../../store/destinations.js';
import type { HttpRequest } from '../http.js';
import { gzipped, joinBytes } from '../http-send.js';
import type { EncodedEvent } from '../provider.js';

/** `<endpoint>/_bulk`, whether the user gave the cluster URL or the _bulk URL itself. */
export function bulkUrl(endpoint: string): string {
  const url = new URL(endpoint);
  url.pathname = `${url.pathname.replace(/\/+$/, '').replace(/\/_bulk$/, '')}/_bulk`;
  return url.toString();
}

export function buildBulkRequest(events: EncodedEvent[], target: DeliveryTarget): HttpRequest {
  const body = gzipped(joinBytes(events.map((e) => e.bytes), ''), {
    authorization: `ApiKey ${target.credentials.token}`,
    'content-type': 'application/x-ndjson',
    'user-agent': 'auditstream-elastic/1',
  });
  return { url: bulkUrl(target.endpoint), ...body };
}
