// HEC answers (`{"text", "code", "invalid-event-number"?, "ackId"?}`) into outcomes, per
// Splunk's documented status codes.
import type { HttpResponse } from '../http.js';
import type { SendOutcome } from '../provider.js';
import { excerpt, retryAfterMs } from '../retry-after.js';

export interface HecAnswer {
  text?: string;
  code?: number;
  'invalid-event-number'?: number;
  ackId?: number;
}

export function parseHecAnswer(body: string): HecAnswer {
  try {
    const parsed = JSON.parse(body) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as HecAnswer) : {};
  } catch {
    return {};
  }
}

const credentialCodes = new Set([1, 2, 3, 4]);
const configurationCodes = new Set([7, 10, 11, 14, 16]);
const badEventCodes = new Set([6, 12, 13, 15]);

export function classifyHecResponse(response: HttpResponse, eventCount: number, now: Date): SendOutcome {
  const answer = parseHecAnswer(response.body);
  const said = answer.text ? `${answer.text} (code ${answer.code})` : `HTTP ${response.status}${response.body ? `: ${excerpt(response.body)}` : ''}`;
  const { status } = response;
  if (status === 200 && (answer.code === undefined || answer.code === 0)) return { kind: 'ok' };
  if (status === 413) return { kind: 'split', reason: `Splunk HEC: request too large: ${said}` };
  if (answer.code !== undefined && credentialCodes.has(answer.code)) {
    return { kind: 'config', reason: `Splunk rejected the token: ${said}` };
  }
  if (answer.code === 7) return { kind: 'config', reason: `Splunk refused the index for this token: ${said}` };
  if (answer.code !== undefined && configurationCodes.has(answer.code)) {
    return { kind: 'config', reason: `Splunk HEC configuration problem: ${said}` };
  }
  if (answer.code !== undefined && badEventCodes.has(answer.code)) {
    const index = answer['invalid-event-number'];
    if (index === undefined || index < 0 || index >= eventCount) return { kind: 'split', reason: `Splunk refused an event: ${said}` };
    // Events before `index` were indexed; that one is bad; the rest were not processed.
    return {
      kind: 'partial',
      rejected: [{ index, reason: `Splunk refused the event: ${said}` }],
      retry: Array.from({ length: eventCount - index - 1 }, (_, i) => index + 1 + i),
      reason: `Splunk refused an event: ${said}`,
    };
  }
  if (answer.code === 5) return { kind: 'config', reason: `Splunk received no data: ${said}` };
  if (status === 401 || status === 403) return { kind: 'config', reason: `Splunk rejected the token: ${said}` };
  if (status >= 500 || status === 429 || status === 408) {
    return { kind: 'retry', reason: `Splunk HEC unavailable: ${said}`, retryAfterMs: retryAfterMs(response.headers['retry-after'], now) };
  }
  return { kind: 'config', reason: `Splunk HEC answered ${said}` };
}
