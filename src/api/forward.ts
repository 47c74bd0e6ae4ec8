// Calls that write go to the API process that leads the store (src/ingest/lease.ts); every other
// call is answered where it arrives. So any number of API processes share one store with one
// writer per document — the tenants' sequences and dispatch lists, the outbox, the
// destinations' configurations — while reads and authentication spread over all of them.
//
// A follower forwards the call as it came (the caller's own credentials: the leader
// authenticates it again, so forwarding grants nothing), over the leader's h2c listener, and
// answers what the leader answered. A forwarded call is never forwarded again: a process that
// receives one without leading answers UNAVAILABLE, and the caller retries.
import type { DescMethodUnary, DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext, type ServiceImpl, type Transport } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { describeHolder, type LeaseDoc } from '../ingest/lease.js';
import { csrfHeader } from './auth.js';

export interface Leadership {
  readonly leading: boolean;
  leader(): LeaseDoc | undefined;
}

/** Marks a call one API process forwarded to another. */
export const forwardedHeader = 'x-auditstream-forwarded';

/** What identifies the caller: passed on unchanged, and only these. */
const credentialHeaders = ['authorization', 'cookie', csrfHeader];

/** The calls that only read (TestDestination writes nothing but a service event, noted for the leader; MaskToken computes). */
export function answeredAnywhere(method: string): boolean {
  return /^(Get|List|Query)/.test(method) || method === 'TestDestination' || method === 'MaskToken';
}

const retry = 'retry the call (a publish with the same event ids: an id is stored once)';

/** Whether an error is the connection's to the leader (a Node system or HTTP/2 error behind it), not an answer of the leader. */
function noAnswer(error: unknown): boolean {
  for (let cause = (error as { cause?: unknown }).cause; cause; cause = (cause as { cause?: unknown }).cause) {
    if (typeof (cause as { code?: unknown }).code === 'string') return true;
  }
  return false;
}

/**
 * The service's implementation, with each method that writes sent to the leader while this
 * process does not lead. (Inside the implementation, not an interceptor, so that the response
 * keeps the headers of the protocol this call came in with.)
 */
export function writesToLeader<S extends DescService>(service: S, implementation: ServiceImpl<S>, leadership: Leadership): ServiceImpl<S> {
  const transports = new Map<string, Transport>();
  const transportTo = (url: string): Transport => {
    let transport = transports.get(url);
    if (!transport) {
      transports.clear(); // the leader changed: connections to the previous one are of no use
      transport = createConnectTransport({ baseUrl: url, httpVersion: '2', useBinaryFormat: true });
      transports.set(url, transport);
    }
    return transport;
  };
  const forward = async (method: DescMethodUnary, message: unknown, context: HandlerContext): Promise<unknown> => {
    if (context.requestHeader.has(forwardedHeader)) {
      throw new ConnectError(`the API process this call was forwarded to does not lead the store any more; ${retry}`, Code.Unavailable);
    }
    const leader = leadership.leader();
    if (!leader) throw new ConnectError(`no API process leads the store at this moment (one is taking over); ${retry}`, Code.Unavailable);
    const header = new Headers({ [forwardedHeader]: '1' });
    for (const name of credentialHeaders) {
      const value = context.requestHeader.get(name);
      if (value !== null) header.set(name, value);
    }
    try {
      return (await transportTo(leader.url).unary(method, context.signal, undefined, header, message as never)).message;
    } catch (error) {
      if (!noAnswer(error)) throw error;
      throw new ConnectError(
        `the API process that writes to this store (${describeHolder(leader)}) did not answer (${ConnectError.from(error).rawMessage}); ${retry}`,
        Code.Unavailable,
      );
    }
  };
  const wrapped: Record<string, unknown> = { ...implementation };
  for (const method of service.methods) {
    if (method.methodKind !== 'unary' || answeredAnywhere(method.name)) continue;
    const unary = method as DescMethodUnary; // methodKind checked above
    const local = (implementation as Record<string, (message: unknown, context: HandlerContext) => unknown>)[method.localName];
    wrapped[method.localName] = (message: unknown, context: HandlerContext) => (leadership.leading ? local(message, context) : forward(unary, message, context));
  }
  return wrapped as ServiceImpl<S>;
}
