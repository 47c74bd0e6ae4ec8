// The listeners. Node cannot serve HTTP/1.1 and cleartext HTTP/2 on one port, so without
// TLS there are two: HTTP/1.1 (REST, Connect JSON/binary, gRPC-Web, health) and h2c (gRPC,
// and Connect too). Every API call, whatever its protocol or path, is answered by one
// Connect router and goes through its interceptors: authentication, scopes, rate limits.
import type { CheckpointsApi } from './checkpoints.js';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import type { UniversalHandler, UniversalServerRequest } from '@connectrpc/connect/protocol';
import { codeToHttpStatus, codeToString } from '@connectrpc/connect/protocol-connect';
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from '@connectrpc/connect-node';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { DestinationService } from '../gen/auditstream/v1/destinations_pb.js';
import { EventService } from '../gen/auditstream/v1/events_pb.js';
import { AuditLogService } from '../gen/auditstream/v1/audit_pb.js';
import type { ExportStore } from '../store/exports.js';
import type { AuditLogApi } from './audit-log.js';
import type { BackfillsApi } from './backfills.js';
import { downloadHandler } from './downloads.js';
import { errorMessage, log } from '../log.js';
import { registry } from '../metrics.js';
import type { ApiKeyStore } from '../store/api-keys.js';
import type { SessionStore } from '../store/sessions.js';
import { consoleHandler } from '../console/server.js';
import { authInterceptor, callerKey } from './auth.js';
import { writesToLeader, type Leadership } from './forward.js';
import { describeProviders, type DestinationsApi } from './destinations.js';
import type { EventsApi } from './events.js';
import { BodyTooLarge, parseJson, readBody } from './json-body.js';
import { parseFailureAsInvalid } from './parse-failure.js';
import type { DependencyMonitor } from './dependencies.js';
import { describeOutage, type Outage } from './delivery-status.js';
import type { Admission } from './limits.js';
import { checkQuery, matchRest, procedurePath, restBody } from './rest.js';

export interface ApiDependencies {
  keys: ApiKeyStore;
  sessions: SessionStore;
  auditLog: AuditLogApi;
  backfills: BackfillsApi;
  checkpoints: CheckpointsApi;
  exports: ExportStore;
  admission: Admission;
  destinations: DestinationsApi;
  events: EventsApi;
  /** What is unreachable now, from the last probe (src/api/dependencies.ts). */
  dependencies: Pick<DependencyMonitor, 'current'>;
  /** Whether this process leads the store, and which does: calls that write are answered there. */
  leadership: Leadership;
  /** Whether this process has joined the store's API processes (leads or knows the leader): not ready before. */
  joined: () => boolean;
}

export interface ApiServer {
  httpUrl: string;
  grpcUrl: string;
  close(): Promise<void>;
}

/** JSON answers show every field, defaults included (`enabled: false` is visible). */
export const jsonWriteOptions = { alwaysEmitImplicit: true } as const;
const maxMessageBytes = 8 * 1024 * 1024;
/** Where the public keys that verify checkpoints and export manifests are served. */
export const signingKeysPath = '/.well-known/auditstream/signing-keys';
const maxRestBodyBytes = 1024 * 1024;

function routes({ destinations, events, auditLog, backfills, checkpoints, leadership }: ApiDependencies) {
  const caller = (ctx: HandlerContext) => ctx.values.get(callerKey)!;
  const tenant = (ctx: HandlerContext) => caller(ctx).tenantId;
  return (router: ConnectRouter) => {
    router.service(DestinationService, writesToLeader(DestinationService, {
      createDestination: (req, ctx) => destinations.create(caller(ctx), req),
      getDestination: (req, ctx) => destinations.get(tenant(ctx), req.id),
      listDestinations: (_req, ctx) => destinations.list(tenant(ctx)),
      updateDestination: (req, ctx) => destinations.update(caller(ctx), req),
      deleteDestination: (req, ctx) => destinations.delete(caller(ctx), req.id),
      testDestination: (req, ctx) => destinations.test(caller(ctx), req),
      listProviders: () => describeProviders(),
      backfillDestination: (req, ctx) => backfills.create(caller(ctx), req),
      getBackfill: (req, ctx) => backfills.get(tenant(ctx), req.destinationId, req.id),
      listBackfills: (req, ctx) => backfills.list(tenant(ctx), req.destinationId),
      cancelBackfill: (req, ctx) => backfills.cancel(caller(ctx), req.destinationId, req.id),
      maskToken: (req, ctx) => destinations.maskToken(caller(ctx), req),
      listCheckpoints: (req, ctx) => checkpoints.list(tenant(ctx), req),
    }, leadership));
    router.service(EventService, writesToLeader(EventService, {
      publishEvent: (req, ctx) => events.publishOne(tenant(ctx), req),
      publishEvents: (req, ctx) => events.publishMany(tenant(ctx), req),
    }, leadership));
    router.service(AuditLogService, writesToLeader(AuditLogService, {
      queryEvents: (req, ctx) => auditLog.query(tenant(ctx), req),
      getEvent: (req, ctx) => auditLog.get(tenant(ctx), req.id),
      getRetention: (_req, ctx) => auditLog.getRetention(tenant(ctx)),
      updateRetention: (req, ctx) => auditLog.updateRetention(caller(ctx), req),
      createExport: (req, ctx) => auditLog.createExport(caller(ctx), req),
      getExport: (req, ctx) => auditLog.getExport(tenant(ctx), req.id),
      listExports: (_req, ctx) => auditLog.listExports(tenant(ctx)),
    }, leadership));
  };
}

