// What a destination's receiver stored, read back as its vendor's API answers it.
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { stack } from './clients.js';
import type { Moto } from './fakes/moto.js';

/** The messages of a CloudWatch log stream in moto, oldest first (none while it does not exist). */
export async function cloudwatchMessages(moto: Moto, group: string, stream: string, credentials: { accessKeyId: string; secretAccessKey: string }): Promise<string[]> {
  const reader = new CloudWatchLogsClient({
    region: 'eu-west-1',
    endpoint: moto.url,
    credentials,
    requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: readFileSync(stack.pki.caFile) }) }),
  });
  try {
    const page = await reader.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true }));
    return (page.events ?? []).map((event) => event.message ?? '');
  } catch {
    return [];
  } finally {
    reader.destroy();
  }
}

/** The `_source` of the documents with these ids in an index of the suite's Elasticsearch (none while it does not exist). */
export async function elasticSources(index: string, ids: string[]): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${stack.vendors.elasticsearch}/${index}/_search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: { ids: { values: ids } } }),
  });
  if (!response.ok) return [];
  return ((await response.json()).hits.hits as { _source: Record<string, unknown> }[]).map((hit) => hit._source);
}
