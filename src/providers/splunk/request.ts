// HEC requests: envelopes back to back (no array, no separators), gzip-compressed, with
// `Authorization: Splunk <token>`; the indexer-acknowledgement channel when enabled.
import { createHash } from 'node:crypto';
import type { HttpRequest } from '../http.js';
import { gzipped, joinBytes } from '../http-send.js';
import type { DeliveryTarget, EncodedEvent } from '../provider.js';

/** The HEC base URL, whether the user gave the base or a full /services/collector URL. */
export function hecBase(endpoint: string): string {
  const url = new URL(endpoint);
  url.pathname = url.pathname.replace(/\/+$/, '').replace(/\/services\/collector(\/event)?(\/1\.0)?$/, '');
  url.search = '';
  return url.toString().replace(/\/+$/, '');
}

/** A stable channel per destination, shaped as the UUID HEC requires. */
export function channelOf(destinationId: string): string {
  const hex = createHash('sha256').update(destinationId).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function headers(target: DeliveryTarget): Record<string, string> {
  const result: Record<string, string> = {
    authorization: `Splunk ${target.credentials.token}`,
    'content-type': 'application/json',
    'user-agent': 'auditstream-splunk/1',
  };
  if (target.settings.indexerAck) result['x-splunk-request-channel'] = channelOf(target.id);
  return result;
}

export function buildHecRequest(events: EncodedEvent[], target: DeliveryTarget): HttpRequest {
  const body = gzipped(joinBytes(events.map((e) => e.bytes), ''), headers(target));
  return { url: `${hecBase(target.endpoint)}/services/collector/event`, ...body };
}

export function buildAckRequest(ackIds: number[], target: DeliveryTarget): HttpRequest {
  return {
    url: `${hecBase(target.endpoint)}/services/collector/ack?channel=${channelOf(target.id)}`,
    headers: headers(target),
    body: Buffer.from(JSON.stringify({ acks: ackIds })),
  };
}
