// The product page's REST paths, as thin aliases onto the same handlers and JSON shapes as
// Connect:  POST /v1/audit/siem · GET /v1/audit/siem · GET|PATCH|DELETE /v1/audit/siem/{id}
// and test deliveries: POST /v1/audit/siem/test (a draft) · POST /v1/audit/siem/{id}/test
// and what each provider takes: GET /v1/audit/siem/providers
import { create, fromJson, toJson, type DescMessage, type JsonValue, type MessageShape } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { codeToHttpStatus, codeToString } from '@connectrpc/connect/protocol-connect';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CreateDestinationRequestSchema,
  CreateDestinationResponseSchema,
  DeleteDestinationResponseSchema,
  GetDestinationResponseSchema,
  ListDestinationsResponseSchema,
  ListProvidersResponseSchema,
  TestDestinationRequestSchema,
  TestDestinationResponseSchema,
  UpdateDestinationRequestSchema,
  UpdateDestinationResponseSchema,
} from '../gen/auditstream/v1/destinations_pb.js';
import { errorMessage, log } from '../log.js';
import type { ApiKeyStore } from '../store/api-keys.js';
import { authenticate } from './auth.js';
import type { Admission } from './limits.js';
import { describeProviders, type DestinationsApi } from './destinations.js';
import { invalid } from './validate.js';

export const jsonWriteOptions = { alwaysEmitImplicit: true } as const;
const maxBodyBytes = 1024 * 1024;

/** A body over the limit: 413 (RESOURCE_EXHAUSTED alone would map to 429). */
class BodyTooLarge extends Error {
  constructor() {
    super(`request body is over ${maxBodyBytes} bytes`);
  }
}

async function readJson(req: IncomingMessage): Promise<JsonValue> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw invalid('request body is not valid JSON');
  }
}

function parseAs<Desc extends DescMessage>(schema: Desc, json: JsonValue): MessageShape<Desc> {
  try {
    return fromJson(schema, json);
  } catch (error) {
    throw invalid(errorMessage(error));
  }
}

function send(res: ServerResponse, status: number, body: JsonValue): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
  res.end(bytes);
}

export function sendError(res: ServerResponse, error: unknown): void {
  const connectError = error instanceof BodyTooLarge ? new ConnectError(error.message, Code.ResourceExhausted) : ConnectError.from(error);
  if (connectError.code === Code.Internal || connectError.code === Code.Unknown) {
    log.error('request failed', { error: errorMessage(error) });
  }
  connectError.metadata.forEach((value, name) => res.setHeader(name, value));
  const status = error instanceof BodyTooLarge ? 413 : codeToHttpStatus(connectError.code);
  send(res, status, { code: codeToString(connectError.code), message: connectError.rawMessage });
}

const collection = '/v1/audit/siem';

/** Handles the request if it is a REST path; false when it is not one. */
export function restHandler(keys: ApiKeyStore, admission: Admission, api: DestinationsApi) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = (req.url ?? '').split('?')[0].replace(/\/+$/, '');
    if (path !== collection && !path.startsWith(`${collection}/`)) return false;
    try {
      const caller = await authenticate(keys, req.headers.authorization);
      admission.admit(caller.tenantId, caller.scopes, 'manage');
      const tenantId = caller.tenantId;
      const rest = path === collection ? [] : path.slice(collection.length + 1).split('/').map(decodeURIComponent);
      const testing = rest[rest.length - 1] === 'test' && req.method === 'POST';
      const id = testing ? rest[0] === 'test' ? undefined : rest[0] : rest[0];
      if (path === `${collection}/providers` && req.method === 'GET') {
        send(res, 200, toJson(ListProvidersResponseSchema, describeProviders(), jsonWriteOptions));
      } else if (testing) {
        const request = id === undefined
          ? { target: { case: 'draft' as const, value: parseAs(CreateDestinationRequestSchema, await readJson(req)) } }
          : { target: { case: 'id' as const, value: id } };
        const response = await api.test(tenantId, create(TestDestinationRequestSchema, request));
        send(res, 200, toJson(TestDestinationResponseSchema, response, jsonWriteOptions));
      } else if (rest.length > 1) {
        send(res, 404, { code: 'not_found', message: `no such path ${path}` });
      } else if (id === undefined && req.method === 'POST') {
        const request = parseAs(CreateDestinationRequestSchema, await readJson(req));
        send(res, 201, toJson(CreateDestinationResponseSchema, await api.create(tenantId, request), jsonWriteOptions));
      } else if (id === undefined && req.method === 'GET') {
        send(res, 200, toJson(ListDestinationsResponseSchema, await api.list(tenantId), jsonWriteOptions));
      } else if (id !== undefined && req.method === 'GET') {
        send(res, 200, toJson(GetDestinationResponseSchema, await api.get(tenantId, id), jsonWriteOptions));
      } else if (id !== undefined && req.method === 'PATCH') {
        const body = await readJson(req);
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('request body must be a JSON object');
        const request = parseAs(UpdateDestinationRequestSchema, { ...body, id });
        send(res, 200, toJson(UpdateDestinationResponseSchema, await api.update(tenantId, request), jsonWriteOptions));
      } else if (id !== undefined && req.method === 'DELETE') {
        send(res, 200, toJson(DeleteDestinationResponseSchema, await api.delete(tenantId, id), jsonWriteOptions));
      } else {
        res.setHeader('allow', id === undefined ? 'GET, POST' : 'GET, PATCH, DELETE');
        send(res, 405, { code: 'unimplemented', message: `${req.method} is not supported on ${path}` });
      }
    } catch (error) {
      sendError(res, error);
    }
    return true;
  };
}
