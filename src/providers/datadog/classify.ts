import type { HttpResponse } from '../http.js';
import type { SendOutcome } from '../provider.js';
import { excerpt, retryAfterMs } from '../retry-after.js';

/** 2xx ok; 400 a bad item somewhere (split to find it); 401/403 the API key; 408/429/5xx retry; 413 split. */
export function classifyDatadogResponse(response: HttpResponse, now: Date): SendOutcome {
  const { status } = response;
  const said = `HTTP ${status}${response.body ? `: ${excerpt(response.body)}` : ''}`;
  if (status >= 200 && status < 300) return { kind: 'ok' };
  if (status === 400) return { kind: 'split', reason: `Datadog refused a log item: ${said}` };
  if (status === 413) return { kind: 'split', reason: `Datadog: request too large: ${said}` };
  if (status === 401 || status === 403) return { kind: 'config', reason: `Datadog rejected the API key: ${said}` };
  if (status === 408 || status === 429 || status >= 500) {
    return { kind: 'retry', reason: `Datadog intake unavailable: ${said}`, retryAfterMs: retryAfterMs(response.headers['retry-after'], now) };
  }
  return { kind: 'config', reason: `Datadog answered ${said}` };
}
