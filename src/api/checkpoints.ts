// ListCheckpoints, and the public keys that verify checkpoints (/.well-known/auditstream/signing-keys).
// A destination's checkpoints are read newest first from the number its mirror last recorded,
// by point reads (src/store/checkpoints.ts): a page costs its own size, whatever the history.
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  type Checkpoint,
  CheckpointSchema,
  type ListCheckpointsRequest,
  type ListCheckpointsResponse,
  ListCheckpointsResponseSchema,
} from '../gen/auditstream/v1/destinations_pb.js';
import type { SigningKeys } from '../completeness/keys.js';
import type { SequenceRange } from '../completeness/stream.js';
import type { CheckpointDoc, CheckpointStore } from '../store/checkpoints.js';
import type { DestinationStore } from '../store/destinations.js';
import { invalid, parseDestinationId } from './validate.js';

const defaultPageSize = 50;
const maxPageSize = 500;

const ranges = (list: SequenceRange[]) => list.map(({ lo, hi }) => ({ lo: BigInt(lo), hi: BigInt(hi) }));

function toCheckpointMessage(doc: CheckpointDoc): Checkpoint {
  return create(CheckpointSchema, {
    number: BigInt(doc.n),
    firstSequence: BigInt(doc.first),
    lastSequence: BigInt(doc.last),
    count: BigInt(doc.count),
    eventsSha256: doc.events,
    dropped: ranges(doc.dropped),
    rejected: ranges(doc.rejected),
    previousSha256: doc.previous,
    time: timestampFromDate(doc.time),
    keyId: doc.keyId,
    note: doc.note,
  });
}

export class CheckpointsApi {
  constructor(
    private readonly destinations: DestinationStore,
    private readonly checkpoints: CheckpointStore,
    private readonly signingKeys: SigningKeys,
  ) {}

  async list(tenantId: string, request: ListCheckpointsRequest): Promise<ListCheckpointsResponse> {
    const id = parseDestinationId(request.destinationId);
    if (request.pageSize < 0 || request.pageSize > maxPageSize) throw invalid(`page_size must be between 1 and ${maxPageSize} (or 0 for ${defaultPageSize})`);
    if (request.pageToken !== '' && !/^[1-9]\d{0,15}$/.test(request.pageToken)) throw invalid('page_token must be a next_page_token of an earlier answer');
    const doc = await this.destinations.get(tenantId, id);
    if (!doc) throw new ConnectError(`destination ${id} not found`, Code.NotFound);
    const made = (await this.destinations.deliveryState(id))?.stream?.made ?? 0;
    const from = request.pageToken === '' ? made : Math.min(made, Number(request.pageToken));
    const size = request.pageSize || defaultPageSize;
    const found = await this.checkpoints.newestFirst(tenantId, id, from, size);
    const nextFrom = from - size;
    return create(ListCheckpointsResponseSchema, { checkpoints: found.map(toCheckpointMessage), nextPageToken: nextFrom >= 1 ? String(nextFrom) : '' });
  }

  /** The public keys, every version: what a verifier trusts. */
  publicKeys(): { keys: ReturnType<SigningKeys['publicKeys']>; format: string } {
    this.signingKeys.reload();
    return { keys: this.signingKeys.publicKeys(), format: 'C2SP signed-note verifier keys (Ed25519): name+keyid+base64(0x01 || public key)' };
  }
}
