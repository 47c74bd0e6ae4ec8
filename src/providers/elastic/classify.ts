// _bulk answers: the request's status, then one result per item, in request order; items
// fail independently. A 409 on `create` means the event is already there: delivered.
import type { HttpResponse } from '../http.js';
import type { SendOutcome } from '../provider.js';
import { excerpt, retryAfterMs } from '../retry-after.js';

interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string };
}

export function classifyBulkResponse(response: HttpResponse, eventCount: number, now: Date): SendOutcome {
  const { status } = response;
  const said = `HTTP ${status}${response.body ? `: ${excerpt(response.body)}` : ''}`;
  if (status === 401 || status === 403) return { kind: 'config', reason: `Elasticsearch rejected the API key: ${said}` };
  if (status === 413) return { kind: 'split', reason: `Elasticsearch: request too large: ${said}` };
  if (status === 429 || status >= 500) {
    return { kind: 'retry', reason: `Elasticsearch unavailable: ${said}`, retryAfterMs: retryAfterMs(response.headers['retry-after'], now) };
  }
  if (status !== 200) return { kind: 'config', reason: `Elasticsearch answered ${said}` };
  if (response.truncated) {
    // Larger than any answer to our requests can be: readable only to its "errors" flag.
    if (/^\s*\{[^[]*"errors"\s*:\s*false/.test(response.body)) return { kind: 'ok' };
    return { kind: 'retry', reason: `Elasticsearch answered 200 with a result too large to read (over ${response.body.length} bytes); the batch will be sent again` };
  }
  let parsed: { errors?: boolean; items?: Record<string, BulkItem>[] };
  try {
    parsed = JSON.parse(response.body);
  } catch {
    return { kind: 'retry', reason: `Elasticsearch answered 200 with a body that is not JSON: ${excerpt(response.body)}` };
  }
  if (!parsed.errors) return { kind: 'ok' };
  const items = (parsed.items ?? []).map((item) => Object.values(item)[0]);
  if (items.length !== eventCount) return { kind: 'retry', reason: `Elasticsearch answered ${items.length} item results for ${eventCount} events` };
  const rejected: { index: number; reason: string }[] = [];
  const retry: number[] = [];
  const reasons: string[] = [];
  items.forEach((item, index) => {
    if (item.status < 300 || item.status === 409) return;
    const reason = `Elasticsearch refused the event: ${item.status} ${item.error?.type ?? ''}: ${item.error?.reason ?? ''}`.trim();
    if (item.status === 429 || item.status >= 500) retry.push(index);
    else rejected.push({ index, reason });
    reasons.push(reason);
  });
  return { kind: 'partial', rejected, retry, reason: reasons[0] ?? 'Elasticsearch reported item errors' };
}
