// A protobuf binary request that does not parse (random bytes, invalid UTF-8 in a string field)
// is the caller's to fix, but connect-es answers it INTERNAL ("parse binary: …", hard-coded in
// its serialization, before any interceptor runs), with no option to say otherwise. This turns
// exactly that answer into INVALID_ARGUMENT, keeping its message, in each protocol's own place
// for a status: the Connect JSON error body, the gRPC header (trailers-only) or trailer, and the
// gRPC-Web trailer frame at the end of the body.
import { Code } from '@connectrpc/connect';
import { pipe, type UniversalServerResponse, transformJoinEnvelopes, transformSplitEnvelope, type EnvelopedMessage } from '@connectrpc/connect/protocol';
import { codeToHttpStatus, codeToString } from '@connectrpc/connect/protocol-connect';
import { trailerFlag, trailerParse, trailerSerialize } from '@connectrpc/connect/protocol-grpc-web';

/** The answer's frames are our own: any size the envelope's length field can say. */
const anyFrame = 0xffff_ffff;

const isParseFailure = (message: string | null | undefined) => message?.startsWith('parse binary:') ?? false;

/** Rewrites a gRPC status held in headers (or trailers) when it is a parse failure. */
function fixGrpcStatus(headers: Headers | undefined): void {
  const message = headers?.get('grpc-message');
  if (headers?.get('grpc-status') === String(Code.Internal) && isParseFailure(message && decodeURIComponent(message))) {
    headers.set('grpc-status', String(Code.InvalidArgument));
  }
}

async function* fixGrpcWebTrailer(frames: AsyncIterable<EnvelopedMessage>): AsyncIterable<EnvelopedMessage> {
  for await (const frame of frames) {
    if ((frame.flags & trailerFlag) !== trailerFlag) {
      yield frame;
      continue;
    }
    const trailer = trailerParse(frame.data);
    const before = trailer.get('grpc-status');
    fixGrpcStatus(trailer);
    yield trailer.get('grpc-status') === before ? frame : { flags: frame.flags, data: trailerSerialize(trailer) };
  }
}

async function fixConnectError(response: UniversalServerResponse, body: AsyncIterable<Uint8Array>): Promise<UniversalServerResponse> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  const error = JSON.parse(bytes.toString('utf8')) as { code?: string; message?: string };
  if (error.code !== codeToString(Code.Internal) || !isParseFailure(error.message)) {
    return { ...response, body: (async function* () { yield bytes; })() };
  }
  const answer = Buffer.from(JSON.stringify({ ...error, code: codeToString(Code.InvalidArgument) }));
  const header = new Headers(response.header);
  header.set('content-length', String(answer.length));
  return { ...response, header, status: codeToHttpStatus(Code.InvalidArgument), body: (async function* () { yield answer; })() };
}

export async function parseFailureAsInvalid(response: UniversalServerResponse): Promise<UniversalServerResponse> {
  const { body } = response;
  const contentType = response.header?.get('content-type') ?? '';
  fixGrpcStatus(response.header);
  if (!body) return response;
  if (response.status === 500 && contentType.startsWith('application/json')) return fixConnectError(response, body);
  if (contentType.startsWith('application/grpc-web')) {
    return { ...response, body: pipe(body, transformSplitEnvelope(anyFrame), fixGrpcWebTrailer, transformJoinEnvelopes()) };
  }
  // gRPC sets its trailer while the body is read: look once the body is through.
  return {
    ...response,
    body: (async function* () {
      yield* body;
      fixGrpcStatus(response.trailer);
    })(),
  };
}
