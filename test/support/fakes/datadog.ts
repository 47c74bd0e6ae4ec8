// A Datadog Logs API v2 intake: DD-API-KEY, a JSON array of items, each checked with the
// official client's HTTPLogItem model (@datadog/datadog-api-client), at most 1,000 items and
// 5 MB after decompression, gzip and deflate, injectable failures.
import { v2 } from '@datadog/datadog-api-client';
import type { TestPki } from '../tls.js';
import { startFakeServer, type FakeServer } from './server.js';

export interface FakeDatadog extends FakeServer {
  items: Record<string, any>[];
  /** A request holding an item with one of these event ids is refused whole with a 400, as Datadog does. */
  poisonIds: Set<string>;
  /** What the official model found wrong in an item we sent (tests assert there is nothing). */
  modelErrors: string[];
}

/** The official client's verdict on one log item: undefined when it is a valid HTTPLogItem. */
export function httpLogItemError(item: unknown): string | undefined {
  try {
    const parsed = v2.ObjectSerializer.deserialize(item, 'HTTPLogItem') as { _unparsed?: boolean };
    return parsed._unparsed ? 'the item does not parse as an HTTPLogItem' : undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

export async function startFakeDatadog(pki: TestPki, apiKey: string): Promise<FakeDatadog> {
  const items: Record<string, any>[] = [];
  const poisonIds = new Set<string>();
  const modelErrors: string[] = [];
  const server = await startFakeServer(pki, { encodings: ['gzip', 'deflate'] }, (request) => {
    if (request.path !== '/api/v2/logs' || request.method !== 'POST') return { status: 404, json: { errors: ['Not found'] } };
    const key = request.headers['dd-api-key'];
    if (!key) return { status: 401, json: { errors: ['Unauthorized'] } };
    // It repeats the key it refused, as some intakes and proxies do.
    if (key !== apiKey) return { status: 403, json: { errors: [`Forbidden: API key ${key} is not valid`] } };
    if (!String(request.headers['content-type']).startsWith('application/json')) return { status: 400, json: { errors: ['Bad content type'] } };
    if (request.body.length > 5 * 1024 * 1024) return { status: 413, json: { errors: ['Payload too large'] } };
    let parsed: unknown;
    try {
      parsed = JSON.parse(request.body.toString('utf8'));
    } catch {
      return { status: 400, json: { errors: ['Malformed JSON'] } };
    }
    if (!Array.isArray(parsed)) return { status: 400, json: { errors: ['Expected an array of logs'] } };
    if (parsed.length > 1000) return { status: 413, json: { errors: ['Too many items'] } };
    const invalid = parsed.map(httpLogItemError).filter((error): error is string => error !== undefined);
    if (invalid.length > 0) {
      modelErrors.push(...invalid);
      return { status: 400, json: { errors: invalid.map((error) => `Invalid log item: ${error}`) } };
    }
    if (parsed.some((item) => poisonIds.has(item.evt?.id))) return { status: 400, json: { errors: ['Invalid log item'] } };
    items.push(...parsed);
    return { status: 202, json: {} };
  });
  return Object.assign(server, { items, poisonIds, modelErrors });
}
