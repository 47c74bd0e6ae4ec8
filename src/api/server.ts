// The listeners. Node cannot serve HTTP/1.1 and cleartext HTTP/2 on one port, so without
// TLS there are two: HTTP/1.1 (REST, Connect JSON/binary, gRPC-Web, health) and h2c (gRPC,
// and Connect too). Both run the same Connect handlers.
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { DestinationService } from '../gen/auditstream/v1/destinations_pb.js';
import { EventService } from '../gen/auditstream/v1/events_pb.js';
import type { ApiKeyStore } from '../store/api-keys.js';
import { authInterceptor, callerKey } from './auth.js';
import type { Admission } from './limits.js';
import { describeProviders, type DestinationsApi } from './destinations.js';
import type { EventsApi } from './events.js';
import { jsonWriteOptions, restHandler } from './rest.js';

export interface ApiDependencies {
  keys: ApiKeyStore;
  admission: Admission;
  destinations: DestinationsApi;
  events: EventsApi;
  /** Resolves when MongoDB and Temporal answer; rejects with what is not reachable. */
  readiness: () => Promise<void>;
}

export interface ApiServer {
  httpUrl: string;
  grpcUrl: string;
  close(): Promise<void>;
}

const maxMessageBytes = 8 * 1024 * 1024;

function routes({ destinations, events }: ApiDependencies) {
  const tenant = (ctx: HandlerContext) => ctx.values.get(callerKey)!.tenantId;
  return (router: ConnectRouter) => {
    router.service(DestinationService, {
      createDestination: (req, ctx) => destinations.create(tenant(ctx), req),
      getDestination: (req, ctx) => destinations.get(tenant(ctx), req.id),
      listDestinations: (_req, ctx) => destinations.list(tenant(ctx)),
      updateDestination: (req, ctx) => destinations.update(tenant(ctx), req),
      deleteDestination: (req, ctx) => destinations.delete(tenant(ctx), req.id),
      testDestination: (req, ctx) => destinations.test(tenant(ctx), req),
      listProviders: () => describeProviders(),
    });
    router.service(EventService, {
      publishEvent: (req, ctx) => events.publishOne(tenant(ctx), req),
      publishEvents: (req, ctx) => events.publishMany(tenant(ctx), req),
    });
  };
}

export async function startApiServer(deps: ApiDependencies, host: string, httpPort: number, grpcPort: number): Promise<ApiServer> {
  const rest = restHandler(deps.keys, deps.admission, deps.destinations);
  const fallback = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/readyz') {
      try {
        await deps.readiness();
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}');
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'unavailable', reason: message }));
      }
      return;
    }
    if (await rest(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"not_found","message":"no such path"}');
  };
  const handler = connectNodeAdapter({
    routes: routes(deps),
    interceptors: [authInterceptor(deps.keys, deps.admission)],
    fallback: (req, res) => void fallback(req as http.IncomingMessage, res as http.ServerResponse),
    jsonOptions: jsonWriteOptions,
    readMaxBytes: maxMessageBytes,
  });

  const http1 = http.createServer({ requestTimeout: 60_000 }, handler);
  const h2c = http2.createServer({}, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2c.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  http1.listen(httpPort, host);
  h2c.listen(grpcPort, host);
  await Promise.all([once(http1, 'listening'), once(h2c, 'listening')]);
  const httpAddress = http1.address() as AddressInfo;
  const grpcAddress = h2c.address() as AddressInfo;
  return {
    httpUrl: `http://${host}:${httpAddress.port}`,
    grpcUrl: `http://${host}:${grpcAddress.port}`,
    async close() {
      http1.closeAllConnections();
      sessions.forEach((session) => session.destroy());
      await Promise.all([
        new Promise<void>((resolve) => http1.close(() => resolve())),
        new Promise<void>((resolve) => h2c.close(() => resolve())),
      ]);
    },
  };
}
