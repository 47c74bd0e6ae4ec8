// Datadog Log Management (Logs API v2), any site: the endpoint is the site's intake URL.
import { postAndClassify } from '../http-send.js';
import type { Provider } from '../provider.js';
import { classifyDatadogResponse } from './classify.js';
import { acceptanceWindowMs, encodeDatadogEvent } from './encode.js';
import { buildDatadogRequest } from './request.js';

export const datadog: Provider = {
  name: 'datadog',
  title: 'Datadog',
  transport: 'Log Management API',
  endpointExample: 'https://http-intake.logs.datadoghq.com/api/v2/logs',
  setup: [
    'In Datadog, go to Organization Settings > API Keys.',
    'Create a new API key.',
    'Use https://http-intake.logs.datadoghq.com/api/v2/logs as the endpoint (https://http-intake.logs.datadoghq.eu/api/v2/logs for EU).',
  ],
  credentials: { token: { label: 'API key', about: 'the Datadog API key' } },
  settings: {
    service: { kind: 'text', about: 'Datadog service of the logs (default "auditstream")' },
    source: { kind: 'text', about: 'Datadog source, `ddsource` (default "auditstream")' },
    tags: {
      kind: 'text',
      about: 'extra tags, "key:value,key2:value2"',
      check: (tags) => (/^[^,:\s]+:[^,\s]*(,[^,:\s]+:[^,\s]*)*$/.test(tags) ? undefined : 'settings.tags must look like "key:value,key2:value2"'),
    },
  },
  limits: { maxEventsPerRequest: 1_000, maxBytesPerRequest: 5 * 1024 * 1024, maxBytesPerEvent: 1024 * 1024 },
  framing: { perRequest: 1, perEvent: 1 }, // "[" + "]" − one ","
  encode: (event, target, now) => encodeDatadogEvent(event, target, now),
  async send(events, target, context) {
    const outcome = await postAndClassify(buildDatadogRequest(events, target), context, (response) =>
      classifyDatadogResponse(response, context.now()),
    );
    const late = events.filter(({ event }) => context.now().getTime() - event.occurredAt.getTime() > acceptanceWindowMs).length;
    if (outcome.kind === 'ok' && late > 0) {
      return {
        kind: 'ok',
        note: `${late} events were older than Datadog's 18-hour window and were sent with the time of sending; their own time is in original_timestamp`,
      };
    }
    return outcome;
  },
};