function sendJson(res: http.ServerResponse, status: number, body: JsonValue, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(bytes.length) }).end(bytes);
}

/** A Connect error as the REST paths and Connect JSON show it: `{"code", "message"}`, the matching status, its metadata as headers. */
function sendError(res: http.ServerResponse, error: unknown, status?: number): void {
  const connectError = ConnectError.from(error);
  if (connectError.code === Code.Internal || connectError.code === Code.Unknown) log.error('request failed', { error: errorMessage(error) });
  const headers: Record<string, string> = {};
  connectError.metadata.forEach((value, name) => (headers[name] = value));
  sendJson(res, status ?? codeToHttpStatus(connectError.code), { code: codeToString(connectError.code), message: connectError.rawMessage }, headers);
}

/** Prometheus's text format. Unauthenticated, like /healthz: serve it on a network only the monitoring reaches. */
export async function serveMetrics(res: http.ServerResponse): Promise<void> {
  const text = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType }).end(text);
}

/** A worker's own listener: its metrics and liveness (it serves no API). */
export async function startOpsServer(host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/metrics') serveMetrics(res).catch(() => res.destroy());
    else if (path === '/healthz') sendJson(res, 200, { status: 'ok' });
    else sendJson(res, 404, { code: 'not_found', message: `no such path ${path}` });
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * /readyz: 503 while the store or Temporal is unreachable, naming each; answered from the last
 * probe, so at once. Without a delivery worker the API still takes and keeps events: ready,
 * saying that delivery waits for one.
 */
function readiness(outages: Outage[]): [number, JsonObject] {
  const down = outages.map((outage) => ({ dependency: outage.dependency, since: new Date(outage.since).toISOString(), reason: describeOutage(outage) }));
  const blocking = outages.filter((outage) => outage.dependency !== 'worker');
  if (blocking.length > 0) return [503, { status: 'unavailable', reason: blocking.map(describeOutage).join('; '), down }];
  return [200, { status: 'ready', ...(down.length > 0 ? { down } : {}) }];
}

const isJson = (req: http.IncomingMessage) => /^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '');

