// JSON request bodies the service reads itself (REST, and unary Connect JSON before the
// handler gets it): bounded in size, and refused when they hold a `__proto__` key — the
// protobuf runtime would otherwise drop such a key silently (or, with an object value, make
// it an object's prototype) before any validation could see it.
import { Code, ConnectError } from '@connectrpc/connect';
import type { JsonValue } from '@bufbuild/protobuf';
import type { IncomingMessage } from 'node:http';

/**
 * A body over its limit: RESOURCE_EXHAUSTED, answered 413 on the REST paths (Connect's own
 * mapping of that code is 429). Not a ConnectError subclass: ConnectError's `instanceof`
 * accepts any ConnectError.
 */
export class BodyTooLarge extends Error {
  constructor(limit: number) {
    super(`request body is over ${limit} bytes`);
  }

  toConnectError(): ConnectError {
    return new ConnectError(this.message, Code.ResourceExhausted);
  }
}

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseJson(bytes: Buffer): JsonValue {
  let text: string;
  try {
    // Bytes that are not UTF-8 are refused, never stored with U+FFFD in their place.
    text = utf8.decode(bytes);
  } catch {
    throw new ConnectError('request body is not valid UTF-8: send JSON encoded as UTF-8', Code.InvalidArgument);
  }
  if (text.trim() === '') return {};
  let reserved: string | undefined;
  let parsed: JsonValue;
  try {
    parsed = JSON.parse(text, (key, value) => {
      if (key === '__proto__') reserved = key;
      return value;
    });
  } catch {
    throw new ConnectError('request body is not valid JSON', Code.InvalidArgument);
  }
  if (reserved) throw new ConnectError('request body has a key "__proto__", which is reserved; rename it', Code.InvalidArgument);
  return parsed;
}
