// Signed notes in the C2SP format (c2sp.org/signed-note, Go's golang.org/x/mod/sumdb/note):
// UTF-8 text ending in a newline, a blank line, then one line per signature —
// "— <key name> <base64(4-byte key id ‖ Ed25519 signature)>". A checkpoint (./checkpoint.ts)
// and an export's manifest are such notes, so any standard verifier can check them.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** The signature type byte of Ed25519 in the key id and in a verifier key. */
const ed25519Type = 0x01;
const signaturePrefix = '— ';
/** An Ed25519 public key as SubjectPublicKeyInfo DER, less its 32 key bytes. */
const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');
/** An Ed25519 private key (a 32-byte seed) as PKCS #8 DER, less the seed. */
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface NoteSigner {
  name: string;
  keyId: number;
  privateKey: KeyObject;
}

export interface NoteVerifier {
  name: string;
  keyId: number;
  publicKey: KeyObject;
}

/** A key name: non-empty, with neither spaces nor '+' (they separate a verifier key's parts). */
export function checkKeyName(name: string): void {
  if (!name || /[\s+]/u.test(name)) throw new Error(`a key name must be non-empty, without spaces or '+' (got ${JSON.stringify(name)})`);
}

/** The key id C2SP recommends: the first 4 bytes (big-endian) of SHA-256(name ‖ "\n" ‖ type ‖ public key). */
export function keyIdOf(name: string, publicKey: Buffer): number {
  return createHash('sha256').update(name).update(Buffer.from([0x0a, ed25519Type])).update(publicKey).digest().readUInt32BE(0);
}

export function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(spkiPrefix.length);
}

/** A signer from a key name and a 32-byte Ed25519 seed. */
export function signerOf(name: string, seed: Buffer): NoteSigner {
  checkKeyName(name);
  if (seed.length !== 32) throw new Error(`an Ed25519 signing key is 32 bytes, got ${seed.length}`);
  const privateKey = createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seed]), format: 'der', type: 'pkcs8' });
  return { name, keyId: keyIdOf(name, rawPublicKey(createPublicKey(privateKey))), privateKey };
}

/** The verifier key text of a signer: "<name>+<key id, 8 hex>+<base64(type ‖ public key)>". */
export function verifierKeyOf(signer: NoteSigner): string {
  const publicKey = rawPublicKey(createPublicKey(signer.privateKey));
  return `${signer.name}+${signer.keyId.toString(16).padStart(8, '0')}+${Buffer.concat([Buffer.from([ed25519Type]), publicKey]).toString('base64')}`;
}

/** Reads a verifier key text; refuses one whose id does not match its name and key. */
export function parseVerifierKey(text: string): NoteVerifier {
  // The key's base64 may hold '+' too: the name and the id are the first two parts.
  const parts = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(text.trim());
  if (!parts) throw new Error(`not a verifier key (name+keyid+base64key): ${JSON.stringify(text.slice(0, 80))}`);
  const [, name, id, encoded] = parts;
  const key = Buffer.from(encoded, 'base64');
  if (key.length !== 33 || key[0] !== ed25519Type) throw new Error(`verifier key ${name}: only Ed25519 keys (type 1, 32 bytes) are known`);
  const keyId = Number.parseInt(id, 16);
  if (keyIdOf(name, key.subarray(1)) !== keyId) throw new Error(`verifier key ${name}: its id ${id} does not match its name and key`);
  return { name, keyId, publicKey: createPublicKey({ key: Buffer.concat([spkiPrefix, key.subarray(1)]), format: 'der', type: 'spki' }) };
}

/** Verifier keys from a keys document: the JSON of the service's well-known signing-keys path, or one key a line (`#` comments). */
export function parseVerifierKeys(text: string): NoteVerifier[] {
  const trimmed = text.trim();
  const lines = trimmed.startsWith('{') ? (JSON.parse(trimmed) as { keys: { verifierKey: string }[] }).keys.map((key) => key.verifierKey) : trimmed.split('\n');
  return lines.map((line) => line.trim()).filter((line) => line && !line.startsWith('#')).map(parseVerifierKey);
}

/** Signs `text` (which must end in a newline and hold no blank line) as a signed note. */
export function signNote(text: string, signer: NoteSigner): string {
  if (!text.endsWith('\n') || text.includes('\n\n')) throw new Error('a note text ends in a newline and has no blank line');
  const signature = sign(null, Buffer.from(text, 'utf8'), signer.privateKey);
  const id = Buffer.alloc(4);
  id.writeUInt32BE(signer.keyId);
  return `${text}\n${signaturePrefix}${signer.name} ${Buffer.concat([id, signature]).toString('base64')}\n`;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Buffer;
}

/** A note split into its text and signature lines, without checking any signature. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new Error('not a signed note: no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const signatures = note
    .slice(split + 2, -1)
    .split('\n')
    .map((line) => {
      const match = /^— (\S+) ([A-Za-z0-9+/=]+)$/u.exec(line);
      const bytes = match ? Buffer.from(match[2], 'base64') : undefined;
      if (!match || !bytes || bytes.length < 5) throw new Error(`not a signed note: malformed signature line ${JSON.stringify(line.slice(0, 80))}`);
      return { name: match[1], keyId: bytes.readUInt32BE(0), signature: bytes.subarray(4) };
    });
  return { text, signatures };
}

/**
 * The text of `note` when a known key signed it, else the reason it is not trusted: no
 * signature by a known key, or one that does not verify (which rejects the note outright, as
 * C2SP and Go's note.Open do).
 */
export function openNote(note: string, verifiers: NoteVerifier[]): { text: string; signedBy: NoteVerifier } | { error: string } {
  let parsed: ReturnType<typeof parseNote>;
  try {
    parsed = parseNote(note);
  } catch (error) {
    return { error: (error as Error).message };
  }
  for (const signature of parsed.signatures) {
    const verifier = verifiers.find((candidate) => candidate.name === signature.name && candidate.keyId === signature.keyId);
    if (!verifier) continue;
    if (!verify(null, Buffer.from(parsed.text, 'utf8'), verifier.publicKey, signature.signature)) {
      return { error: `the signature of ${signature.name} (${signature.keyId.toString(16).padStart(8, '0')}) does not verify: the note was altered or forged` };
    }
    return { text: parsed.text, signedBy: verifier };
  }
  const names = parsed.signatures.map((signature) => `${signature.name}+${signature.keyId.toString(16).padStart(8, '0')}`).join(', ');
  return { error: `signed by no known key (signed by ${names || 'none'})` };
}
