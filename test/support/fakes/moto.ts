// The CloudWatch Logs fake: moto in server mode (PyPI moto[server], installed into .tools by
// the project's script), over HTTPS with the test certificate. With `auth`, moto checks
// credentials as AWS does (its IAM emulation): `iamUser` then makes a user allowed exactly
// what the product page asks for, and any other key is refused.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tools } from '../../../src/stack/local.js';
import { freePort, startProcess, waitForPort, type ManagedProcess } from '../../../src/stack/processes.js';
import type { TestPki } from '../tls.js';

export interface Moto {
  url: string;
  process: ManagedProcess;
}

/** moto answers this many requests without checking credentials, then checks every one: the three `iamUser` makes. */
const unauthenticatedSetupCalls = 3;

export async function startMoto(pki: TestPki, logDir: string, options: { auth?: boolean } = {}): Promise<Moto> {
  const port = await freePort();
  const logFile = join(logDir, `moto-${port}.log`);
  const env = options.auth ? { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: String(unauthenticatedSetupCalls) } : undefined;
  const args = ['-H', '127.0.0.1', '-p', String(port), '-s', '-c', pki.certFile, '-k', pki.keyFile];
  const moto = startProcess('moto', tools.motoServer, args, logFile, env);
  await waitForPort(port, moto, 60_000, logFile);
  return { url: `https://127.0.0.1:${port}`, process: moto };
}

/**
 * An IAM user with `logs:CreateLogGroup`, `logs:CreateLogStream` and `logs:PutLogEvents` (and
 * `logs:GetLogEvents`, for tests to read back), and its access key: made with boto3 (moto's own dependency, in the same virtualenv) in exactly
 * the calls moto lets through before it starts checking.
 */
export function iamUser(moto: Moto, pki: TestPki): { accessKeyId: string; secretAccessKey: string } {
  const script = `
import boto3, json, sys
iam = boto3.client('iam', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='setup', aws_secret_access_key='setup', verify=sys.argv[2])
iam.create_user(UserName='auditstream')
policy = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:GetLogEvents'], 'Resource': '*'}]}
iam.put_user_policy(UserName='auditstream', PolicyName='siem-streaming', PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName='auditstream')['AccessKey']
print(json.dumps({'accessKeyId': key['AccessKeyId'], 'secretAccessKey': key['SecretAccessKey']}))
`;
  return JSON.parse(execFileSync(tools.python, ['-c', script, moto.url, pki.caFile], { encoding: 'utf8' }));
}
