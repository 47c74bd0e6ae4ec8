// Starts the real stack once per test run — FerretDB, the Temporal dev server, and the
// service itself as its own process — on free ports in a temporary directory, and the real
// vendor servers the providers are tested against (Elasticsearch, the OpenTelemetry
// Collector's Splunk HEC receiver), and tears it all down at the end.
import type { TestProject } from 'vitest/node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../../src/stack/local.js';
import { localServiceEnv, startServiceProcess } from './service-process.js';
import { makeTestPki, type TestPki } from './tls.js';
import { startElasticsearch, startTlsPassThrough } from './vendors/elasticsearch.js';
import { startSplunkHec, type SplunkHecEndpoints } from './vendors/splunk-hec.js';

export interface StackInfo {
  dir: string;
  mongodbUri: string;
  database: string;
  temporalAddress: string;
  httpUrl: string;
  grpcUrl: string;
  pki: TestPki;
  serviceLog: string;
  /** The environment the service runs with, for tests that start more of it. */
  serviceEnv: Record<string, string>;
  /** Real vendor servers. */
  vendors: {
    /** Elasticsearch itself (plain HTTP, security off), and the same behind HTTPS for the service. */
    elasticsearch: string;
    elasticsearchTls: string;
    hec: SplunkHecEndpoints;
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

/**
 * A server the suite needs did not start: one line saying which and why, and the run ends
 * now — vitest would otherwise report "No test files found" and wait on what did start.
 */
async function cannotStart(what: string, error: unknown, stop: () => Promise<unknown>): Promise<never> {
  const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  await stop().catch(() => undefined);
  process.stderr.write(`\nThe suite cannot start ${what}: ${reason}. Install what is missing with \`node scripts/ensure.mjs --test\` (npm test runs it), then run it again.\n`);
  process.exit(1);
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-test-'));
  const pki = makeTestPki(dir);
  const [stacked, searched, collected] = await Promise.allSettled([
    startLocalStack({ dataDir: join(dir, 'stack'), mongodb: true, temporal: true, headless: true }),
    startElasticsearch({ pki }),
    startSplunkHec(pki),
  ]);
  const stopStarted = () => Promise.all([stacked, searched, collected].map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)));
  if (stacked.status === 'rejected') return cannotStart('FerretDB and the Temporal dev server', stacked.reason, stopStarted);
  if (searched.status === 'rejected') return cannotStart('Elasticsearch', searched.reason, stopStarted);
  if (collected.status === 'rejected') return cannotStart("the OpenTelemetry Collector's Splunk HEC receiver", collected.reason, stopStarted);
  const [stack, elasticsearch, hec] = [stacked.value, searched.value, collected.value];
  const elasticsearchTls = await startTlsPassThrough(pki, elasticsearch.url);
  const stopVendors = () => Promise.all([elasticsearch.stop(), hec.stop(), elasticsearchTls.close()]);
  const serviceEnv: Record<string, string> = {
    ...(await localServiceEnv(stack, pki, dir)),
    MONGODB_DATABASE: 'auditstream_test',
    AUDITSTREAM_OUTBOUND_TIMEOUT: '5s',
    AUDITSTREAM_INITIAL_BACKOFF: '200ms',
    AUDITSTREAM_MAX_BACKOFF: '2s',
    AUDITSTREAM_RETRY_WINDOW: '10s',
    AUDITSTREAM_DELETE_FLUSH_DEADLINE: '5s',
    // Checkpoints every few seconds: every test's destinations send them, and the completeness tests verify them.
    AUDITSTREAM_CHECKPOINT_INTERVAL: '3s',
    AUDITSTREAM_LOG_LEVEL: 'info',
    AUDITSTREAM_PUBLISH_RATE: '2000',
    AUDITSTREAM_PUBLISH_BURST: '3000',
    AUDITSTREAM_MANAGE_RATE: '50',
    AUDITSTREAM_MANAGE_BURST: '100',
    AUDITSTREAM_READ_RATE: '50',
    AUDITSTREAM_READ_BURST: '200',
    // Small partitions, so the suite's tenants span several; a short settle, so pages come quickly.
    AUDITSTREAM_AUDIT_PARTITION_CHUNKS: '20',
    AUDITSTREAM_AUDIT_SETTLE: '1s',
  };
  const serviceLog = join(dir, 'service.log');
  let service;
  try {
    service = await startServiceProcess(serviceEnv, serviceLog);
  } catch (error) {
    return cannotStart(`the service (its log: ${serviceLog})`, error, () => Promise.all([stack.stop(), stopVendors()]));
  }
  project.provide('stack', {
    dir,
    mongodbUri: stack.mongodbUri!,
    database: 'auditstream_test',
    temporalAddress: stack.temporalAddress!,
    httpUrl: service.httpUrl,
    grpcUrl: service.grpcUrl,
    pki,
    serviceLog,
    serviceEnv,
    vendors: { elasticsearch: elasticsearch.url, elasticsearchTls: elasticsearchTls.url, hec: { ackUrl: hec.ackUrl, plainUrl: hec.plainUrl, outputs: hec.outputs } },
  });
  return async () => {
    await service.stop();
    await Promise.all([stack.stop(), stopVendors()]);
    if (!process.env.AUDITSTREAM_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  };
}
