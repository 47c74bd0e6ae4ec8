import type { HttpRequest } from '../http.js';
import { gzipped, joinBytes } from '../http-send.js';
import type { DeliveryTarget, EncodedEvent } from '../provider.js';

/** `<endpoint>/_bulk`, whether the user gave the cluster URL or the _bulk URL itself. */
export function bulkUrl(endpoint: string): string {
  const url = new URL(endpoint);
  url.pathname = `${url.pathname.replace(/\/+$/, '').replace(/\/_bulk$/, '')}/_bulk`;
  return url.toString();
}

/**
 * A _bulk answer has one result per item in request order: about 300 bytes for a created
 * document, 600 for a 409 with its reason, 2 KB for a long mapping error. 8 MiB holds the
 * answer to our largest request (1,000 items) four times over.
 */
export const maxBulkAnswerBytes = 8 * 1024 * 1024;

export function buildBulkRequest(events: EncodedEvent[], target: DeliveryTarget): HttpRequest {
  const body = gzipped(joinBytes(events.map((e) => e.bytes), ''), {
    authorization: `ApiKey ${target.credentials.token}`,
    'content-type': 'application/x-ndjson',
    'user-agent': 'auditstream-elastic/1',
  });
  return { url: bulkUrl(target.endpoint), ...body, maxAnswerBytes: maxBulkAnswerBytes };
}
