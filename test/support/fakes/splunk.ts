// A Splunk HTTP Event Collector as strict as the real one: token and header forms, back-to-back
// JSON envelopes, required and non-blank `event`, flat `fields`, the index allow-list,
// gzip but not deflate, max_content_length, indexer acknowledgement, and injectable failures.
import type { TestPki } from '../tls.js';
import { startFakeServer, type FakeReply, type FakeServer } from './server.js';

export interface SplunkToken {
  indexes?: string[];
  disabled?: boolean;
  ack?: boolean;
}

export interface FakeSplunk extends FakeServer {
  /** Indexed envelopes, in order. */
  events: Record<string, any>[];
  /** Envelopes of acknowledged requests only (with ack on, an event counts once acknowledged). */
  pendingAcks: Map<number, Record<string, any>[]>;
  acknowledge(): void;
}

const hec = (status: number, code: number, text: string, extra: Record<string, unknown> = {}): FakeReply => ({ status, json: { text, code, ...extra } });

/** Splits back-to-back JSON objects; returns the index of the first one that does not parse. */
function splitEnvelopes(text: string): { values: unknown[]; badIndex?: number } {
  const values: unknown[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) break;
    if (text[i] !== '{') return { values, badIndex: values.length };
    let depth = 0;
    let inString = false;
    let end = -1;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (inString) {
        if (c === '\\') j++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        end = j;
        break;
      }
    }
    if (end === -1) return { values, badIndex: values.length };
    try {
      values.push(JSON.parse(text.slice(i, end + 1)));
    } catch {
      return { values, badIndex: values.length };
    }
    i = end + 1;
  }
  return { values };
}

export async function startFakeSplunk(pki: TestPki, tokens: Record<string, SplunkToken>, maxContentLength = 1024 * 1024): Promise<FakeSplunk> {
  const events: Record<string, any>[] = [];
  const pendingAcks = new Map<number, Record<string, any>[]>();
  const acked = new Set<number>();
  let nextAck = 0;
  let autoAck = true;
  const server = await startFakeServer(pki, { encodings: ['gzip'] }, (request) => {
    if (request.path === '/services/collector/health') return hec(200, 17, 'HEC is healthy');
    const auth = request.headers.authorization as string | undefined;
    if (!auth) return hec(401, 2, 'Token is required');
    if (!auth.startsWith('Splunk ')) return hec(401, 3, 'Invalid authorization');
    const token = tokens[auth.slice('Splunk '.length)];
    if (!token) return hec(403, 4, 'Invalid token');
    if (token.disabled) return hec(403, 1, 'Token disabled');
    const channel = request.headers['x-splunk-request-channel'] as string | undefined;
    if (request.path === '/services/collector/ack') {
      if (!token.ack) return hec(400, 14, 'ACK is disabled');
      const ids = (JSON.parse(request.body.toString('utf8')) as { acks: number[] }).acks;
      return { status: 200, json: { acks: Object.fromEntries(ids.map((id) => [String(id), acked.has(id)])) } };
    }
    if (!['/services/collector', '/services/collector/event', '/services/collector/event/1.0'].includes(request.path)) {
      return { status: 404, json: { text: 'The requested URL was not found on this server.', code: 404 } };
    }
    if (request.method !== 'POST') return { status: 405, json: { text: 'method not allowed' } };
    if (token.ack && !channel) return hec(400, 10, 'Data channel is missing');
    if (request.body.length > maxContentLength) return { status: 413, json: { text: 'Content-Length of the request exceeds max_content_length' } };
    const text = request.body.toString('utf8');
    if (text.trim() === '') return hec(400, 5, 'No data');
    const { values, badIndex } = splitEnvelopes(text);
    const accepted: Record<string, any>[] = [];
    const refuse = (code: number, message: string, index: number) => {
      events.push(...accepted);
      return hec(400, code, message, { 'invalid-event-number': index });
    };
    for (let index = 0; index < values.length; index++) {
      const envelope = values[index] as Record<string, any>;
      if (envelope.index !== undefined && !(token.indexes ?? ['main']).includes(envelope.index)) return hec(400, 7, 'Incorrect index');
      if (!('event' in envelope)) return refuse(12, 'Event field is required', index);
      if (envelope.event === '' || envelope.event === null) return refuse(13, 'Event field cannot be blank', index);
      if (envelope.time !== undefined && typeof envelope.time !== 'number') return refuse(6, 'Invalid data format', index);
      if (envelope.fields !== undefined && Object.values(envelope.fields).some((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
        return refuse(15, 'Error in handling indexed fields', index);
      }
      accepted.push(envelope);
    }
    if (badIndex !== undefined) return refuse(6, 'Invalid data format', badIndex);
    if (!token.ack) {
      events.push(...accepted);
      return hec(200, 0, 'Success');
    }
    const ackId = nextAck++;
    pendingAcks.set(ackId, accepted);
    if (autoAck) fake.acknowledge();
    return { status: 200, json: { text: 'Success', code: 0, ackId } };
  });
  const fake: FakeSplunk = Object.assign(server, {
    events,
    pendingAcks,
    acknowledge() {
      for (const [id, batch] of pendingAcks) {
        events.push(...batch);
        acked.add(id);
        pendingAcks.delete(id);
      }
    },
  });
  Object.defineProperty(fake, 'autoAck', { set: (value: boolean) => (autoAck = value) });
  return fake;
}
