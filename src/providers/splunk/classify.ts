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

/** A HEC answer; undefined when the body is not one (not JSON, not an object, a field of the wrong type). */
export function parseHecAnswer(body: string): HecAnswer | undefined {
  const parsed = parseJsonObject(body);
  if (!parsed) return undefined;
  const typed = (field: string, type: 'string' | 'number') => parsed[field] === undefined || typeof parsed[field] === type;
  return typed('text', 'string') && typed('code', 'number') && typed('ackId', 'number') && typed('invalid-event-number', 'number') ? (parsed as HecAnswer) : undefined;
}

/** The answer of an acknowledgement poll (`{"acks": {"<ackId>": true|false}}`); undefined when the body is not one. */
export function parseAckAnswer(body: string): Record<string, boolean> | undefined {
  const acks = parseJsonObject(body)?.acks;
  if (!acks || typeof acks !== 'object' || Array.isArray(acks)) return undefined;
  return Object.values(acks).every((value) => typeof value === 'boolean') ? (acks as Record<string, boolean>) : undefined;
}

function parseJsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const credentialCodes = new Set([1, 2, 3, 4]);
const configurationCodes = new Set([7, 10, 11, 14, 16]);
const badEventCodes = new Set([6, 12, 13, 15]);

export function classifyHecResponse(response: HttpResponse, eventCount: number, now: Date): SendOutcome {
  const parsed = parseHecAnswer(response.body);
  const answer = parsed ?? {};
  const said = answer.text ? `${answer.text} (code ${answer.code})` : `HTTP ${response.status}${response.body ? `: ${excerpt(response.body)}` : ''}`;
  const { status } = response;
  if (status === 200 && !parsed) {
    // HEC always answers JSON: something else answered (a proxy, a login page), and whether it kept the events is unknown.
    return { kind: 'config', reason: `the endpoint answered ${said}, which is not a Splunk HEC answer: check that the endpoint is the HEC URL` };
  }
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
