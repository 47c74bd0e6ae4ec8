// How tests reach the running service: as users do (REST, Connect JSON, gRPC with
// @grpc/grpc-js from the .proto files), plus direct access to the real MongoDB and Temporal
// for checks no API exposes.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Client, Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { join } from 'node:path';
import { inject } from 'vitest';
import { ApiKeyStore } from '../../src/store/api-keys.js';
import { loadConfig } from '../../src/config.js';
import { AuditLog, tenantKey, type SeqEvent } from '../../src/store/audit-log.js';
import { projectRoot } from '../../src/stack/local.js';
import type { StackInfo } from './global-setup.js';

export { eventually } from './wait.js';

export const stack: StackInfo = inject('stack');

export interface JsonResponse {
  status: number;
  body: any;
}

export async function rest(key: string | undefined, method: string, path: string, body?: unknown): Promise<JsonResponse> {
  const response = await fetch(`${stack.httpUrl}${path}`, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** A unary Connect call with the JSON codec, e.g. connectJson(key, 'DestinationService', 'CreateDestination', {...}). */
export async function connectJson(key: string | undefined, service: string, method: string, body: unknown): Promise<JsonResponse> {
  const response = await fetch(`${stack.httpUrl}/auditstream.v1.${service}/${method}`, {
    method: 'POST',
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

let mongo: MongoClient | undefined;
export async function database() {
  // Small, like the service's own pools: FerretDB wedges once 100 updates are in flight (store-load.test.ts).
  mongo ??= await new MongoClient(stack.mongodbUri, { maxPoolSize: 4 }).connect();
  return mongo.db(stack.database);
}

export async function issueKey(tenantId: string): Promise<string> {
  const db = await database();
  const keys = new ApiKeyStore({ apiKeys: db.collection('api_keys') } as never);
  return (await keys.issue(tenantId, 'test key')).key;
}

/**
 * Every event stored in a tenant's audit log, in acceptance order, the newest chunk included
 * however recent: of the suite's service, or of another one (its database and environment).
 */
export async function storedEventsOf(tenantId: string, of: { database: string; env: Record<string, string> } = { database: stack.database, env: stack.serviceEnv }): Promise<SeqEvent[]> {
  const db = (await database()).client.db(of.database);
  const options = { ...loadConfig(of.env).auditLog, settleMs: 0, cacheEvents: 0 };
  const log = new AuditLog(db, { tenants: db.collection('tenants'), logFloors: db.collection('log_floors') }, options);
  const events: SeqEvent[] = [];
  for await (const event of log.stream(tenantId, {})) events.push(event);
  return events;
}

/** The ids in a tenant's registry, whatever generation holds them. */
export async function registeredIdsOf(tenantId: string): Promise<Set<string>> {
  return new Set((await docsOfCollections(`ids_${tenantKey(tenantId)}_`)).map((doc) => doc._id));
}

async function docsOfCollections(prefix: string): Promise<any[]> {
  const db = await database();
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((name) => name.startsWith(prefix));
  return (await Promise.all(names.map((name) => db.collection(name).find({}).toArray()))).flat();
}

let temporal: Client | undefined;
export async function temporalClient(): Promise<Client> {
  temporal ??= new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  return temporal;
}

export async function closeClients(): Promise<void> {
  await mongo?.close();
  mongo = undefined;
  await temporal?.connection.close();
  temporal = undefined;
}

const definition = protoLoader.loadSync(['auditstream/v1/events.proto', 'auditstream/v1/destinations.proto'], {
  includeDirs: [join(projectRoot, 'proto')],
  keepCase: true,
  longs: String,
  defaults: false,
});
const proto = grpc.loadPackageDefinition(definition) as any;

/** A gRPC client for a service of auditstream.v1, built from the .proto files at run time (to the suite's service, or another at `grpcUrl`). */
export function grpcClient(service: 'EventService' | 'DestinationService', key: string, grpcUrl = stack.grpcUrl) {
  const Service = proto.auditstream.v1[service];
  const client = new Service(grpcUrl.replace('http://', ''), grpc.credentials.createInsecure());
  const call = <T>(method: string, request: unknown): Promise<T> =>
    new Promise((resolve, reject) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${key}`);
      client[method](request, metadata, (error: grpc.ServiceError | null, response: T) => (error ? reject(error) : resolve(response)));
    });
  return { call, close: () => client.close() };
}

/** A workflow's whole history as searchable text, with every payload decoded from base64. */
export async function historyText(workflowId: string): Promise<string> {
  const history = await (await temporalClient()).workflow.getHandle(workflowId).fetchHistory();
  const parts: string[] = [];
  const visit = (value: unknown, key?: string): void => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
    else if (typeof value === 'string') parts.push(key === 'data' ? Buffer.from(value, 'base64').toString('utf8') : value);
    else if (Array.isArray(value)) value.forEach((item) => visit(item));
    else if (value && typeof value === 'object') Object.entries(value).forEach(([k, v]) => visit(v, k));
  };
  visit(JSON.parse(JSON.stringify(history)));
  return parts.join('\n');
}
