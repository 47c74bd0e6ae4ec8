// A Datadog Logs API v2 intake: DD-API-KEY, a JSON array of items with a string `message`,
// at most 1,000 items and 5 MB after decompression, gzip and deflate, injectable failures.
import type { TestPki } from '../tls.js';
import { startFakeServer, type FakeServer } from './server.js';

export interface FakeDatadog extends FakeServer {
  items: Record<string, any>[];
  /** A request holding an item with one of these event ids is refused whole with a 400, as Datadog does. */
  poisonIds: Set<string>;
}

export async function startFakeDatadog(pki: TestPki, apiKey: string): Promise<FakeDatadog> {
  const items: Record<string, any>[] = [];
  const poisonIds = new Set<string>();
  const server = await startFakeServer(pki, { encodings: ['gzip', 'deflate'] }, (request) => {
    if (request.path !== '/api/v2/logs' || request.method !== 'POST') return { status: 404, json: { errors: ['Not found'] } };
    const key = request.headers['dd-api-key'];
    if (!key) return { status: 401, json: { errors: ['Unauthorized'] } };
    if (key !== apiKey) return { status: 403, json: { errors: ['Forbidden'] } };
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
    if (parsed.some((item) => typeof item !== 'object' || item === null || typeof item.message !== 'string')) {
      return { status: 400, json: { errors: ['Invalid log item: message must be a string'] } };
    }
    if (parsed.some((item) => poisonIds.has(item.evt?.id))) return { status: 400, json: { errors: ['Invalid log item'] } };
    items.push(...parsed);
    return { status: 202, json: {} };
  });
  return Object.assign(server, { items, poisonIds });
}
