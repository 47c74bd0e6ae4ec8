// The send step shared by the providers that speak plain HTTPS: post, classify, and turn a
// request that got no answer into a retry with the network's reason.
import { gzipSync } from 'node:zlib';
import { NetworkError, type HttpRequest, type HttpResponse } from './http.js';
import type { SendContext, SendOutcome } from './provider.js';
import { scrubSecrets } from './secrets.js';

export async function postAndClassify(
  request: HttpRequest,
  context: SendContext,
  classify: (response: HttpResponse) => SendOutcome | Promise<SendOutcome>,
): Promise<SendOutcome> {
  try {
    const response = await context.http.post(request, context.signal);
    // Scrubbed whole, before a classifier quotes a piece of it: a cut could leave half a token.
    return await classify({ ...response, body: scrubSecrets(response.body, context.secrets) });
  } catch (error) {
    if (error instanceof NetworkError) return { kind: error.refused ? 'config' : 'retry', reason: error.message };
    throw error;
  }
}

/** Compresses a request body; providers count their limits on the uncompressed bytes. */
export function gzipped(body: Buffer, headers: Record<string, string>): { body: Buffer; headers: Record<string, string> } {
  return { body: gzipSync(body), headers: { ...headers, 'content-encoding': 'gzip' } };
}

/** Concatenates encoded items with a separator, framed by a prefix and a suffix. */
export function joinBytes(items: Buffer[], separator: string, prefix = '', suffix = ''): Buffer {
  const parts: Buffer[] = [Buffer.from(prefix)];
  items.forEach((item, index) => {
    if (index > 0 && separator) parts.push(Buffer.from(separator));
    parts.push(item);
  });
  parts.push(Buffer.from(suffix));
  return Buffer.concat(parts);
}