export async function startApiServer(deps: ApiDependencies, host: string, httpPort: number, grpcPort: number): Promise<ApiServer> {
  // What Node's --disable-proto=delete does: without Object.prototype's `__proto__` accessor, a
  // `__proto__` key in a request (a protobuf map's or Struct's, decoded by assignment) is an
  // ordinary own key that validation sees and refuses, rather than one silently dropped or made
  // an object's prototype. Done here, so that however the process is started, requests never
  // meet the accessor; nothing of ours or of our dependencies uses it.
  Reflect.deleteProperty(Object.prototype, '__proto__');
  const router = createConnectRouter({
    interceptors: [authInterceptor(deps.keys, deps.sessions, deps.admission)],
    // A JSON body that is not valid UTF-8 is refused, never read with U+FFFD in its place (those
    // connect-es reads itself: compressed ones). Its router passes these options on to its JSON
    // serialization, which takes a text decoder, though the router's type leaves that out.
    jsonOptions: { ...jsonWriteOptions, textDecoder: new TextDecoder('utf-8', { fatal: true }) } as typeof jsonWriteOptions,
    readMaxBytes: maxMessageBytes,
    acceptCompression: [compressionGzip, compressionBrotli],
  });
  routes(deps)(router);
  const procedures = new Map<string, UniversalHandler>(router.handlers.map((handler) => [handler.requestPath, handler]));
  const serveConsole = consoleHandler({ keys: deps.keys, sessions: deps.sessions });
  const serveDownload = downloadHandler(deps);

  /** Answers an RPC; `json`: a body already read (unary Connect JSON, or a REST call's request). */
  async function serveRpc(handler: UniversalHandler, req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse, json?: JsonValue) {
    const uReq = universalRequestFromNodeRequest(req, res, json, undefined);
    await universalResponseToNodeResponse(await parseFailureAsInvalid(await handler(uReq)), res);
  }

  /** A REST call: its RPC's handler answers a Connect JSON request made from the path and body. */
  async function serveRest(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<boolean> {
    const match = matchRest(req.method ?? 'GET', path);
    if (match.kind === 'none') return false;
    if (match.kind === 'method') {
      sendJson(res, 405, { code: 'unimplemented', message: `${req.method} is not supported on ${path}` }, { allow: match.allow.join(', ') });
      return true;
    }
    const { route, params } = match;
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    checkQuery(route, query);
    const body = route.method === 'POST' || route.method === 'PATCH' ? restBody(parseJson(await readBody(req, maxRestBodyBytes))) : {};
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    const header = new Headers({ 'content-type': 'application/json', 'connect-protocol-version': '1' });
    if (req.headers.authorization) header.set('authorization', req.headers.authorization);
    const uReq: UniversalServerRequest = {
      httpVersion: req.httpVersion,
      method: 'POST',
      url: `http://${req.headers.host ?? 'localhost'}${procedurePath(route.rpc)}`,
      header,
      body: route.request(params, body, query),
      signal: abort.signal,
    };
    const answer = await procedures.get(procedurePath(route.rpc))!(uReq);
    const headers: Record<string, string> = {};
    answer.header?.forEach((value, name) => (headers[name] = value));
    const chunks: Uint8Array[] = [];
    if (answer.body) for await (const chunk of answer.body) chunks.push(chunk);
    res.writeHead(answer.status === 200 ? (route.status ?? 200) : answer.status, headers).end(Buffer.concat(chunks));
    return true;
  }

  async function serveHttp1(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const rpc = procedures.get(path);
    try {
      if (rpc) {
        // Unary Connect JSON is read here, so a `__proto__` key is refused before protobuf drops it.
        const readHere = req.method === 'POST' && isJson(req) && !req.headers['content-encoding'];
        await serveRpc(rpc, req, res, readHere ? parseJson(await readBody(req, maxMessageBytes)) : undefined);
      } else if (path === '/healthz') {
        sendJson(res, 200, { status: 'ok' });
      } else if (path === '/metrics') {
        await serveMetrics(res);
      } else if (path === signingKeysPath) {
        // Public keys, unauthenticated: a customer's verifier fetches them.
        sendJson(res, 200, deps.checkpoints.publicKeys() as unknown as JsonValue);
      } else if (path === '/readyz') {
        if (!deps.joined()) sendJson(res, 503, { status: 'starting', reason: "joining the store's API processes (src/ingest/lease.ts)" });
        else sendJson(res, ...readiness(deps.dependencies.current()));
      } else if (!(await serveConsole(req, res, path)) && !(await serveDownload(req, res, path)) && !(await serveRest(req, res, path))) {
        sendJson(res, 404, { code: 'not_found', message: `no such path ${path}` });
      }
    } catch (error) {
      if (res.headersSent) res.destroy();
      else if (error instanceof BodyTooLarge) {
        // The rest of the body is never read: the connection cannot carry another request.
        res.setHeader('connection', 'close');
        sendError(res, error.toConnectError(), rpc ? undefined : 413);
      }
      else sendError(res, error);
    }
  }

  const http1 = http.createServer({ requestTimeout: 60_000 }, (req, res) => void serveHttp1(req, res));
  const h2c = http2.createServer({}, (req, res) => {
    const rpc = procedures.get((req.url ?? '').split('?')[0]);
    if (!rpc) {
      res.writeHead(404).end();
      return;
    }
    serveRpc(rpc, req, res).catch((error) => {
      if (ConnectError.from(error).code !== Code.Aborted) log.error('rpc failed', { path: req.url, error: errorMessage(error) });
    });
  });
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
