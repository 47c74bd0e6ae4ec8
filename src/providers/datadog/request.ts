// Logs API v2: a JSON array of items, gzip-compressed, authenticated with DD-API-KEY.
import type { HttpRequest } from '../http.js';
import { gzipped, joinBytes } from '../http-send.js';
import type { DeliveryTarget, EncodedEvent } from '../provider.js';

/** The intake URL: the user's endpoint, with /api/v2/logs added when only a host was given. */
export function intakeUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/api/v2/logs';
  return url.toString();
}

export function buildDatadogRequest(events: EncodedEvent[], target: DeliveryTarget): HttpRequest {
  const body = gzipped(joinBytes(events.map((e) => e.bytes), ',', '[', ']'), {
    'dd-api-key': target.credentials.token!,
    'content-type': 'application/json',
    'user-agent': 'auditstream-datadog/1',
  });
  return { url: intakeUrl(target.endpoint), ...body };
}
