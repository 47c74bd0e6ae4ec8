// Delivery workers' beats: each worker process keeps one document of its own moving (one writer
// per document), so the API can tell whether any worker is running and say so in a
// destination's status while none is. Whether a worker is alive is judged by whether its beat
// counter moves, timed by the reader's clock: a worker on a host whose clock is off is not
// mistaken for a dead one.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Collection } from 'mongodb';
import { errorMessage, log } from '../log.js';

export interface WorkerBeatDoc {
  _id: string;
  taskQueue: string;
  host: string;
  pid: number;
  startedAt: Date;
  /** Moved by every beat. */
  beat: number;
  beatAt: Date;
}

/** How often a worker beats. */
export const workerBeatMs = 2_000;

/** A worker whose beat has not moved for this long is taken for gone. */
export const workerSilentAfterMs = 8_000;

/** Beats of a worker that stopped without saying so are removed by the next worker to start after this long. */
const forgetAfterMs = 86_400_000;

/** Keeps this worker process's beat moving until stopped; the document goes when it stops. */
export function startWorkerBeat(collection: Collection<WorkerBeatDoc>, taskQueue: string): { stop(): Promise<void> } {
  const now = new Date();
  const doc: WorkerBeatDoc = { _id: `${hostname()}:${process.pid}:${randomUUID()}`, taskQueue, host: hostname(), pid: process.pid, startedAt: now, beat: 0, beatAt: now };
  const beat = async () => {
    doc.beat += 1;
    doc.beatAt = new Date();
    await collection.replaceOne({ _id: doc._id }, doc, { upsert: true }).catch((error) => {
      log.debug('could not write the worker beat; trying again', { error: errorMessage(error) });
    });
  };
  void beat();
  void collection.deleteMany({ beatAt: { $lt: new Date(Date.now() - forgetAfterMs) } }).catch(() => undefined);
  const timer = setInterval(() => void beat(), workerBeatMs);
  return {
    async stop() {
      clearInterval(timer);
      await collection.deleteOne({ _id: doc._id }).catch(() => undefined);
    },
  };
}

/** The API's view of the workers' beats: when one was last seen moving, by this process's clock. */
export class WorkerWatch {
  private readonly seen = new Map<string, { beat: number; movedAt: number }>();

  constructor(
    private readonly collection: Collection<WorkerBeatDoc>,
    private readonly taskQueue: string,
  ) {}

  /** Reads the beats (a handful of documents); answers when a worker was last seen alive, if ever. */
  async lastAlive(): Promise<number | undefined> {
    const now = Date.now();
    const docs = await this.collection.find({}).toArray();
    let newest: number | undefined;
    for (const doc of docs) {
      if (doc.taskQueue !== this.taskQueue) continue;
      const known = this.seen.get(doc._id);
      // First sight: alive if its own clock says it beat lately (all there is to go on yet).
      const movedAt = !known ? Math.min(now, doc.beatAt.getTime()) : known.beat !== doc.beat ? now : known.movedAt;
      this.seen.set(doc._id, { beat: doc.beat, movedAt });
      newest = Math.max(newest ?? -Infinity, movedAt);
    }
    for (const id of this.seen.keys()) if (!docs.some((doc) => doc._id === id)) this.seen.delete(id);
    return newest;
  }
}
