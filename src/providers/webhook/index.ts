// Custom webhook: signed JSON batches over HTTPS POST.
import { NetworkError } from '../http.js';
import type { Provider } from '../provider.js';
import { classifyWebhookResponse } from './classify.js';
import { encodeWebhookEvent } from './encode.js';
import { buildWebhookRequest, envelopeBytes } from './request.js';

export const webhook: Provider = {
  name: 'webhook',
  credentialFields: ['secret'],
  limits: { maxEventsPerRequest: 500, maxBytesPerRequest: 1024 * 1024, maxBytesPerEvent: 256 * 1024 },
  framing: { perRequest: envelopeBytes, perEvent: 1 },
  validateSettings: () => undefined,
  encode: (event) => encodeWebhookEvent(event),
  async send(events, target, { http, now }) {
    const at = now();
    try {
      return classifyWebhookResponse(await http.post(buildWebhookRequest(events, target, at)), at);
    } catch (error) {
      if (error instanceof NetworkError) return { kind: 'retry', reason: error.message };
      throw error;
    }
  },
};
