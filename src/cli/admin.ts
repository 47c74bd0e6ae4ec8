// Operator commands, run next to the service with the same configuration (environment):
//   npm run admin -- keys create --tenant <id> [--name <text>] [--scopes publish,manage,read]
//   npm run admin -- keys list [--tenant <id>]
//   npm run admin -- keys revoke <prefix>
//   npm run admin -- rotate-key [--new]
//   npm run admin -- rotate-signing-key
// With the local stack (no MONGODB_URI), `npm start` must be running: the CLI finds its
// FerretDB from the data directory's stack.json (src/stack/lock.ts), whatever port it took.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { loadConfig } from '../config.js';
import { ApiKeyStore, scopes, type Scope } from '../store/api-keys.js';
import { addKeyVersion, loadCipher, type CredentialCipher } from '../store/crypto.js';
import { describeHolder } from '../ingest/lease.js';
import { DestinationStore } from '../store/destinations.js';
import { connectStore, type Collections, type KeyRotationDoc } from '../store/mongo.js';
import { keyFileOf, signingKeyFileOf } from '../service.js';
import { loadSigningKeys } from '../completeness/keys.js';
import { projectRoot } from '../stack/local.js';
import { readStackRecord } from '../stack/lock.js';

const usage = `usage:
  admin keys create --tenant <id> [--name <text>] [--scopes ${scopes.join(',')}]
  admin keys list [--tenant <id>]
  admin keys revoke <prefix>
  admin rotate-key [--new]   re-encrypt all credentials with the newest key (--new: add one to the local key file first)
  admin rotate-signing-key   add a checkpoint signing key to the local key file (it signs from the next checkpoint on)`;

/** The MongoDB address of the local stack running on this data directory. */
function localStoreUri(dataDir: string): string {
  const uri = readStackRecord(dataDir)?.mongodbUri;
  if (!uri) throw new Error(`no local stack is running on ${dataDir} (start it with \`npm start\`), and MONGODB_URI is not set`);
  return uri;
}

/**
 * Re-seals every destination's credentials with the newest key. The configurations have one
 * writer, the API process that leads the store: while one does, it is asked to, and this waits
 * for its answer; with none running (no lease, or one whose beat is older than the TTL), this
 * command does it itself.
 */
async function rotate(collections: Collections, leaseTtlMs: number, cipher: () => CredentialCipher): Promise<NonNullable<KeyRotationDoc['result']>> {
  const lease = await collections.ingestLease.findOne({ _id: 'ingest' });
  if (!lease || Date.now() - lease.beatAt.getTime() > leaseTtlMs) return new DestinationStore(collections, cipher()).reencryptAll();
  const request: KeyRotationDoc = { _id: randomUUID(), requestedAt: new Date() };
  await collections.keyRotations.insertOne(request);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const done = await collections.keyRotations.findOne({ _id: request._id });
    if (done?.result) {
      // Answered requests leave, so the leader's look for new ones reads a collection of those pending only.
      await collections.keyRotations.deleteOne({ _id: request._id });
      return done.result;
    }
    await sleep(250);
  }
  throw new Error(
    `the API process that leads this store (${describeHolder(lease)}) did not finish the rotation within 2 minutes; it carries it out as soon as it can — run this again to see the result`,
  );
}

async function main(argv: string[]): Promise<string> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { tenant: { type: 'string' }, name: { type: 'string' }, scopes: { type: 'string' }, new: { type: 'boolean' } },
  });
  const config = loadConfig();
  config.dataDir = resolve(projectRoot, config.dataDir);
  if (positionals[0] === 'rotate-signing-key') {
    if (config.signingKeys) throw new Error('with AUDITSTREAM_SIGNING_KEYS, add the new version there ("…,2:<base64 of 32 random bytes>") and restart the workers');
    const version = addKeyVersion(signingKeyFileOf(config));
    const key = loadSigningKeys({ keyFile: signingKeyFileOf(config), name: config.signingKeyName }).publicKeys()[0];
    return `signing key version ${version} (key id ${key.keyId}) signs checkpoints and manifests from the next one on; earlier versions still verify.\nverifier key: ${key.verifierKey}`;
  }
  const store = await connectStore(config.mongodbUri ?? localStoreUri(config.dataDir), config.mongodbDatabase);
  try {
    const keys = new ApiKeyStore(store.collections);
    const [command, sub, arg] = positionals;
    if (command === 'keys' && sub === 'create') {
      if (!values.tenant) throw new Error('--tenant is required');
      const requested = (values.scopes ?? scopes.join(',')).split(',').map((s) => s.trim());
      const unknown = requested.filter((s) => !(scopes as readonly string[]).includes(s));
      if (unknown.length > 0) throw new Error(`unknown scopes ${unknown.join(', ')}; known: ${scopes.join(', ')}`);
      const { key, doc } = await keys.issue(values.tenant, values.name ?? 'issued by admin', requested as Scope[]);
      return `${key}\n(tenant ${doc.tenantId}, scopes ${doc.scopes!.join(',')}; shown once, only its hash is stored)`;
    }
    if (command === 'keys' && sub === 'list') {
      const docs = await keys.list(values.tenant);
      return docs
        .map((d) => `${d.prefix}…  tenant=${d.tenantId}  scopes=${(d.scopes ?? scopes).join(',')}  created=${d.createdAt.toISOString()}${d.revokedAt ? `  REVOKED ${d.revokedAt.toISOString()}` : ''}  ${d.name}`)
        .join('\n');
    }
    if (command === 'keys' && sub === 'revoke') {
      if (!arg) throw new Error('give the key prefix shown by `keys list`');
      const count = await keys.revoke(arg.replace(/…$/, ''));
      if (count === 0) throw new Error(`no active key with prefix ${arg}`);
      return `revoked ${count} key(s); they stop working now`;
    }
    if (command === 'rotate-key') {
      if (values.new) {
        if (config.encryptionKeys) throw new Error('--new adds a key to the local key file; with AUDITSTREAM_ENCRYPTION_KEYS, add the new version there');
        addKeyVersion(keyFileOf(config));
      }
      const result = await rotate(store.collections, config.ingestLeaseTtlMs, () => loadCipher({ keys: config.encryptionKeys, keyFile: keyFileOf(config) }));
      return `key version ${result.version}: re-encrypted ${result.reencrypted} destinations, ${result.current} already current`;
    }
    throw new Error(usage);
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (output) => console.log(output),
  (error: Error) => {
    console.error(error.message);
    process.exit(2);
  },
);
