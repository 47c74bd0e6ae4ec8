// Runs the operator CLI (`npm run admin -- …`) against the test service's store and key file.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { projectRoot } from '../../src/stack/local.js';
import { stack } from './clients.js';

export async function admin(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...stack.serviceEnv },
  });
  return stdout.trim();
}
