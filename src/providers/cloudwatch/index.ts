// AWS CloudWatch Logs through the official SDK (SigV4, retries off: the workflow retries).
// The log group and stream are created when missing.
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LRUCache } from 'lru-cache';
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { HttpClient } from '../http.js';
import type { DeliveryTarget, EncodedEvent, Provider, SendOutcome } from '../provider.js';
import { classifyCloudWatchError, rejectedIndexes } from './classify.js';
import { encodeCloudWatchEvent } from './encode.js';
import { buildLogBatches, type LogBatch } from './request.js';

// The SDK warns once per process on Node 20 that its releases after January 2027 will need Node
// 22: the version pinned here supports Node 20, and README says which Node versions are
// supported, so the warning says nothing a user must act on. (Its documented switch.)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// One SDK client (and its keep-alive agent) per destination, the most recently used kept, so a
// tenant's many destinations or a stream of credential changes cannot grow the process without
// bound. A client is replaced when the destination's endpoint, region or keys change; a draft
// under test gets a client of its own, closed once its one request is answered.
const clients = new LRUCache<string, { fingerprint: string; client: CloudWatchLogsClient }>({
  max: 256,
  dispose: ({ client }) => client.destroy(),
});

function newClient(target: DeliveryTarget, http: HttpClient): CloudWatchLogsClient {
  const { accessKeyId, secretAccessKey } = target.credentials;
  return new CloudWatchLogsClient({
    region: target.settings.region!,
    endpoint: target.endpoint,
    credentials: { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpsAgent: new https.Agent({ keepAlive: true, lookup: http.options.egress.lookup, ...(http.secureContext ? { secureContext: http.secureContext } : {}) }),
      connectionTimeout: http.options.timeoutMs,
      requestTimeout: http.options.timeoutMs,
    }),
  });
}

function cachedClient(target: DeliveryTarget, http: HttpClient): CloudWatchLogsClient {
  const { accessKeyId, secretAccessKey } = target.credentials;
  const fingerprint = createHash('sha256').update(`${target.endpoint}\n${target.settings.region}\n${accessKeyId}\n${secretAccessKey}`).digest('hex');
  const cached = clients.get(target.id);
  if (cached?.fingerprint === fingerprint) return cached.client;
  const client = newClient(target, http);
  clients.set(target.id, { fingerprint, client });
  return client;
}

async function ensureGroupAndStream(client: CloudWatchLogsClient, group: string, stream: string): Promise<void> {
  const ignoreExisting = (error: { name?: string }) => {
    if (error.name !== 'ResourceAlreadyExistsException') throw error;
  };
  await client.send(new CreateLogGroupCommand({ logGroupName: group })).catch(ignoreExisting);
  await client.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream })).catch(ignoreExisting);
}

export const cloudwatch: Provider = {
  name: 'cloudwatch',
  title: 'AWS CloudWatch',
  transport: 'Logs subscription (PutLogEvents)',
  endpointExample: 'https://logs.eu-west-1.amazonaws.com',
  setup: [
    'Create an IAM user with logs:CreateLogStream and logs:PutLogEvents permissions (and logs:CreateLogGroup if the group does not exist yet).',
    'Note the access key ID and secret access key.',
    'Use the CloudWatch Logs endpoint for your region as the endpoint.',
  ],
  credentials: {
    accessKeyId: { label: 'Access key ID', about: 'access key ID of the IAM user' },
    secretAccessKey: { label: 'Secret access key', about: 'secret access key of the IAM user' },
  },
  settings: {
    region: {
      kind: 'text',
      required: true,
      about: 'AWS region of the log group, e.g. "eu-west-1"',
      check: (region) => (/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region) ? undefined : 'cloudwatch destinations need settings.region, e.g. "eu-west-1"'),
    },
    logGroup: {
      kind: 'text',
      required: true,
      about: 'log group, created when missing',
      check: (group) => (/^[.\-_/#A-Za-z0-9]{1,512}$/.test(group) ? undefined : 'cloudwatch destinations need settings.log_group (letters, digits and . - _ / #)'),
    },
    logStream: {
      kind: 'text',
      required: true,
      about: 'log stream, created when missing',
      check: (stream) => (/^[^:*]{1,512}$/.test(stream) ? undefined : 'cloudwatch destinations need settings.log_stream (no ":" or "*")'),
    },
  },
  limits: { maxEventsPerRequest: 10_000, maxBytesPerRequest: 1_048_576, maxBytesPerEvent: 262_144 - 26 },
  framing: { perRequest: 0, perEvent: 26 },
  encode: (event, target) => encodeCloudWatchEvent(event, target),
  async send(events, target, context): Promise<SendOutcome> {
    const blocked = context.http.options.egress.refuseLiteral(new URL(target.endpoint).hostname);
    if (blocked) return { kind: 'config', reason: blocked.message };
    const client = target.draft ? newClient(target, context.http) : cachedClient(target, context.http);
    try {
      return await putAll(client, events, target, context.http.options.timeoutMs);
    } finally {
      if (target.draft) client.destroy();
    }
  },
};

async function putAll(client: CloudWatchLogsClient, events: EncodedEvent[], target: DeliveryTarget, timeoutMs: number): Promise<SendOutcome> {
  const group = target.settings.logGroup!;
  const stream = target.settings.logStream!;
  const put = (batch: LogBatch) =>
    client.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: batch.logEvents }));
  const rejected: { index: number; reason: string }[] = [];
  for (const batch of buildLogBatches(events)) {
    let answer;
    try {
      answer = await put(batch).catch(async (error: { name?: string }) => {
        if (error.name !== 'ResourceNotFoundException') throw error;
        await ensureGroupAndStream(client, group, stream);
        return put(batch);
      });
    } catch (error) {
      return classifyCloudWatchError(error, timeoutMs);
    }
    for (const { index, reason } of rejectedIndexes(answer.rejectedLogEventsInfo, batch.logEvents.length)) {
      rejected.push({ index: batch.positions[index], reason });
    }
  }
  return rejected.length === 0 ? { kind: 'ok' } : { kind: 'partial', rejected, retry: [], reason: rejected[0].reason };
}
