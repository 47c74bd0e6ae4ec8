// The composition root: connects the store and Temporal, then runs the API, the worker,
// or both, as AUDITSTREAM_ROLE says.
import { Client, Connection } from '@temporalio/client';
import { DestinationsApi } from './api/destinations.js';
import { EventsApi } from './api/events.js';
import { Admission } from './api/limits.js';
import { startApiServer, startOpsServer } from './api/server.js';
import { log } from './log.js';
import { registerDependencyGauge, registerDestinationGauges } from './metrics.js';
import { bufferRetentionMs, type Config } from './config.js';
import { Dispatcher } from './ingest/dispatcher.js';
import { IdIndexer } from './ingest/id-indexer.js';
import { IngestLease, NotIngesting } from './ingest/lease.js';
import { Publisher } from './ingest/publisher.js';
import { finishInterrupted, startSweeper } from './ingest/sweeper.js';
import { EgressPolicy } from './providers/egress.js';
import { HttpClient } from './providers/http.js';
import { ApiKeyStore } from './store/api-keys.js';
import { loadCipher, loadMaskingKey } from './store/crypto.js';
import { TenantMasking } from './subscription/masking.js';
import { loadSigningKeys } from './completeness/keys.js';
import { CheckpointStore } from './store/checkpoints.js';
import { CheckpointsApi } from './api/checkpoints.js';
import { DestinationStore } from './store/destinations.js';
import { AuditLogApi } from './api/audit-log.js';
import { BackfillsApi } from './api/backfills.js';
import { ServiceEvents, startServiceEventRelay } from './audit/self-audit.js';
import { AuditLog } from './store/audit-log.js';
import { ExportStore } from './store/exports.js';
import { RetentionStore } from './store/retention.js';
import { BackfillStore } from './store/backfills.js';
import { AuditJobs } from './temporal/audit-jobs.js';
import { createAuditActivities } from '../activities/audit.js';
import { errorMessage } from './log.js';
import type { AuditEvent } from './model.js';
import { Outbox } from './store/outbox.js';
import { connectStore, ensureIndexes, type Store } from './store/mongo.js';
import { SessionStore } from './store/sessions.js';
import { TenantStore } from './store/tenants.js';
import { DestinationWorkflows } from './temporal/destinations.js';
import { startWorker, type RunningWorker } from './temporal/worker.js';
import { startWorkerBeat, WorkerWatch, workerSilentAfterMs } from './store/workers.js';
import { DependencyMonitor } from './api/dependencies.js';
import { every } from './every.js';
import { createDeliveryActivities } from '../activities/delivery.js';
import { join } from 'node:path';

export function keyFileOf(config: Config): string {
  return config.encryptionKeyFile ?? join(config.dataDir, 'credentials.key');
}

export function signingKeyFileOf(config: Config): string {
  return config.signingKeyFile ?? join(config.dataDir, 'signing.keys');
}

export interface ServiceEndpoints {
  mongodbUri: string;
  temporalAddress: string;
}

export interface ServiceHooks {
  /** The service cannot go on (its ingest lease was taken over): the caller stops it. */
  onFatal(reason: string): void;
}

export interface RunningService {
  httpUrl?: string;
  grpcUrl?: string;
  store: Store;
  keys: ApiKeyStore;
  stop(): Promise<void>;
}

