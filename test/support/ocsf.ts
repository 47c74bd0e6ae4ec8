// Checks OCSF events against the OCSF schema with a maintained validator: the class's JSON
// Schema from ocsf-json-schema (PyPI, pinned in tools/requirements.txt), checked by jsonschema.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot, tools } from '../../src/stack/local.js';

/** Each event's schema violations, by its metadata.uid (none: valid). */
export function ocsfViolations(events: object[]): Record<string, string[]> {
  const output = execFileSync(tools.python, [join(projectRoot, 'test', 'support', 'ocsf_validate.py')], {
    input: events.map((event) => JSON.stringify(event)).join('\n'),
    encoding: 'utf8',
  });
  const violations: Record<string, string[]> = {};
  for (const line of output.split('\n').filter(Boolean)) {
    const { uid, errors } = JSON.parse(line) as { uid: string; errors: string[] };
    violations[uid] = errors;
  }
  return violations;
}
