// The product page's REST paths, as thin aliases: each maps a method and path onto one RPC
// and its JSON shapes, and is answered by that RPC's Connect handler — so authentication,
// scopes, rate limits, validation and errors are exactly those of gRPC and Connect.
//   POST /v1/audit/siem (201) · GET /v1/audit/siem · GET|PATCH|DELETE /v1/audit/siem/{id}
//   POST /v1/audit/siem/test (a draft) · POST /v1/audit/siem/{id}/test · GET /v1/audit/siem/providers
//   POST|GET /v1/audit/siem/{id}/backfills · GET /v1/audit/siem/{id}/backfills/{b} · POST …/{b}/cancel
//   GET /v1/audit/events[?filters][&newest_first=true] · GET /v1/audit/events/{id} · GET|PATCH /v1/audit/retention
//   POST /v1/audit/exports (201) · GET /v1/audit/exports · GET /v1/audit/exports/{id}
//   (and the file itself: GET /v1/audit/exports/{id}/download, ./downloads.ts)
import type { DescMethod, JsonObject, JsonValue } from '@bufbuild/protobuf';
import { AuditLogService } from '../gen/auditstream/v1/audit_pb.js';
import { DestinationService } from '../gen/auditstream/v1/destinations_pb.js';
import { decodePathSegment, invalid } from './validate.js';

export interface RestRoute {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Segments; `{name}` is a parameter. */
  path: string;
  rpc: DescMethod;
  /** HTTP status of a success (the RPC's is 200). */
  status?: number;
  /** The query parameters it takes (others are refused, not ignored). */
  query?: readonly string[];
  /** The RPC's request JSON, from the path's parameters, the query and the body. */
  request: (params: Record<string, string>, body: JsonObject, query: URLSearchParams) => JsonValue;
}

const siem = DestinationService.method;
const audit = AuditLogService.method;

const eventFilterFields = ['occurred_after', 'occurred_before', 'action', 'action_prefix', 'actor_id', 'resource_type', 'resource_id', 'outcome', 'subject_id', 'outcomes'] as const;

/** `?page_size=` as a number when it is one (else as given, for the RPC to refuse with its message). */
function pageSizeOf(query: URLSearchParams): JsonObject {
  const pageSize = query.get('page_size');
  return pageSize === null ? {} : { page_size: /^\d+$/.test(pageSize) ? Number(pageSize) : pageSize };
}

/** `?page_size=&page_token=` of a listing. */
function pageOf(query: URLSearchParams): JsonObject {
  const token = query.get('page_token');
  return { ...pageSizeOf(query), ...(token === null ? {} : { page_token: token }) };
}

/** The query string of GET /v1/audit/events as QueryEvents' JSON: `?action_prefix=user.&page_size=50&cursor=…`. */
function eventQuery(query: URLSearchParams): JsonObject {
  const filter: JsonObject = {};
  for (const field of eventFilterFields) {
    const value = query.get(field);
    // outcomes: comma-separated, ?outcomes=failure,unknown
    if (value !== null) filter[field] = field === 'outcomes' ? value.split(',') : value;
  }
  const request: JsonObject = { filter };
  Object.assign(request, pageSizeOf(query));
  const cursor = query.get('cursor');
  if (cursor !== null) request.cursor = cursor;
  const newestFirst = query.get('newest_first');
  if (newestFirst !== null) request.newest_first = newestFirst === 'true' ? true : newestFirst === 'false' ? false : newestFirst;
  return request;
}

