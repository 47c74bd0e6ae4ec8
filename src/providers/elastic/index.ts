// Elasticsearch _bulk ingest into an index or data stream (settings.index).
import { postAndClassify } from '../http-send.js';
import type { Provider } from '../provider.js';
import { classifyBulkResponse } from './classify.js';
import { defaultIndex, encodeElasticEvent } from './encode.js';
import { buildBulkRequest } from './request.js';

export const elastic: Provider = {
  name: 'elastic',
  title: 'Elastic / ELK',
  transport: 'Elasticsearch ingest (_bulk)',
  endpointExample: 'https://my-deployment.es.eu-west-1.aws.elastic.cloud',
  setup: [
    'In Kibana, go to Management > Dev Tools and create an ingest pipeline (or an index template for the data stream).',
    'Generate an API key with index write permissions.',
    'Use your Elasticsearch endpoint as the endpoint.',
  ],
  credentials: { token: { label: 'API key', about: 'the API key, base64 as Kibana shows it' } },
  settings: {
    index: {
      kind: 'text',
      about: `index or data stream to write to (default "${defaultIndex}"; a data stream needs an index template with data_stream)`,
      check: (index) => (/^[a-z0-9][a-z0-9._-]*$/.test(index) ? undefined : 'settings.index must be a lowercase Elasticsearch index or data stream name'),
    },
  },
  limits: { maxEventsPerRequest: 1_000, maxBytesPerRequest: 5 * 1024 * 1024, maxBytesPerEvent: 1024 * 1024 },
  framing: { perRequest: 0, perEvent: 0 },
  encode: (event, target) => encodeElasticEvent(event, target),
  send: (events, target, context) =>
    postAndClassify(buildBulkRequest(events, target), context, (response) => classifyBulkResponse(response, events.length, context.now())),
};
