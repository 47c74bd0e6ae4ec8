// When a server the suite needs cannot start, the run ends at once with one line saying which
// and what to do — not "No test files found" followed by a wait on the servers that did start.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/stack/local.js';

describe('starting the suite', () => {
  it('fails at once with one clear line when one of its servers cannot start, without waiting on those that did', async () => {
    // The suite as CI runs it, in a process of its own, with Elasticsearch pointed at a Java that is not there.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')));
    const started = Date.now();
    const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--project', 'integration', 'test/integration/auth.test.ts'], {
      cwd: projectRoot,
      env: { ...env, CI: 'true', NO_COLOR: '1', ES_JAVA_HOME: '/nonexistent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(output).toContain(
      'The suite cannot start Elasticsearch: Elasticsearch exited with 1 while starting: could not find java in ES_JAVA_HOME at /nonexistent/bin/java. ' +
        'Install what is missing with `node scripts/ensure.mjs --test` (npm test runs it), then run it again.',
    );
    expect(output).not.toContain('No test files found');
    expect(output).not.toContain('close timed out');
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);
});