/** Literal segments are matched before parameters, so `/v1/audit/siem/test` is not an id. */
export const restRoutes: RestRoute[] = [
  { method: 'POST', path: '/v1/audit/siem', rpc: siem.createDestination, status: 201, request: (_, body) => body },
  { method: 'GET', path: '/v1/audit/siem', rpc: siem.listDestinations, request: () => ({}) },
  { method: 'GET', path: '/v1/audit/siem/providers', rpc: siem.listProviders, request: () => ({}) },
  { method: 'POST', path: '/v1/audit/siem/test', rpc: siem.testDestination, request: (_, body) => ({ draft: body }) },
  { method: 'POST', path: '/v1/audit/siem/mask-token', rpc: siem.maskToken, request: (_, body) => body },
  { method: 'GET', path: '/v1/audit/siem/{id}', rpc: siem.getDestination, request: ({ id }) => ({ id }) },
  { method: 'PATCH', path: '/v1/audit/siem/{id}', rpc: siem.updateDestination, request: ({ id }, body) => ({ ...body, id }) },
  { method: 'DELETE', path: '/v1/audit/siem/{id}', rpc: siem.deleteDestination, request: ({ id }) => ({ id }) },
  { method: 'POST', path: '/v1/audit/siem/{id}/test', rpc: siem.testDestination, request: ({ id }) => ({ id }) },
  { method: 'POST', path: '/v1/audit/siem/{id}/backfills', rpc: siem.backfillDestination, status: 201, request: ({ id }, body) => ({ ...body, id }) },
  { method: 'GET', path: '/v1/audit/siem/{id}/backfills', rpc: siem.listBackfills, request: ({ id }) => ({ destinationId: id }) },
  { method: 'GET', path: '/v1/audit/siem/{id}/checkpoints', rpc: siem.listCheckpoints, query: ['page_size', 'page_token'], request: ({ id }, _, query) => ({ destinationId: id, ...pageOf(query) }) },
  { method: 'GET', path: '/v1/audit/siem/{id}/backfills/{backfill}', rpc: siem.getBackfill, request: ({ id, backfill }) => ({ destinationId: id, id: backfill }) },
  { method: 'POST', path: '/v1/audit/siem/{id}/backfills/{backfill}/cancel', rpc: siem.cancelBackfill, request: ({ id, backfill }) => ({ destinationId: id, id: backfill }) },
  { method: 'GET', path: '/v1/audit/events', rpc: audit.queryEvents, query: [...eventFilterFields, 'page_size', 'cursor', 'newest_first'], request: (_, __, query) => eventQuery(query) },
  { method: 'GET', path: '/v1/audit/events/{id}', rpc: audit.getEvent, request: ({ id }) => ({ id }) },
  { method: 'GET', path: '/v1/audit/retention', rpc: audit.getRetention, request: () => ({}) },
  { method: 'PATCH', path: '/v1/audit/retention', rpc: audit.updateRetention, request: (_, body) => body },
  { method: 'POST', path: '/v1/audit/exports', rpc: audit.createExport, status: 201, request: (_, body) => body },
  { method: 'GET', path: '/v1/audit/exports', rpc: audit.listExports, request: () => ({}) },
  { method: 'GET', path: '/v1/audit/exports/{id}', rpc: audit.getExport, request: ({ id }) => ({ id }) },
];

/** The procedure path of an RPC, as Connect serves it. */
export function procedurePath(rpc: DescMethod): string {
  return `/${rpc.parent.typeName}/${rpc.name}`;
}

function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith('{')) {
      if (got[i] === '') return undefined;
      params[want[i].slice(1, -1)] = decodePathSegment(got[i]);
    } else if (want[i] !== got[i]) {
      return undefined;
    }
  }
  return params;
}

export type RestMatch =
  | { kind: 'route'; route: RestRoute; params: Record<string, string> }
  /** The path exists, not with this method. */
  | { kind: 'method'; allow: string[] }
  | { kind: 'none' };

export function matchRest(method: string, rawPath: string): RestMatch {
  const path = rawPath.replace(/\/+$/, '');
  const candidates = restRoutes
    .map((route) => ({ route, params: matchPath(route.path, path) }))
    .filter((candidate): candidate is { route: RestRoute; params: Record<string, string> } => candidate.params !== undefined);
  // A literal path (`/test`, `/providers`) shadows the parameter route of the same shape.
  const literal = candidates.filter(({ route }) => !route.path.includes('{'));
  const shaped = literal.length > 0 ? literal : candidates;
  const found = shaped.find(({ route }) => route.method === method);
  if (found) return { kind: 'route', ...found };
  if (shaped.length > 0) return { kind: 'method', allow: shaped.map(({ route }) => route.method) };
  return { kind: 'none' };
}

/** Refuses query parameters a route does not take: a misspelt filter must not answer as if there were none. */
export function checkQuery(route: RestRoute, query: URLSearchParams): void {
  const unknown = [...new Set(query.keys())].filter((name) => !route.query?.includes(name));
  if (unknown.length === 0) return;
  const takes = route.query ? `it takes ${route.query.join(', ')}` : 'it takes none';
  throw invalid(`unknown query parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((name) => `"${name.slice(0, 40)}"`).join(', ')} on ${route.method} ${route.path}: ${takes}`);
}

/** The body of a REST call, which must be a JSON object when there is one. */
export function restBody(json: JsonValue): JsonObject {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid('request body must be a JSON object');
  return json;
}
