import type { HttpResponse } from '../http.js';
import type { SendOutcome } from '../provider.js';
import { excerpt, retryAfterMs } from '../retry-after.js';

/** 2xx ok; 410 gone and other 4xx: the receiver needs fixing; 408, 429, 5xx: retry. */
export function classifyWebhookResponse(response: HttpResponse, now: Date): SendOutcome {
  const { status } = response;
  if (status >= 200 && status < 300) return { kind: 'ok' };
  const body = excerpt(response.body);
  const reason = `webhook answered HTTP ${status}${body ? `: ${body}` : ''}`;
  if (status === 408 || status === 429 || status >= 500) {
    return { kind: 'retry', reason, retryAfterMs: retryAfterMs(response.headers['retry-after'], now) };
  }
  if (status === 413) return { kind: 'split', reason };
  if (status === 410) return { kind: 'config', reason: `${reason} (the endpoint is gone)` };
  return { kind: 'config', reason };
}
