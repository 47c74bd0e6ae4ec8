// Custom webhook: signed JSON batches over HTTPS POST.
import { postAndClassify } from '../http-send.js';
import type { Provider } from '../provider.js';
import { classifyWebhookResponse } from './classify.js';
import { encodeWebhookEvent } from './encode.js';
import { buildWebhookRequest, envelopeBytes } from './request.js';
import { rotateSecret } from './rotation.js';

export const webhook: Provider = {
  name: 'webhook',
  title: 'Custom webhook',
  transport: 'HTTPS POST, signed',
  endpointExample: 'https://siem.example.com/audit',
  setup: [
    'Set up an HTTPS endpoint that accepts POST requests with a JSON body.',
    'Generate a shared secret (at least 32 random characters) for HMAC signature verification.',
    'Verify the X-Truthlocks-Signature header (t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">) with your secret, and refuse timestamps more than 5 minutes old.',
  ],
  credentials: { secret: { label: 'Shared secret', about: 'the shared secret requests are signed with' } },
  settings: {},
  mergeCredentials: rotateSecret,
  limits: { maxEventsPerRequest: 500, maxBytesPerRequest: 1024 * 1024, maxBytesPerEvent: 256 * 1024 },
  framing: { perRequest: envelopeBytes - 1, perEvent: 1 }, // commas between events
  encode: (event, target) => encodeWebhookEvent(event, target),
  send(events, target, context) {
    const at = context.now();
    return postAndClassify(buildWebhookRequest(events, target, at), context, (response) => classifyWebhookResponse(response, at));
  },
};
