// Splunk HTTP Event Collector. With indexer acknowledgement on, a batch counts as delivered
// only once Splunk says it is indexed; otherwise it is sent again (at least once).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Provider, SendOutcome } from '../provider.js';
import { postAndClassify } from '../http-send.js';
import { excerpt } from '../retry-after.js';
import { classifyHecResponse, parseAckAnswer, parseHecAnswer } from './classify.js';
import { defaultSource, defaultSourcetype, encodeSplunkEvent } from './encode.js';
import { buildAckRequest, buildHecRequest } from './request.js';

const ackTimeoutMs = 30_000;
const ackPollMs = 500;

export const splunk: Provider = {
  name: 'splunk',
  title: 'Splunk',
  transport: 'HTTP Event Collector (HEC)',
  endpointExample: 'https://splunk.example.com:8088/services/collector/event',
  setup: [
    'In Splunk, go to Settings > Data Inputs > HTTP Event Collector.',
    'Create a new token with the main index (or the index you set below).',
    'Copy the HEC endpoint URL and the token.',
  ],
  credentials: { token: { label: 'HEC token', about: 'the HEC token' } },
  settings: {
    index: { kind: 'text', about: 'Splunk index to write to; empty: the HEC token\'s default index' },
    source: { kind: 'text', about: `source of the events (default "${defaultSource}")` },
    sourcetype: { kind: 'text', about: `sourcetype of the events (default "${defaultSourcetype}")` },
    indexerAck: {
      kind: 'flag',
      about: 'count events as delivered only once Splunk acknowledges indexing them (the HEC token must have indexer acknowledgement on)',
    },
  },
  limits: { maxEventsPerRequest: 5_000, maxBytesPerRequest: 1024 * 1024, maxBytesPerEvent: 256 * 1024 },
  framing: { perRequest: 0, perEvent: 0 },
  encode: (event, target) => encodeSplunkEvent(event, target),
  async send(events, target, context) {
    let ackId: number | undefined;
    const outcome = await postAndClassify(buildHecRequest(events, target), context, (response) => {
      const result = classifyHecResponse(response, events.length, context.now());
      if (result.kind === 'ok') ackId = parseHecAnswer(response.body)?.ackId;
      return result;
    });
    if (outcome.kind !== 'ok' || !target.settings.indexerAck) return outcome;
    if (ackId === undefined) {
      // Splunk stored the events and cannot confirm it: sending them again would store copies.
      return {
        kind: 'unconfirmed',
        reason:
          'indexer acknowledgement is on for this destination, but Splunk returned no ackId: turn on indexer acknowledgement ' +
          'for the HEC token, or turn indexer_ack off here. The events Splunk accepted unconfirmed are not sent again until you update the destination.',
      };
    }
    return waitForAck(ackId);

    async function waitForAck(id: number): Promise<SendOutcome> {
      const deadline = Date.now() + ackTimeoutMs;
      let last = 'no answer yet';
      while (Date.now() < deadline && !context.signal?.aborted) {
        const answer = await postAndClassify(buildAckRequest([id], target), context, (response) => {
          if (response.status !== 200) return classifyHecResponse(response, events.length, context.now());
          const acks = parseAckAnswer(response.body);
          if (!acks) return { kind: 'retry', reason: `an answer that is not an acknowledgement: ${excerpt(response.body) || '(empty)'}` };
          return acks[String(id)] ? { kind: 'ok' } : { kind: 'retry', reason: 'not yet acknowledged' };
        });
        if (answer.kind === 'ok' || answer.kind === 'config') return answer;
        last = answer.reason;
        await sleep(ackPollMs, undefined, { signal: context.signal }).catch(() => undefined);
      }
      if (context.signal?.aborted) {
        return { kind: 'retry', reason: 'the delivery was cancelled while waiting for Splunk to acknowledge indexing; the batch will be sent again' };
      }
      return { kind: 'retry', reason: `Splunk did not acknowledge indexing within ${ackTimeoutMs / 1000}s (last: ${last}); the batch will be sent again` };
    }
  },
};