/** Runs `task` until it succeeds, every 30 s (a job service briefly unreachable at start-up). */
function keepTrying(what: string, task: () => Promise<void>): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = () =>
    task().catch((error) => {
      log.warn(`${what} failed; trying again in 30 s`, { error: errorMessage(error) });
      if (!stopped) timer = setTimeout(attempt, 30_000);
    });
  void attempt();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export async function startService(config: Config, endpoints: ServiceEndpoints, hooks: ServiceHooks): Promise<RunningService> {
  const store = await connectStore(endpoints.mongodbUri, config.mongodbDatabase, config.mongodbPoolSize);
  const cipher = loadCipher({ keys: config.encryptionKeys, keyFile: keyFileOf(config) });
  const signingKeys = loadSigningKeys({ keys: config.signingKeys, keyFile: signingKeyFileOf(config), name: config.signingKeyName });
  const checkpoints = new CheckpointStore(store.db);
  const masking = new TenantMasking(loadMaskingKey({ key: config.maskingKey, keyFile: config.maskingKeyFile ?? join(config.dataDir, 'masking.key') }));
  const destinations = new DestinationStore(store.collections, cipher);
  const auditLog = new AuditLog(store.db, store.collections, config.auditLog);
  const exports = new ExportStore(store.db, store.collections);
  const retention = new RetentionStore(store.collections);
  const backfills = new BackfillStore(store.collections);
  // Set once the API's dependency probes run: while the store is down, keys seen lately are known without asking it.
  let storeDown = () => false;
  const keys = new ApiKeyStore(store.collections, () => storeDown());
  const stoppers: (() => Promise<void>)[] = [];

  const http = new HttpClient({
    timeoutMs: config.outboundTimeoutMs,
    caFile: config.outboundCaFile,
    egress: new EgressPolicy(config.allowPrivateNetworks),
  });
  stoppers.push(() => http.close());
  let worker: RunningWorker | undefined;
  // The worker notes its service events; the API relays them (it alone owns the tenants' sequences).
  const workerEvents = new ServiceEvents(store.collections);
  if (config.role !== 'api') {
    worker = await startWorker({
      address: endpoints.temporalAddress,
      namespace: config.temporalNamespace,
      taskQueue: config.taskQueue,
      activities: {
        ...createDeliveryActivities({
          collections: store.collections,
          destinations,
          http,
          delivery: config.delivery,
          serviceEvents: workerEvents,
          auditLog,
          backfills,
          masking,
          signingKeys,
          checkpoints,
        }),
        ...createAuditActivities({ auditLog, deliveryWindowMs: bufferRetentionMs(config.delivery), destinations, exports, retention, serviceEvents: workerEvents, signingKeys }),
      },
    });
    const beat = startWorkerBeat(store.collections.workerBeats, config.taskQueue);
    stoppers.unshift(async () => {
      await worker!.stop();
      await beat.stop();
    });
    if (config.role === 'worker' && config.metricsPort !== undefined) {
      const ops = await startOpsServer(config.host, config.metricsPort);
      log.info('worker metrics listening', { url: `${ops.url}/metrics` });
      stoppers.unshift(() => ops.close());
    }
  }

  let api: { httpUrl: string; grpcUrl: string } | undefined;
  if (config.role !== 'worker') {
    await ensureIndexes(store.collections);
    registerDestinationGauges(() => destinations.gaugeSources());
    const connection = Connection.lazy({ address: endpoints.temporalAddress });
    const client = new Client({ connection, namespace: config.temporalNamespace });
    const workflows = new DestinationWorkflows(client, config.taskQueue, config.searchAttributes, (id) => destinations.byId(id));
    const tenants = new TenantStore(store.collections);
    const outbox = new Outbox(store.collections);
    const dispatcher = new Dispatcher((id, ranges) => workflows.announce(id, ranges), outbox, config.delivery.announceIntervalMs);
    // Every API process serves; the one that leads the store (src/ingest/lease.ts) is the only
    // one that writes — the others forward such calls to it (src/api/forward.ts) — and it alone
    // runs what finishes and relays writes in the background.
    let lease: IngestLease | undefined;
    const leadership = { get leading() { return lease?.leading ?? false; }, leader: () => lease?.leader() };
    const indexer = new IdIndexer(auditLog.ids, auditLog, () => lease?.holds ?? false);
    const publisher = new Publisher(
      tenants,
      auditLog,
      outbox,
      dispatcher,
      {
        check: () => {
          if (!lease) throw new NotIngesting('this API process is starting');
          lease.check();
        },
      },
      indexer,
    );
    const publish = (tenantId: string, list: AuditEvent[], options: { exclude: string[] }) => publisher.publish(tenantId, list, options);
    const serviceEvents = new ServiceEvents(store.collections, publish);
    const jobs = new AuditJobs(client, config.taskQueue, config.retentionIntervalMs);
    const scheduling = keepTrying('creating the retention schedule', () => jobs.ensureRetentionSchedule());
    const workers = new WorkerWatch(store.collections.workerBeats, config.taskQueue);
    const dependencies = new DependencyMonitor({
      store: async () => {
        await store.db.command({ ping: 1 });
      },
      temporal: async () => {
        await connection.withDeadline(Date.now() + 1_500, () => connection.workflowService.getSystemInfo({}));
      },
      worker: async () => {
        const lastAlive = await workers.lastAlive();
        if (lastAlive === undefined) throw new Error(`none has reported on task queue ${config.taskQueue}`);
        const silentMs = Date.now() - lastAlive;
        if (silentMs > workerSilentAfterMs) throw new Error(`none seen for ${Math.round(silentMs / 1000)} s on task queue ${config.taskQueue}`);
      },
    });
    await dependencies.start();
    storeDown = () => dependencies.current().some((outage) => outage.dependency === 'store');
    registerDependencyGauge(() => dependencies.current().map((outage) => outage.dependency));
    const destinationsApi = new DestinationsApi(destinations, tenants, workflows, serviceEvents, dependencies, {
      allowInsecureEndpoints: config.allowInsecureEndpoints,
      deleteFlushDeadlineMs: config.delivery.deleteFlushDeadlineMs,
      http,
      masking,
      checkpoints,
    });
    const server = await startApiServer(
      {
        keys,
        sessions: new SessionStore(store.collections, config.consoleSessionTtlMs),
        admission: new Admission(config.limits),
        leadership,
        joined: () => lease !== undefined,
        destinations: destinationsApi,
        events: new EventsApi(publisher),
        auditLog: new AuditLogApi(auditLog, retention, exports, jobs, serviceEvents, { exportTtlMs: config.exportTtlMs }),
        backfills: new BackfillsApi(destinations, auditLog, backfills, workflows, serviceEvents),
        checkpoints: new CheckpointsApi(destinations, checkpoints, signingKeys),
        exports,
        dependencies,
      },
      config.host,
      config.httpPort,
      config.grpcPort,
    );
    api = server;

    const leaderTasks: (() => void)[] = [];
    const lead = async () => {
      // Flushes a previous leader left are finished before this one acknowledges anything.
      const finished = await finishInterrupted(outbox, publisher);
      if (finished > 0) log.info('finished flushes an earlier API process left', { flushes: finished });
      indexer.lead(await tenants.chunkHeads());
      leaderTasks.push(
        indexer.start(),
        startServiceEventRelay(serviceEvents, publish, 1_000),
        startSweeper(outbox, publisher, dispatcher, {
          intervalMs: config.delivery.sweepIntervalMs,
          staleAfterMs: config.delivery.sweepStaleAfterMs,
        }),
        // Deletions no DELETE finished (Temporal unreachable then) finish by themselves, once
        // older than the longest a DELETE waits, so none races a DELETE still waiting.
        every(config.delivery.sweepIntervalMs, 'finishing deletions', async () => {
          const done = await destinationsApi.finishAbandonedDeletions(config.delivery.deleteFlushDeadlineMs + 20_000);
          if (done > 0) log.info('finished deletions no DELETE had finished', { destinations: done });
        }),
        // Previous credentials kept beside unproven new ones: forgotten once the new ones deliver, or after 24 hours.
        every(config.delivery.sweepIntervalMs, 'forgetting previous credentials', () => destinationsApi.forgetProvenFallbacks().then(() => undefined)),
        // Credentials re-sealed with the newest key, when `npm run admin -- rotate-key` asks.
        every(1_000, 'rotating the credential key', () => destinations.rotateWhenAsked()),
      );
    };
    try {
      lease = await IngestLease.join(store.collections.ingestLease, {
        ttlMs: config.ingestLeaseTtlMs,
        url: config.advertiseUrl ?? server.grpcUrl,
        onLead: lead,
        onLost: hooks.onFatal,
      });
    } catch (error) {
      await server.close();
      throw error;
    }
    stoppers.unshift(async () => {
      await server.close();
      scheduling.stop();
      for (const stop of leaderTasks) stop();
      dependencies.stop();
      await Promise.race([dispatcher.idle(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
      await connection.close();
      await lease!.release();
    });
  }

  return {
    httpUrl: api?.httpUrl,
    grpcUrl: api?.grpcUrl,
    store,
    keys,
    async stop() {
      for (const stop of stoppers) await stop();
      await store.close();
    },
  };
}
