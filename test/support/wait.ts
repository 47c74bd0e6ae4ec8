// Waiting in tests without a fixed sleep: poll until a condition holds, or fail with the last value seen.
import { setTimeout as sleep } from 'node:timers/promises';

export async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms; last value: ${JSON.stringify(last)}`);
    await sleep(100);
    last = await probe();
  }
  return last;
}
