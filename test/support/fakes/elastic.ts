// An Elasticsearch _bulk endpoint: ApiKey auth, NDJSON with a final newline, action/source
// pairs, `create` refusing an existing _id with 409, data streams (logs-*) taking only
// `create` and needing @timestamp, per-item and per-request failure injection.
import type { TestPki } from '../tls.js';
import { startFakeServer, type FakeServer } from './server.js';

export interface FakeElastic extends FakeServer {
  /** index → _id → document */
  indices: Map<string, Map<string, Record<string, any>>>;
  /** Item status to answer for a given _id (once). */
  failItem(id: string, status: number, type: string): void;
}

export async function startFakeElastic(pki: TestPki, apiKey: string, maxContentLength = 100 * 1024 * 1024): Promise<FakeElastic> {
  const indices = new Map<string, Map<string, Record<string, any>>>();
  const itemFailures = new Map<string, { status: number; type: string }>();
  const server = await startFakeServer(pki, { encodings: ['gzip', 'deflate'] }, (request) => {
    const match = /^\/(?:([^/_][^/]*)\/)?_bulk$/.exec(request.path);
    if (!match || request.method !== 'POST') return { status: 404, json: { error: 'no handler' } };
    if (request.headers.authorization !== `ApiKey ${apiKey}`) {
      return { status: 401, json: { error: { type: 'security_exception', reason: 'unable to authenticate with provided credentials' }, status: 401 } };
    }
    const contentType = String(request.headers['content-type'] ?? '');
    if (!contentType.startsWith('application/x-ndjson') && !contentType.startsWith('application/json')) {
      return { status: 406, json: { error: `Content-Type header [${contentType}] is not supported`, status: 406 } };
    }
    if (request.body.length > maxContentLength) return { status: 413, json: {} };
    const text = request.body.toString('utf8');
    if (!text.endsWith('\n')) {
      return { status: 400, json: { error: { type: 'illegal_argument_exception', reason: 'The bulk request must be terminated by a newline [\\n]' }, status: 400 } };
    }
    const lines = text.slice(0, -1).split('\n');
    const items: Record<string, any>[] = [];
    let errors = false;
    for (let i = 0; i < lines.length; i += 2) {
      let action: Record<string, any>;
      let source: Record<string, any>;
      try {
        action = JSON.parse(lines[i]);
        source = JSON.parse(lines[i + 1]);
      } catch {
        return { status: 400, json: { error: { type: 'x_content_parse_exception', reason: `malformed line ${i + 1}` }, status: 400 } };
      }
      const [op] = Object.keys(action);
      const meta = action[op] ?? {};
      const index: string = meta._index ?? match[1];
      const id: string = meta._id;
      const result = (status: number, error?: { type: string; reason: string }) => {
        if (error) errors = true;
        items.push({ [op]: { _index: index, _id: id, status, ...(error ? { error } : {}) } });
      };
      const injected = itemFailures.get(id);
      if (injected) {
        itemFailures.delete(id);
        result(injected.status, { type: injected.type, reason: 'injected' });
        continue;
      }
      const isDataStream = index.startsWith('logs-');
      if (isDataStream && op !== 'create') {
        result(400, { type: 'illegal_argument_exception', reason: 'only write ops with an op_type of create are allowed in data streams' });
        continue;
      }
      if (isDataStream && !source['@timestamp']) {
        result(400, { type: 'mapper_parsing_exception', reason: 'data stream timestamp field [@timestamp] is missing' });
        continue;
      }
      const docs = indices.get(index) ?? new Map();
      indices.set(index, docs);
      if (op === 'create' && docs.has(id)) {
        result(409, { type: 'version_conflict_engine_exception', reason: `[${id}]: version conflict, document already exists` });
        continue;
      }
      docs.set(id, source);
      result(201);
    }
    return { status: 200, json: { took: 1, errors, items } };
  });
  return Object.assign(server, {
    indices,
    failItem(id: string, status: number, type: string) {
      itemFailures.set(id, { status, type });
    },
  });
}
