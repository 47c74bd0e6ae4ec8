// The service's real pieces wired in-process against a given Temporal test environment
// (time-skipping or a dev server started for one test) and the shared FerretDB, for tests
// that must control time or the server's settings.
import { SigningKeys } from '../../src/completeness/keys.js';
import { CheckpointStore } from '../../src/store/checkpoints.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { randomBytes, randomUUID } from 'node:crypto';
import { createDeliveryActivities } from '../../activities/delivery.js';
import { DestinationsApi } from '../../src/api/destinations.js';
import { loadConfig, type DeliveryConfig } from '../../src/config.js';
import { Dispatcher } from '../../src/ingest/dispatcher.js';
import { IngestLease } from '../../src/ingest/lease.js';
import { Publisher } from '../../src/ingest/publisher.js';
import { EgressPolicy } from '../../src/providers/egress.js';
import { HttpClient } from '../../src/providers/http.js';
import { CredentialCipher } from '../../src/store/crypto.js';
import { DestinationStore } from '../../src/store/destinations.js';
import { AuditLog } from '../../src/store/audit-log.js';
import { ServiceEvents } from '../../src/audit/self-audit.js';
import { BackfillStore } from '../../src/store/backfills.js';
import type { Caller } from '../../src/store/api-keys.js';
import { Outbox } from '../../src/store/outbox.js';
import { connectStore, type Store } from '../../src/store/mongo.js';
import { TenantStore } from '../../src/store/tenants.js';
import { TenantMasking } from '../../src/subscription/masking.js';
import { DestinationWorkflows } from '../../src/temporal/destinations.js';
import { installRuntime } from '../../src/temporal/runtime.js';
import { workflowsPath } from '../../src/temporal/worker.js';
import { stack } from './clients.js';

/** A caller of the tenant with every scope, as the API would see a test's key. */
export function callerOf(tenantId: string): Caller {
  return { tenantId, scopes: ['publish', 'manage', 'read'], keyPrefix: 'ask_test', keyName: 'test key' };
}

export interface Pipeline {
  store: Store;
  destinations: DestinationsApi;
  publisher: Publisher;
  workflows: DestinationWorkflows;
  /** Runs a fresh worker (a Worker runs once) until `body` is done. */
  withWorker<T>(body: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// Before the test environment's native connection: the first use installs a runtime.
installRuntime();

let bundle: Promise<WorkflowBundle> | undefined;
/** The workflow code is bundled once per test file and shared by every worker. */
function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: { log: () => {}, trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } });
  return bundle;
}

/** The pipeline's checkpoint signing key (a test's verifier trusts it through `SigningKeys`). */
export const signingSeed = randomBytes(32).toString('base64');

export async function inProcessPipeline(env: TestWorkflowEnvironment, delivery: Partial<DeliveryConfig> = {}): Promise<Pipeline> {
  const policy = { ...loadConfig({}).delivery, ...delivery };
  const store = await connectStore(stack.mongodbUri, `pipeline_${randomUUID().slice(0, 8)}`);
  const cipher = new CredentialCipher({ current: 1, keys: new Map([[1, randomBytes(32)]]) });
  const destinationStore = new DestinationStore(store.collections, cipher);
  const outbox = new Outbox(store.collections);
  const tenants = new TenantStore(store.collections);
  const checkpoints = new CheckpointStore(store.db);
  const taskQueue = `pipeline-${randomUUID()}`;
  const workflows = new DestinationWorkflows(env.client, taskQueue, false, (id) => destinationStore.byId(id));
  const dispatcher = new Dispatcher((id, ranges) => workflows.announce(id, ranges), outbox, 0);
  const http = new HttpClient({ timeoutMs: 5_000, caFile: stack.pki.caFile, egress: new EgressPolicy(['127.0.0.1/32']) });
  const serviceEvents = new ServiceEvents(store.collections);
  const auditLog = new AuditLog(store.db, store.collections, loadConfig({}).auditLog);
  // Its own database: the pipeline leads it at once (nothing to forward to, nothing left to finish).
  const lease = await IngestLease.join(store.collections.ingestLease, { ttlMs: 15_000, url: 'http://127.0.0.1:1', onLead: async () => {}, onLost: () => {} });
  const masking = new TenantMasking(randomBytes(32));
  const activities = createDeliveryActivities({
    collections: store.collections,
    destinations: destinationStore,
    http,
    delivery: policy,
    serviceEvents,
    auditLog,
    backfills: new BackfillStore(store.collections),
    masking,
    signingKeys: new SigningKeys('auditstream-test', () => `1:${signingSeed}`),
    checkpoints,
  });
  return {
    store,
    // Nothing is down in these tests: the time-skipping server and its worker are the test's own.
    destinations: new DestinationsApi(destinationStore, tenants, workflows, serviceEvents, { current: () => [] }, {
      allowInsecureEndpoints: false,
      deleteFlushDeadlineMs: policy.deleteFlushDeadlineMs,
      http,
      masking,
      checkpoints,
    }),
    // These tests read no event by id: nothing keeps the id index.
    publisher: new Publisher(tenants, auditLog, outbox, dispatcher, lease, { took: () => undefined }),
    workflows,
    async withWorker(body) {
      const worker = await Worker.create({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        taskQueue,
        workflowBundle: await workflowBundle(),
        activities,
        maxHeartbeatThrottleInterval: '1s',
      });
      return worker.runUntil(body);
    },
    async close() {
      await lease.release();
      await http.close();
      await store.db.dropDatabase();
      await store.close();
    },
  };
}
