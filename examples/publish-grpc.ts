// Publishes one audit event over gRPC with @grpc/grpc-js, loading the .proto files at run
// time as any gRPC client would (no generated code needed).
//   AUDITSTREAM_API_KEY=ask_… node --import tsx examples/publish-grpc.ts [host:port]
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const address = process.argv[2] ?? '127.0.0.1:8081';
const key = process.env.AUDITSTREAM_API_KEY;
if (!key) throw new Error('set AUDITSTREAM_API_KEY (npm start prints one)');

const definition = protoLoader.loadSync('auditstream/v1/events.proto', { includeDirs: ['proto'], keepCase: true });
const { auditstream } = grpc.loadPackageDefinition(definition) as any;
const client = new auditstream.v1.EventService(address, grpc.credentials.createInsecure());

const metadata = new grpc.Metadata();
metadata.set('authorization', `Bearer ${key}`);
const event = {
  action: 'user.login',
  outcome: 'success',
  actor: { type: 'user', id: 'u-42', ip: '203.0.113.9' },
  metadata: { fields: { mfa: { boolValue: true } } },
};
client.PublishEvent({ event }, metadata, (error: grpc.ServiceError | null, response: { id: string }) => {
  if (error) console.error(`${grpc.status[error.code]}: ${decodeURIComponent(error.details)}`);
  else console.log(`accepted event ${response.id}`);
  client.close();
});
