// A background task run every interval, one run at a time: a run still going when the next is
// due is not started twice, and a failure is logged and tried again at the next interval.
import { errorMessage, log } from './log.js';

/** Runs `task` every `intervalMs` until the returned function is called. */
export function every(intervalMs: number, what: string, task: () => Promise<void>): () => void {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      await task();
    } catch (error) {
      log.warn(`${what} failed; will try again`, { error: errorMessage(error) });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void run(), intervalMs);
  return () => clearInterval(timer);
}
